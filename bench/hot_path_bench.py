"""Cost of ONE update on the hot path: Redis round trips and commands, decryptions, Bot API.

    .venv/bin/python bench/hot_path_bench.py [--selfies 10]

redis-server (appendonly yes, everysec) on a free port; emulator, real bot and a real intake
worker (tiny face pack) in process. Via the control API, A reaches the selfie step with N
accepted selfies, B and C an invoice; C pays uncounted (so Lua scripts are cached). With the
worker stopped, one update is handled by `process_update` with counters on (ContextVar-scoped):
A's next selfie, then B's successful_payment; then that selfie's check_photo job body, with a
fresh worker context (cold headshot cache) and for one more selfie (warm). Redis commands are
INFO commandstats deltas after CONFIG RESETSTAT (a Lua script's inner calls included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from telegram import Update
from telegram.request import BaseRequest

TOKEN = "123456:HOTPATH"
USER_A, USER_B, USER_C = 31_001, 31_002, 31_003
ROOT = Path(__file__).resolve().parent.parent
Raw = dict[str, Any]


# "redis <call site>", "api <method>", "open", "seal", "unwrap" -> count
COUNTING: ContextVar[Counter[str] | None] = ContextVar("counting", default=None)


def _call_site() -> str:
    """The innermost project frame (outside bench/ and .venv) on the stack: who called."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(ROOT) and not {".venv", "bench"} & set(path.parts):
            return f"{path.relative_to(ROOT)}:{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "(library)"


def instrument(cls: type, name: str, label: Callable[[dict[str, Any]], str]) -> None:
    """Count cls.name's calls made while COUNTING is set, under label(arguments).

    Synchronous: a coroutine function's call is counted in the caller's frame and context.
    """
    original = getattr(cls, name)
    signature = inspect.signature(original)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if (tally := COUNTING.get()) is not None:
            tally[label(signature.bind(*args, **kwargs).arguments)] += 1
        return original(*args, **kwargs)

    setattr(cls, name, functools.wraps(original)(wrapper))


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir]
    args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"PING\r\n")
            if conn.recv(16).startswith(b"+PONG"):
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start")


class Feeder:
    """Long-polls the emulator into the Application; holds back the one update to measure."""

    def __init__(self, api_url: str, application: Any) -> None:
        self.api_url, self.application = api_url, application
        self.hold: Callable[[Raw], bool] | None = None
        self.held: asyncio.Future[Raw] = asyncio.get_running_loop().create_future()

    def capture(self, hold: Callable[[Raw], bool]) -> asyncio.Future[Raw]:
        self.hold, self.held = hold, asyncio.get_running_loop().create_future()
        return self.held

    async def run(self) -> None:
        offset = 0
        async with aiohttp.ClientSession() as session:
            while True:
                body = {"offset": offset, "timeout": 1}
                async with session.post(f"{self.api_url}/getUpdates", json=body) as response:
                    updates = (await response.json())["result"]
                for raw in updates:
                    offset = raw["update_id"] + 1
                    if self.hold is not None and self.hold(raw):
                        self.hold = None
                        self.held.set_result(raw)
                    else:
                        update = Update.de_json(raw, self.application.bot)
                        await self.application.update_queue.put(update)

    async def idle(self) -> None:
        app = self.application
        while app.update_queue.qsize() or app.update_processor.current_concurrent_updates:
            await asyncio.sleep(0.01)


def button(message: Raw, prefix: str) -> str:
    """The callback_data of the message's button starting with prefix, or ''."""
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for item in row:
            if str(item.get("callback_data", "")).startswith(prefix):
                return str(item["callback_data"])
    return ""


def _joined(tally: Counter[str], prefix: str) -> str:
    found = [(k.removeprefix(prefix), n) for k, n in tally.items() if k.startswith(prefix)]
    return ", ".join(f"{name} {count}" for name, count in found) or "none"


async def measure(label: str, admin: Redis, client: Any, run: Awaitable[Any]) -> list[str]:
    """Run one unit of work with the counters on; return its report lines."""
    calls_before = len(await client.calls())
    await admin.config_resetstat()
    tally: Counter[str] = Counter()
    token = COUNTING.set(tally)
    started = time.perf_counter()
    try:
        await run
    finally:
        COUNTING.reset(token)
    elapsed_ms = (time.perf_counter() - started) * 1000
    stats = await admin.info("commandstats")
    skip = ("cmdstat_config", "cmdstat_info")  # our own RESETSTAT and INFO
    commands = Counter({k[8:]: int(v["calls"]) for k, v in stats.items() if not k.startswith(skip)})
    seen = [c["method"] for c in (await client.calls())[calls_before:]]
    seen = [method for method in seen if method != "getUpdates"]  # the feeder's own polls
    total = lambda prefix: sum(n for k, n in tally.items() if k.startswith(prefix))  # noqa: E731
    return [
        f"{label}: {total('redis ')} Redis round trips, {commands.total()} Redis commands,"
        f" {tally['open']} opens, {tally['seal']} seals, {tally['unwrap']} data-key unwraps, "
        f"{total('api ')} Bot API requests ({len(seen)} method calls logged by the "
        f"emulator), {elapsed_ms:.1f} ms",
        f"  round trips by call site: {_joined(tally, 'redis ')}",
        f"  commands: {_joined(Counter(dict(sorted(commands.items()))), '')}",
        f"  Bot API: {_joined(tally, 'api ')}",
    ]


async def main(selfies: int, workdir: str, redis_url: str) -> list[str]:
    # --- project imports: the only place that names our modules; update when they move ------
    from bot.app import build_application, start_application
    from bot.texts import text
    from emulator.app import EmulatorConfig, create_app
    from emulator.client import EmulatorClient, latest_text
    from pipeline.testing.synthetic_photos import synthetic_face_photo
    from pipeline.testing.tiny_face_pack import build_tiny_face_pack
    from studio.crypto import UserKey
    from studio.domain import Studio
    from studio.queue import CHECK_PHOTO
    from studio.settings import Settings
    from worker import build_worker

    # -----------------------------------------------------------------------------------------
    instrument(AbstractConnection, "send_packed_command", lambda _: f"redis {_call_site()}")
    instrument(UserKey, "open", lambda _: "open")
    instrument(UserKey, "seal", lambda _: "seal")
    instrument(UserKey, "__init__", lambda _: "unwrap")  # made from a freshly unwrapped key
    instrument(BaseRequest, "post", lambda a: f"api {a['url'].rsplit('/', 1)[-1]}")
    instrument(BaseRequest, "retrieve", lambda _: "api (file download)")

    config = EmulatorConfig(token=TOKEN, chat_rate=500.0, chat_burst=500.0, global_rate=5e3)
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    build_tiny_face_pack(Path(workdir) / "faces", "tiny_pack")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url, telegram_bot_token=SecretStr(TOKEN), bot_api_base_url=f"{url}/bot",
        bot_api_base_file_url=f"{url}/file/bot", face_dir=Path(workdir) / "faces",
        face_pack="tiny_pack", min_selfies=selfies, max_selfies=max(40, selfies + 2),
        tg_global_per_second=5e3, tg_chat_per_second=500.0, tg_chat_burst=500,
        health_check_interval_s=1,
        weights_verify=False,  # the tiny face pack stands in for the manifest's weights
    )  # fmt: skip
    session = aiohttp.ClientSession()
    client, admin = EmulatorClient(url, session), Redis.from_url(redis_url)
    studio = await Studio.open(settings)
    application = build_application(settings, studio)
    await start_application(application)
    feeder = Feeder(f"{url}/bot{TOKEN}", application)
    feeding = asyncio.create_task(feeder.run())
    worker = build_worker("intake", settings, burst=False, poll_delay=0.02, handle_signals=False)
    working = asyncio.create_task(worker.async_run())

    async def press(user: int, prefix: str) -> None:
        found = await client.wait_for(user, lambda m: bool(button(m, prefix)), 60.0)
        await client.press(user, found["message_id"], button(found, prefix))

    async def reach(user: int, invoice: bool) -> Raw:
        """Consent, headshot, N selfies all checked; then Done and a pack up to the invoice."""
        await client.send_text(user, "/start")
        await press(user, "consent:yes")
        await client.wait_for(user, lambda m: text("en", "ask_headshot") in latest_text(m))
        await client.send_photo(user, synthetic_face_photo(1, 0))
        title = text("en", "status_title")
        await client.wait_for(user, lambda m: latest_text(m).startswith(title), 30.0)
        for variant in range(1, selfies + 1):
            await client.send_photo(user, synthetic_face_photo(1, variant))
        status = await client.wait_for(user, lambda m: bool(button(m, "done:")), 60.0)
        if not invoice:
            return status
        await client.press(user, status["message_id"], button(status, "done:"))
        await press(user, "pack:")
        return await client.wait_for(user, lambda m: m["kind"] == "invoice", 60.0)

    def photo_of(raw: Raw) -> bool:
        return bool(raw.get("message", {}).get("photo")) and raw["message"]["chat"]["id"] == USER_A

    def is_payment(raw: Raw) -> bool:
        return "successful_payment" in raw.get("message", {})

    async def handle(raw: Raw) -> None:
        await application.process_update(Update.de_json(raw, application.bot))

    _, invoice, warmup = await asyncio.gather(
        reach(USER_A, False), reach(USER_B, True), reach(USER_C, True)
    )
    assert (await client.pay(USER_C, warmup["message_id"])).get("ok")
    await client.wait_for(USER_C, lambda m: m["message_id"] > warmup["message_id"], 15.0)
    await feeder.idle()
    await worker.close()
    working.cancel()
    await asyncio.gather(working, return_exceptions=True)

    report: list[str] = []
    held = feeder.capture(photo_of)
    await client.send_photo(USER_A, synthetic_face_photo(1, selfies + 1))
    raw = await held
    await feeder.idle()
    report += await measure(f"selfie photo ({selfies} selfies stored)", admin, client, handle(raw))
    held = feeder.capture(is_payment)
    assert (await client.pay(USER_B, invoice["message_id"])).get("ok")
    raw = await held
    await feeder.idle()
    report += await measure("successful_payment", admin, client, handle(raw))

    checker = build_worker("intake", settings, burst=True, handle_signals=False)
    checker.ctx["redis"] = studio.redis
    await checker.on_startup(checker.ctx)  # type: ignore[misc]
    done: set[str | None] = set()
    for cache in ("cold", "warm"):
        if cache == "warm":  # one more selfie, handled uncounted, for a second pending check
            held = feeder.capture(photo_of)
            await client.send_photo(USER_A, synthetic_face_photo(1, selfies + 2))
            await handle(await held)
        queued = await studio.redis.queued_jobs(queue_name=checker.queue_name)
        job = next(j for j in queued if j.function == CHECK_PHOTO and j.job_id not in done)
        done.add(job.job_id)
        ctx = {**checker.ctx, "job_id": job.job_id, "job_try": 1, "score": job.score}
        ctx["enqueue_time"] = job.enqueue_time
        body = checker.functions[job.function].coroutine(ctx, *job.args, **job.kwargs)
        report += await measure(f"check_photo job body ({cache} cache)", admin, client, body)
    await checker.on_shutdown(checker.ctx)  # type: ignore[misc]

    feeding.cancel()
    await asyncio.gather(feeding, return_exceptions=True)
    await application.stop()
    await application.shutdown()
    for closing in (studio.close(), admin.aclose(), session.close(), runner.cleanup()):
        await closing
    return report


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selfies", type=int, default=10, help="selfies stored before the one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)  # insightface on new skimage
    with tempfile.TemporaryDirectory() as workdir:
        proc, redis_url = start_redis(workdir)
        try:
            report = asyncio.run(main(args.selfies, workdir, redis_url))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("hot path, one update each; redis-server appendonly yes, appendfsync everysec")
    print("\n".join(report))


if __name__ == "__main__":
    cli()
