"""Bot throughput: text updates per second through PTB, by processor, transport and event loop.

    .venv/bin/python bench/bot_bench.py [--users 400] [--seconds 4] [--rounds 2] [--delay 0.03]

Starts a redis-server and the Bot API emulator (`python -m emulator`) as their own processes
on the last CPU, pins this process (the bot) to CPU 0, and makes every Bot API call wait
`--delay` seconds (an emulator fault with status null). N simulated users each keep one text
update in flight: the next is queued as soon as the bot has answered the last, the way a
webhook hands updates to the Application. Each update is parsed with `Update.de_json`,
checked against the Redis dedupe key, answered after one more Redis read, and the answer is a
real sendMessage. Configurations:

  a  PTB sequential (the default), httpx transport, asyncio
  b  concurrent_updates(256), httpx transport, asyncio
  c  PerUserUpdateProcessor(256), our aiohttp transport, asyncio
  d  PerUserUpdateProcessor(256), our aiohttp transport, uvloop  (our stack)
  e  the real bot: build_application's handlers and make_bot (Redis rate limiter, which books
     every send; its rates are set out of reach so that the bot, not Telegram, is measured),
     fed through the update pipeline (taken, persisted, completed: bot/update_pipeline.py),
     uvloop. Its users' /status is the costly one: each has a paid order among `--queued`
     queued orders (10,000) with 4 live render workers, so it runs place-and-wait.

redis-server runs production persistence (AOF every second). Each configuration runs
`--rounds` times (3) and the median counts. Webhook receipt over HTTP is bench/load.py's.
Ratios within one run matter more than absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from pydantic import SecretStr
from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    ApplicationHandlerStop,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.app import build_application, drop_duplicate_update, start_application
from bot.context import STUDIO_KEY, StudioApplication, StudioContext
from bot.per_user_updates import PerUserUpdateProcessor
from bot.transport import AiohttpRequest
from bot.update_pipeline import UpdatePipeline
from studio import keys
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.queue import enqueue_render
from studio.render_workers import register_render_worker
from studio.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH"
FIRST_USER = 20_000
CONCURRENCY = 256
CONFIGS: dict[str, str] = {
    "a": "PTB sequential, httpx, asyncio",
    "b": "concurrent_updates(256), httpx, asyncio",
    "c": "per-user ordered(256), aiohttp, asyncio",
    "d": "per-user ordered(256), aiohttp, uvloop",
    "e": "real bot, paid /status, pipeline, uvloop",
}
UVLOOP_CONFIGS = frozenset({"d", "e"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Servers:
    redis: subprocess.Popen[bytes]
    emulator: subprocess.Popen[bytes]
    redis_url: str
    api_url: str


def start_servers(cpu: int | None, workdir: str) -> Servers:
    """redis-server and the emulator, each in its own process, pinned to `cpu`."""
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise SystemExit("redis-server is not installed")

    def pin() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    redis_port, api_port = _free_port(), _free_port()
    redis = subprocess.Popen(
        [
            redis_bin,
            "--port",
            str(redis_port),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pin,
    )
    # No flood control: this measures the bot, not Telegram's limits.
    unlimited = ["--chat-rate", "1e9", "--chat-burst", "1e9", "--global-rate", "1e9"]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(api_port), "--token", TOKEN, *unlimited],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pin,
    )
    return Servers(
        redis, emulator, f"redis://127.0.0.1:{redis_port}/0", f"http://127.0.0.1:{api_port}"
    )


async def prepare_emulator(api_url: str, users: int, delay: float) -> dict[str, Any]:
    """Open a chat per user, keep one real update as the template, then slow every call."""
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 15
        while True:
            try:
                async with session.get(f"{api_url}/bot{TOKEN}/getMe") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the emulator did not start")
            await asyncio.sleep(0.1)
        for i in range(users):
            async with session.post(
                f"{api_url}/_control/users/{FIRST_USER + i}/text", json={"text": "/status"}
            ) as response:
                response.raise_for_status()
        async with session.post(f"{api_url}/bot{TOKEN}/getUpdates", json={"limit": 1}) as response:
            template: dict[str, Any] = (await response.json())["result"][0]
        async with session.post(
            f"{api_url}/bot{TOKEN}/deleteWebhook", json={"drop_pending_updates": True}
        ) as response:
            response.raise_for_status()
        fault = {"method": "*", "count": 10**9, "status": None, "delay": delay}
        async with session.post(f"{api_url}/_control/faults", json=fault) as response:
            response.raise_for_status()
    return template


class ClosedLoop:
    """N users, one update each in flight; counts answers inside the measuring window."""

    def __init__(self, template: dict[str, Any], users: int, first_update_id: int) -> None:
        self.template = template
        self.users = [FIRST_USER + i for i in range(users)]
        self.next_update_id = first_update_id
        self.message_ids = dict.fromkeys(self.users, 1000)
        self.application: StudioApplication | None = None
        self.window_start = self.window_end = 0.0
        self.counted = 0
        self.draining = False
        self.pipeline: UpdatePipeline | None = None
        self.offers: set[asyncio.Future[Any]] = set()

    def make_update(self, user: int) -> Update:
        assert self.application is not None
        raw = copy.deepcopy(self.template)
        self.next_update_id += 1
        self.message_ids[user] += 1
        raw["update_id"] = self.next_update_id
        message = raw["message"]
        message["message_id"] = self.message_ids[user]
        message["from"]["id"] = message["chat"]["id"] = user
        return Update.de_json(raw, self.application.bot)

    def start(
        self,
        application: StudioApplication,
        warmup: float,
        seconds: float,
        pipeline: UpdatePipeline | None = None,
    ) -> None:
        self.application = application
        self.pipeline = pipeline
        self.window_start = time.perf_counter() + warmup
        self.window_end = self.window_start + seconds
        for user in self.users:
            self.feed(self.make_update(user))

    def feed(self, update: Update) -> None:
        """Into the pipeline (the real bot's way in), else into PTB's own update queue."""
        assert self.application is not None
        if self.pipeline is None:
            self.application.update_queue.put_nowait(update)
            return
        task = asyncio.ensure_future(self.pipeline.offer(update))
        self.offers.add(task)
        task.add_done_callback(self.offers.discard)

    async def skip_when_draining(self, update: Update, context: StudioContext) -> None:
        """After the window, queued updates are dropped so the drain takes no time."""
        if self.draining:
            raise ApplicationHandlerStop

    async def answered(self, update: Update, context: StudioContext) -> None:
        """Runs after the answer was sent: count it, and the user sends the next update."""
        now = time.perf_counter()
        if self.window_start <= now < self.window_end:
            self.counted += 1
        if now >= self.window_end:
            self.draining = True
            return
        assert self.application is not None and update.effective_user is not None
        self.feed(self.make_update(update.effective_user.id))


async def answer_status(update: Update, context: StudioContext) -> None:
    """A /status-like answer: one Redis read (the dedupe SET was the first round trip)."""
    assert update.effective_user is not None and update.effective_message is not None
    await context.studio.redis.get(keys.session(update.effective_user.id))
    await update.effective_message.reply_text("You have no order yet.")


def build_bench_application(config: str, settings: Settings, studio: Studio) -> StudioApplication:
    builder = ApplicationBuilder().context_types(ContextTypes(context=StudioContext)).updater(None)
    if config in ("a", "b"):
        builder = builder.token(TOKEN).base_url(settings.bot_api_base_url)
        builder = builder.base_file_url(settings.bot_api_base_file_url)
        builder = builder.concurrent_updates(config == "b" and CONCURRENCY)
    else:
        bot: ExtBot[None] = ExtBot(
            token=TOKEN,
            base_url=settings.bot_api_base_url,
            base_file_url=settings.bot_api_base_file_url,
            request=AiohttpRequest(),
        )
        builder = builder.bot(bot).concurrent_updates(PerUserUpdateProcessor(CONCURRENCY))
    application: StudioApplication = builder.build()
    application.bot_data[STUDIO_KEY] = studio
    application.add_handler(TypeHandler(Update, drop_duplicate_update), group=-1)
    application.add_handler(MessageHandler(filters.TEXT, answer_status))
    return application


@dataclass
class Result:
    config: str
    updates_per_s: float
    bot_cpu: float
    emulator_cpu: float
    redis_cpu: float


async def run_config(
    config: str,
    settings: Settings,
    servers: Servers,
    template: dict[str, Any],
    args: argparse.Namespace,
    first_update_id: int,
) -> Result:
    studio = await Studio.open(settings)
    await studio.redis.flushall()
    pipeline = None
    if config == "e":
        await seed_queued_orders(studio, args.users, args.queued)
        application = build_application(settings, studio)
        pipeline = UpdatePipeline(application, studio)
    else:
        application = build_bench_application(config, settings, studio)
    load = ClosedLoop(template, args.users, first_update_id)
    application.add_handler(TypeHandler(Update, load.skip_when_draining), group=-2)
    application.add_handler(TypeHandler(Update, load.answered), group=1)
    if config == "e":
        await start_application(application)
        assert pipeline is not None
        await pipeline.start()
    else:
        await application.initialize()
        await application.start()
    load.start(application, args.warmup, args.seconds, pipeline)
    await asyncio.sleep(args.warmup)
    cpu = (time.process_time(), _cpu_seconds(servers.emulator.pid), _cpu_seconds(servers.redis.pid))
    await asyncio.sleep(args.seconds)
    used = (
        time.process_time() - cpu[0],
        _cpu_seconds(servers.emulator.pid) - cpu[1],
        _cpu_seconds(servers.redis.pid) - cpu[2],
    )
    load.draining = True
    if pipeline is not None:
        await pipeline.stop(grace_s=2.0)
    await application.stop()
    await application.shutdown()
    await studio.close()
    return Result(config, load.counted / args.seconds, *(u / args.seconds for u in used))


async def seed_queued_orders(studio: Studio, users: int, queued: int) -> None:
    """`queued` paid orders in the render queue, the first `users` of them the bench users'."""
    now = time.time()
    for n in range(4):
        await register_render_worker(studio.redis, f"bench-render-{n}")
        await studio.redis.set(keys.RENDER_HEALTH_PREFIX + f"bench-render-{n}", b"ok", px=3_600_000)
    for i in range(queued):
        user = FIRST_USER + i
        order = Order(
            id=f"bench{i:06d}", user_id=user, chat_id=user, state=OrderState.PAID,
            created_at=now, paid_at=now,
        )  # fmt: skip
        await studio.redis.hset(keys.order(order.id), mapping=order.to_hash())  # type: ignore[arg-type,misc]
        await enqueue_render(studio.redis, order.id, studio.settings)
        if i < users:
            await studio.sessions.set_order(user, order.id)


def run_on_loop(config: str, factory: Callable[[], Coroutine[Any, Any, Result]]) -> Result:
    loop_factory = uvloop.new_event_loop if config in UVLOOP_CONFIGS else None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(factory())


def _row(result: Result) -> str:
    return (
        f"{result.updates_per_s:10.0f}{result.bot_cpu:9.0%}"
        f"{result.emulator_cpu:9.0%}{result.redis_cpu:7.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users", type=int, default=400, help="simulated users (updates in flight)"
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring window per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per config; the median counts")
    parser.add_argument("--queued", type=int, default=10_000, help="queued orders for config e")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--delay", type=float, default=0.03, help="added to every Bot API call")
    parser.add_argument("--configs", default="abcde")
    parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    with tempfile.TemporaryDirectory() as workdir:
        servers = start_servers(cpus[-1] if pin else None, workdir)
        try:
            if pin:
                os.sched_setaffinity(0, {cpus[0]})
            template = asyncio.run(prepare_emulator(servers.api_url, args.users, args.delay))
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                telegram_bot_token=SecretStr(TOKEN),
                bot_api_base_url=f"{servers.api_url}/bot",
                bot_api_base_file_url=f"{servers.api_url}/file/bot",
                redis_url=servers.redis_url,
                bot_concurrency=CONCURRENCY,
                tg_global_per_second=1e9,
                tg_chat_per_second=1e9,
                tg_chat_burst=10**9,
                # A closed loop sends far more per user than our per-user limits allow.
                user_messages_per_window=10**9,
                user_commands_per_window=10**9,
            )
            print(
                f"bot on CPU {cpus[0] if pin else 'any'}, emulator + redis on CPU "
                f"{cpus[-1] if pin else 'any'}; {args.users} users, {args.delay * 1000:.0f} ms "
                f"per Bot API call, {args.seconds:g} s per run after {args.warmup:g} s warm-up; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
            )
            print(
                f"{'':3}{'configuration':42}{'updates/s':>10}{'bot CPU':>9}{'emu CPU':>9}", end=""
            )
            print(f"{'redis':>7}")
            results: dict[str, list[Result]] = {}
            first_update_id = 0
            for round_ in range(args.rounds):
                # Alternate the order so that drift (other load, the emulator's growing
                # history) does not favour the configurations that run first.
                order = args.configs if round_ % 2 == 0 else args.configs[::-1]
                for config in order:
                    first_update_id += 10_000_000
                    result = run_on_loop(
                        config,
                        lambda c=config, u=first_update_id: run_config(  # type: ignore[misc]
                            c, settings, servers, template, args, u
                        ),
                    )
                    print(f"{config:3}{CONFIGS[config]:42}{_row(result)}", flush=True)
                    results.setdefault(config, []).append(result)
            best = {
                config: sorted(runs, key=lambda r: r.updates_per_s)[len(runs) // 2]
                for config, runs in results.items()
            }
            print(f"median of {args.rounds} round(s):")
            for config in args.configs:
                print(f"{config:3}{CONFIGS[config]:42}{_row(best[config])}")
            base = best[args.configs[0]]
            if base.updates_per_s > 0 and len(args.configs) > 1:
                ratios = ", ".join(
                    f"{c}={best[c].updates_per_s / base.updates_per_s:.1f}x"
                    for c in args.configs[1:]
                )
                print(f"relative to {base.config}: {ratios}")
        finally:
            for proc in (servers.emulator, servers.redis):
                proc.terminate()
                proc.wait(timeout=10)


if __name__ == "__main__":
    main()
