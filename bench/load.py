"""Load on the real bot in webhook mode: many users, a deep render queue, production persistence.

    .venv/bin/python bench/load.py [--users 1000] [--rate 300] [--seconds 20] [--latency 0.03]
        [--queued 10000]

Processes: redis-server (AOF every second, as production), the emulator (`python -m emulator`,
flood limits off: this measures the bot, not Telegram), and the bot (`python -m bot`, webhook
mode, rate limits off for the same reason). Seeded through the domain: `--queued` paid orders in
the render queue (their users' /status shows place and wait) with 4 live render workers, and
`--users` users at the selfie step (consent given, headshot accepted). Every Bot API call waits
`--latency` s (an emulator fault on every method).

Offered open loop at `--rate` updates/s for `--seconds`: about two thirds photos (selfies of the
seeded users: stored sealed, counted, check enqueued), and /start by new users, /status by
queued users (place and wait over the deep queue), /status and a text by selfie-step users.
Not in the mix yet: consent and Done presses, pack, pre_checkout and payment (they need
messages and invoices the emulator holds; tests/test_round_trips.py counts their cost).

Reported: updates/s taken and answered; per kind p50/p99 of the time to the answer (photos,
which get no answer, the time until the bot took them: webhook 200); Redis CPU (share of one
core over the run); bot RSS at the end; message units per update. Figures depend on the
machine (a shared one gives noisy numbers): compare runs made together.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from pipeline.testing.synthetic_photos import synthetic_face_photo

TOKEN = "123456:LOAD"
SECRET = "load-bench-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent
QUEUED_USER0, SELFIE_USER0, NEW_USER0 = 100_000, 300_000, 500_000
MIX = (("photo", 66), ("/start", 10), ("/status queued", 10), ("/status", 7), ("text", 7))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def seed(redis_url: str, api_url: str, users: int, queued: int) -> None:
    """Paid orders in the render queue, live workers, and users at the selfie step."""
    from pydantic import SecretStr

    from studio import keys
    from studio.orders import Order, OrderState
    from studio.queue import enqueue_render, register_render_worker
    from studio.sessions import ConsentRecord
    from studio.settings import Settings

    from studio.domain import Studio  # isort: skip

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        telegram_bot_token=SecretStr(TOKEN),
        master_key=SecretStr(os.environ["MASTER_KEY"]),
        payload_secret=SecretStr(os.environ["PAYLOAD_SECRET"]),
    )
    studio = await Studio.open(settings)
    now = time.time()
    for n in range(4):
        await register_render_worker(studio.redis, f"load-render-{n}")
        await studio.redis.set(keys.RENDER_HEALTH_PREFIX + f"load-render-{n}", b"ok", px=3_600_000)
    for i in range(queued):
        user = QUEUED_USER0 + i
        order = Order(
            id=f"load{i:06d}", user_id=user, chat_id=user, state=OrderState.PAID,
            created_at=now, paid_at=now,
        )  # fmt: skip
        await studio.redis.hset(keys.order(order.id), mapping=order.to_hash())  # type: ignore[arg-type,misc]
        await enqueue_render(studio.redis, order.id, settings)
        await studio.sessions.set_order(user, order.id)
    consent = ConsentRecord(
        policy_version=settings.policy_version, text_sha256="0" * 64, agreed_at=now,
        own_face=True, age_bracket="30-49",
    )  # fmt: skip
    for j in range(users):
        user = SELFIE_USER0 + j
        await studio.sessions.record_consent(user, consent)
        order = await studio.start_order(user, user, "en")
        await studio.orders.accept_headshot(order.id)
    await studio.close()


class Driver:
    """Offers updates through the emulator's control API and keeps when each was pushed."""

    def __init__(self, api_url: str, session: aiohttp.ClientSession, users: int) -> None:
        self.url = f"{api_url}/_control"
        self.session = session
        self.users = users
        self.pushed: dict[int, tuple[str, int, float]] = {}  # update_id -> (kind, chat, time)
        self.photos = [synthetic_face_photo(1, v) for v in range(1, 9)]
        self.counters: dict[str, int] = defaultdict(int)

    async def offer(self, kind: str) -> None:
        n = self.counters[kind]
        self.counters[kind] += 1
        if kind == "photo":
            user = SELFIE_USER0 + n % self.users
            path, form = "photo", aiohttp.FormData()
            variant = (n // self.users) % len(self.photos)  # a user never repeats a photo
            form.add_field("photo", self.photos[variant], filename="p.jpg")
            body: dict[str, Any] = {"data": form}
        else:
            user = {
                "/start": NEW_USER0 + n,
                "/status queued": QUEUED_USER0 + n,
                "/status": SELFIE_USER0 + (n * 7) % self.users,
                "text": SELFIE_USER0 + (n * 11 + 3) % self.users,
            }[kind]
            text = {"/status queued": "/status"}.get(kind, kind if kind != "text" else "hi")
            path, body = "text", {"json": {"text": text, "language_code": "en"}}
        started = time.time()
        async with self.session.post(f"{self.url}/users/{user}/{path}", **body) as response:
            result = await response.json()
        self.pushed[int(result["update_id"])] = (kind, user, started)

    async def run(self, rate: float, seconds: float) -> None:
        weights = [w for _, w in MIX]
        kinds = [k for k, _ in MIX]
        rng = random.Random(7)
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            task = asyncio.create_task(self.offer(rng.choices(kinds, weights)[0]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)

    async def report(self, wait_s: float) -> dict[str, Any]:
        await asyncio.sleep(wait_s)
        async with self.session.get(f"{self.url}/webhook") as response:
            deliveries = (await response.json())["deliveries"]
        async with self.session.get(f"{self.url}/calls") as response:
            calls = await response.json()
        taken = {d["update_id"]: d["time"] for d in deliveries if d["status"] == 200}
        replies: dict[int, list[float]] = defaultdict(list)
        sends = 0
        for call in calls:
            if call["method"] in ("sendMessage", "editMessageText") and call["status"] == 200:
                replies[call["chat_id"]].append(call["time"] + call["duration"])
                sends += 1
        latency: dict[str, list[float]] = defaultdict(list)
        for update_id, (kind, chat, pushed) in self.pushed.items():
            if kind == "photo":
                if update_id in taken:
                    latency[kind].append(taken[update_id] - pushed)
                continue
            after = [t for t in replies.get(chat, []) if t >= pushed]
            if after:
                latency[kind].append(min(after) - pushed)
        last = max([*taken.values(), *(t for ts in replies.values() for t in ts)], default=0)
        first = min(p for _, _, p in self.pushed.values())
        return {
            "offered": len(self.pushed),
            "taken": len(taken),
            "span_s": last - first,
            "answered": sum(len(v) for v in latency.values()),
            "latency": latency,
            "sends": sends,
            "retries": sum(1 for d in deliveries if d["status"] != 200),
        }


def start_processes(workdir: str, ports: dict[str, str]) -> dict[str, subprocess.Popen[bytes]]:
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    persistence = ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
    unlimited = ["--chat-rate", "1e9", "--chat-burst", "1e9", "--global-rate", "1e9"]
    redis_args = [redis_bin, "--port", ports["REDIS_PORT"], "--dir", workdir, *persistence]
    api_args = [sys.executable, "-m", "emulator", "--port", ports["API_PORT"], "--token", TOKEN]
    quiet = subprocess.DEVNULL
    return {
        "redis": subprocess.Popen(redis_args, stdout=quiet, stderr=quiet),
        "emulator": subprocess.Popen([*api_args, *unlimited], cwd=ROOT, stdout=quiet, stderr=quiet),
    }


async def main_async(args: argparse.Namespace) -> None:
    from studio.settings import generate_master_key

    workdir = tempfile.mkdtemp(prefix="load-bench-")
    ports = {name: str(_free_port()) for name in ("REDIS_PORT", "API_PORT", "HOOK_PORT")}
    api_url = f"http://127.0.0.1:{ports['API_PORT']}"
    redis_url = f"redis://127.0.0.1:{ports['REDIS_PORT']}/0"
    os.environ["MASTER_KEY"] = generate_master_key()
    os.environ["PAYLOAD_SECRET"] = generate_master_key()
    procs = start_processes(workdir, ports)
    try:
        await asyncio.sleep(1.0)
        await seed(redis_url, api_url, args.users, args.queued)
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "BOT_API_BASE_URL": f"{api_url}/bot",
            "BOT_API_BASE_FILE_URL": f"{api_url}/file/bot",
            "REDIS_URL": redis_url,
            "WEBHOOK_URL": f"http://127.0.0.1:{ports['HOOK_PORT']}/hook",
            "WEBHOOK_SECRET": SECRET,
            "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": ports["HOOK_PORT"],
            "TG_GLOBAL_PER_SECOND": "1e6",
            "TG_CHAT_PER_SECOND": "1e6",
            "TG_CHAT_BURST": "1000000",
            "USER_MESSAGES_PER_WINDOW": "100000",
            "USER_PHOTOS_PER_WINDOW": "100000",
            "USER_COMMANDS_PER_WINDOW": "100000",
            "LOG_LEVEL": "ERROR",
        }
        procs["bot"] = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )
        async with aiohttp.ClientSession() as session:
            driver = Driver(api_url, session, args.users)
            deadline = time.monotonic() + 60
            while True:  # up once the webhook is set
                async with session.get(f"{driver.url}/webhook") as response:
                    if (await response.json())["info"]["url"]:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit("the bot did not set its webhook")
                await asyncio.sleep(0.2)
            if args.latency:
                fault = {"method": "*", "count": 10**9, "status": None, "delay": args.latency}
                async with session.post(f"{driver.url}/faults", json=fault) as response:
                    response.raise_for_status()
            redis_cpu, bot_cpu = _cpu_seconds(procs["redis"].pid), _cpu_seconds(procs["bot"].pid)
            started = time.monotonic()
            await driver.run(args.rate, args.seconds)
            result = await driver.report(wait_s=3.0)
            wall = time.monotonic() - started
            redis_cpu = _cpu_seconds(procs["redis"].pid) - redis_cpu
            bot_cpu = _cpu_seconds(procs["bot"].pid) - bot_cpu
            rss = _rss_mb(procs["bot"].pid)
    finally:
        for proc in reversed(list(procs.values())):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    span = max(result["span_s"], 1e-9)
    print(
        f"load: {args.users} selfie-step users, {args.queued} queued orders, offered "
        f"{args.rate:g}/s for {args.seconds:g} s, Bot API latency {args.latency * 1000:.0f} ms"
    )
    print(
        f"offered {result['offered']}, taken {result['taken']} "
        f"({result['taken'] / span:.0f} updates/s over {span:.1f} s), answered "
        f"{result['answered']}, webhook retries (503) {result['retries']}"
    )
    for kind, values in sorted(result["latency"].items()):
        print(
            f"  {kind:15s} n={len(values):5d} p50 {statistics.median(values) * 1000:7.1f} ms"
            f"  p99 {_pct(values, 0.99) * 1000:7.1f} ms"
        )
    per_update = result["sends"] / max(1, result["offered"])
    print(
        f"Redis CPU {redis_cpu / wall:.2f} of a core, bot CPU {bot_cpu / wall:.2f}, bot RSS "
        f"{rss:.0f} MB, {result['sends']} messages sent ({per_update:.2f} per update; per "
        "order: tests/test_order_budget.py)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=300.0, help="updates offered per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency", type=float, default=0.0, help="Bot API latency, seconds")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
