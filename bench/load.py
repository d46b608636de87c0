"""Load on the real bot in webhook mode: many users, a deep render queue, production persistence.

    .venv/bin/python bench/load.py [--users 1000] [--rate 300] [--seconds 20] [--latency 0.03]
        [--queued 10000] [--no-pin]

Processes: redis-server (AOF every second, as production), the emulator (`python -m emulator`,
flood limits off: this measures the bot, not Telegram), and the bot (`python -m bot`, webhook
mode, rate limits off for the same reason). This process plays Telegram: it posts each update
to the bot's webhook with the secret (the webhook receipt and parsing are measured), and
retries a 503 as Telegram does; the emulator is the Bot API the bot answers through.
Seeded through the domain: `--queued` paid orders in the render queue (their users' /status
shows place and wait) with 4 live render workers, and `--users` users at the selfie step
(consent given, headshot accepted). Every Bot API call waits `--latency` s (an emulator
fault on every method).

Offered open loop at `--rate` updates/s for `--seconds`: about two thirds photos (selfies of the
seeded users: stored sealed, counted, check enqueued), and /start by new users, /status by
queued users (place and wait over the deep queue), /status and a text by selfie-step users,
and payments: seeded users whose order awaits payment (pack chosen, the bot's own signed
invoice sent through the Bot API) pay it through the emulator as Telegram's client does, so the
pre_checkout_query and then the successful_payment reach the bot through the emulator's
webhook, and pre_checkout's answer time is the emulator's clock (Telegram's 10 s limit). Not
in the mix: consent and Done presses and the pack choice (tests/test_round_trips.py counts
their cost).

The bot is pinned to CPU 0 (the target is per core) and everything else (Redis, the emulator,
this driver) to the other CPUs, unless `--no-pin` or the machine has one CPU.

Reported: updates/s taken and answered; per kind p50/p99 of the time to the answer (photos,
which get no answer, the time until the bot took them: webhook 200); Redis CPU (share of one
core over the run); the bot's CPU (share of its core) and CPU ms per update taken, whose
inverse is the most one core could take; bot RSS at the end; message units per update. Figures
depend on the machine (a shared one gives noisy numbers): compare runs made together.
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

TOKEN = "123456:LOAD"
SECRET = "load-bench-secret-0123456789"
ROOT = Path(__file__).resolve().parent.parent
QUEUED_USER0, SELFIE_USER0, NEW_USER0, PAYER_USER0 = 100_000, 300_000, 500_000, 700_000
# As the emulator's webhook retries (emulator/config.py): from 50 ms, doubling up to 2 s.
RETRY_INITIAL_S, RETRY_MAX_S = 0.05, 2.0
# "pay" is two updates: the pre_checkout_query and the successful_payment.
MIX = (
    ("photo", 66), ("/start", 10), ("/status queued", 10), ("/status", 7), ("text", 7),
    ("pay", 2),
)  # fmt: skip
PAY_SHARE = 2 / 102


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


def _seed_settings(redis_url: str, **overrides: Any) -> Any:
    """The bot's Settings (this run's secrets, Redis, token) for seeding through the domain."""
    from pydantic import SecretStr

    from studio.settings import Settings

    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_url=redis_url,
        telegram_bot_token=SecretStr(TOKEN),
        master_key=SecretStr(os.environ["MASTER_KEY"]),
        payload_secret=SecretStr(os.environ["PAYLOAD_SECRET"]),
        **overrides,
    )


def _consent(settings: Any, now: float) -> Any:
    """The consent a seeded user gave: own face, adult, the current policy."""
    from studio.sessions import ConsentRecord

    return ConsentRecord(
        policy_version=settings.policy_version, text_sha256="0" * 64, agreed_at=now,
        own_face=True, age_bracket="30-49",
    )  # fmt: skip


async def seed(redis_url: str, api_url: str, users: int, queued: int) -> None:
    """Paid orders in the render queue, live workers, and users at the selfie step."""
    from studio import keys
    from studio.orders import Order, OrderState
    from studio.queue import enqueue_render
    from studio.render_workers import register_render_worker

    from studio.domain import Studio  # isort: skip

    settings = _seed_settings(redis_url)
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
    consent = _consent(settings, now)
    for j in range(users):
        user = SELFIE_USER0 + j
        await studio.sessions.record_consent(user, consent)
        order = await studio.start_order(user, user, "en")
        await studio.orders.accept_headshot(order.id)
    await studio.close()


async def seed_payers(redis_url: str, api_url: str, payers: int) -> None:
    """Users whose order awaits payment, each sent its invoice by the bot's own code (their
    chats must be open)."""
    from bot.client import make_bot
    from bot.payments import send_invoice
    from pipeline.styles import STYLE_PACKS
    from studio.payments import link_invoice, new_invoice_ref

    from studio.domain import Studio  # isort: skip

    settings = _seed_settings(
        redis_url,
        bot_api_base_url=f"{api_url}/bot",
        tg_global_per_second=1e6,
        tg_chat_per_second=1e6,
        tg_chat_burst=1_000_000,
    )
    studio = await Studio.open(settings)
    bot = make_bot(settings, studio)
    await bot.initialize()
    pack = next(iter(STYLE_PACKS))
    consent = _consent(settings, time.time())
    try:
        for j in range(payers):
            user = PAYER_USER0 + j
            await studio.sessions.record_consent(user, consent)
            order = await studio.start_order(user, user, "en")
            await studio.orders.accept_headshot(order.id)
            await studio.orders.finish_selfies(order.id)
            ref = new_invoice_ref()
            chosen = await studio.orders.choose_pack(order.id, pack, settings.price_stars, ref)
            assert chosen is not None and await link_invoice(studio.redis, order.id, ref)
            assert await send_invoice(studio, bot, chosen, "en", linked=True)
    finally:
        await bot.shutdown()
        await studio.close()


class Driver:
    """Plays Telegram's side of the webhook: posts each update to the bot, as Telegram does.

    Updates go straight to the bot's webhook (with the secret), so the emulator is only the Bot
    API the bot answers through; its chats were opened beforehand (`open_chats`).
    """

    def __init__(self, api_url: str, hook_url: str, session: aiohttp.ClientSession, users: int):
        self.url = f"{api_url}/_control"
        self.hook_url = hook_url
        self.session = session
        self.users = users
        self.pushed: dict[int, tuple[str, int, float]] = {}  # update_id -> (kind, chat, time)
        self.taken: dict[int, tuple[int, float]] = {}  # update_id -> (status, answered at)
        self.counters: dict[str, int] = defaultdict(int)
        self.next_id = 10_000_000
        self.started = 0.0
        self.opened = 0  # sends before the run (none: the opening texts get no answer then)
        self.invoices: dict[int, int] = {}  # payer -> the invoice message the bot sent
        # (payer, the emulator's answer, returned at): the pre-checkout answered, and the
        # successful_payment pushed at about `returned at`.
        self.payments: list[tuple[int, dict[str, Any], float]] = []

    async def find_invoices(self, payers: list[int]) -> None:
        for payer in payers:
            async with self.session.get(f"{self.url}/chats/{payer}/messages") as response:
                messages = await response.json()
            self.invoices[payer] = next(m["message_id"] for m in messages if m["invoice"])

    def chat_of(self, kind: str, n: int) -> int:
        return {
            "photo": SELFIE_USER0 + n % self.users,
            "/start": NEW_USER0 + n,
            "/status queued": QUEUED_USER0 + n,
            "/status": SELFIE_USER0 + (n * 7) % self.users,
            "text": SELFIE_USER0 + (n * 11 + 3) % self.users,
            "pay": PAYER_USER0 + n,
        }[kind]

    async def open_chats(self, chats: list[int]) -> None:
        """One text from each user, through the emulator, so the bot's answers have a chat."""
        gate = asyncio.Semaphore(32)

        async def one(chat: int) -> None:
            async with (
                gate,
                self.session.post(f"{self.url}/users/{chat}/text", json={"text": "hi"}) as response,
            ):
                response.raise_for_status()

        await asyncio.gather(*(one(chat) for chat in chats))

    def update(self, kind: str, n: int) -> dict[str, Any]:
        chat = self.chat_of(kind, n)
        self.next_id += 1
        message: dict[str, Any] = {
            "message_id": self.next_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Load"},
            "from": {"id": chat, "is_bot": False, "first_name": "Load", "language_code": "en"},
        }
        if kind == "photo":
            unique = f"load{chat}p{n}"
            message["photo"] = [
                {"file_id": f"F{unique}{side}", "file_unique_id": f"{unique}{side}",
                 "width": side, "height": side, "file_size": side * 100}
                for side in (90, 320, 1280)
            ]  # fmt: skip
        else:
            text = {"/status queued": "/status", "text": "hi"}.get(kind, kind)
            message["text"] = text
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return {"update_id": self.next_id, "message": message}

    async def pay(self, n: int) -> None:
        """A seeded payer pays their invoice, through the emulator as Telegram's client would."""
        payer = self.chat_of("pay", n)
        if payer not in self.invoices:
            self.counters["payers short"] += 1
            return
        body = {"message_id": self.invoices[payer]}
        async with self.session.post(f"{self.url}/users/{payer}/pay", json=body) as response:
            answer = await response.json()
        self.payments.append((payer, answer, time.time()))

    async def offer(self, kind: str) -> None:
        n = self.counters[kind]
        self.counters[kind] += 1
        if kind == "pay":
            await self.pay(n)
            return
        update = self.update(kind, n)
        update_id = update["update_id"]
        self.pushed[update_id] = (kind, update["message"]["chat"]["id"], time.time())
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        backoff = RETRY_INITIAL_S
        while True:  # Telegram retries a non-2xx answer, backing off
            async with self.session.post(self.hook_url, json=update, headers=headers) as response:
                await response.read()
                status = response.status
            if status == 200:
                self.taken[update_id] = (status, time.time())
                return
            self.counters["retries"] += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)

    async def run(self, rate: float, seconds: float) -> None:
        weights = [w for _, w in MIX]
        kinds = [k for k, _ in MIX]
        rng = random.Random(7)
        tasks: set[asyncio.Task[None]] = set()
        start = time.monotonic()
        self.started = time.time()
        for i in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            task = asyncio.create_task(self.offer(rng.choices(kinds, weights)[0]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)

    async def report(self, wait_s: float) -> dict[str, Any]:
        await asyncio.sleep(wait_s)
        async with self.session.get(f"{self.url}/calls") as response:
            calls = await response.json()
        replies: dict[int, list[float]] = defaultdict(list)
        sends = 0
        for call in calls:
            if call["method"] in ("sendMessage", "editMessageText") and call["status"] == 200:
                replies[call["chat_id"]].append(call["time"] + call["duration"])
                sends += 1
        latency: dict[str, list[float]] = defaultdict(list)
        for update_id, (kind, chat, pushed) in self.pushed.items():
            if kind == "photo":
                if update_id in self.taken:
                    latency[kind].append(self.taken[update_id][1] - pushed)
                continue
            after = [t for t in replies.get(chat, []) if t >= pushed]
            if after:
                latency[kind].append(min(after) - pushed)
        refused = 0
        for payer, answer, returned in self.payments:
            if "answer_seconds" in answer:  # answered (a "timeout" has none)
                latency["pre_checkout"].append(answer["answer_seconds"])
            if not answer.get("ok"):
                refused += 1
                continue
            # The bot's answer to the successful_payment: paid, and the place in the queue.
            after = [t for t in replies.get(payer, []) if t >= returned]
            if after:
                latency["payment"].append(min(after) - returned)
        ends = [t for _, t in self.taken.values()]
        ends += [t for ts in replies.values() for t in ts if t >= self.started]
        payments_taken = len(latency["pre_checkout"]) + len(latency["payment"])
        return {
            "offered": len(self.pushed) + 2 * len(self.payments),
            "taken": len(self.taken) + payments_taken,
            "payments": len(self.payments),
            "payments_refused": refused,
            "span_s": max(ends, default=self.started) - self.started,
            "answered": sum(len(v) for v in latency.values()),
            "latency": latency,
            "sends": sends - self.opened,
            "retries": self.counters["retries"],
        }


def cpu_plan(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """(the bot's CPUs, everyone else's): CPU 0 alone for the bot, or no pinning at all."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def _pinned(cpus: set[int] | None) -> Any:
    def pin() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    return pin


def start_processes(
    workdir: str, ports: dict[str, str], cpus: set[int] | None
) -> dict[str, subprocess.Popen[bytes]]:
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    persistence = ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
    unlimited = ["--chat-rate", "1e9", "--chat-burst", "1e9", "--global-rate", "1e9"]
    redis_args = [redis_bin, "--port", ports["REDIS_PORT"], "--dir", workdir, *persistence]
    api_args = [sys.executable, "-m", "emulator", "--port", ports["API_PORT"], "--token", TOKEN]
    quiet = subprocess.DEVNULL
    pin = _pinned(cpus)
    return {
        "redis": subprocess.Popen(redis_args, stdout=quiet, stderr=quiet, preexec_fn=pin),
        "emulator": subprocess.Popen(
            [*api_args, *unlimited], cwd=ROOT, stdout=quiet, stderr=quiet, preexec_fn=pin
        ),
    }


async def main_async(args: argparse.Namespace) -> None:
    from studio.settings import generate_master_key

    workdir = tempfile.mkdtemp(prefix="load-bench-")
    ports = {name: str(_free_port()) for name in ("REDIS_PORT", "API_PORT", "HOOK_PORT")}
    api_url = f"http://127.0.0.1:{ports['API_PORT']}"
    redis_url = f"redis://127.0.0.1:{ports['REDIS_PORT']}/0"
    os.environ["MASTER_KEY"] = generate_master_key()
    os.environ["PAYLOAD_SECRET"] = generate_master_key()
    bot_cpus, other_cpus = cpu_plan(args.pin)
    if other_cpus is not None:
        os.sched_setaffinity(0, other_cpus)  # this driver too
    procs = start_processes(workdir, ports, other_cpus)
    try:
        await asyncio.sleep(1.0)
        await seed(redis_url, api_url, args.users, args.queued)
        expected = int(args.rate * args.seconds)
        chats = [SELFIE_USER0 + j for j in range(args.users)]
        chats += [QUEUED_USER0 + i for i in range(min(args.queued, expected // 5 + 50))]
        chats += [NEW_USER0 + i for i in range(expected // 5 + 50)]
        payers = [PAYER_USER0 + k for k in range(int(expected * PAY_SHARE * 1.5) + 20)]
        chats += payers
        hook_url = f"http://127.0.0.1:{ports['HOOK_PORT']}/hook"
        async with aiohttp.ClientSession() as session:
            opener = Driver(api_url, hook_url, session, args.users)
            await opener.open_chats(chats)
            await seed_payers(redis_url, api_url, len(payers))
            await opener.find_invoices(payers)
            # The opening texts are not part of the load: Telegram forgets them.
            async with session.post(
                f"{api_url}/bot{TOKEN}/deleteWebhook", json={"drop_pending_updates": True}
            ) as response:
                response.raise_for_status()
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "BOT_API_BASE_URL": f"{api_url}/bot",
            "BOT_API_BASE_FILE_URL": f"{api_url}/file/bot",
            "REDIS_URL": redis_url,
            "WEBHOOK_URL": hook_url,
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
            [sys.executable, "-m", "bot"],
            cwd=args.root,
            env=env,
            stderr=subprocess.DEVNULL,
            preexec_fn=_pinned(bot_cpus),
        )
        connector = aiohttp.TCPConnector(limit=100)  # Telegram: at most 100 connections
        async with aiohttp.ClientSession(connector=connector) as session:
            driver = Driver(api_url, hook_url, session, args.users)
            driver.invoices = opener.invoices
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
        f"bot from {args.root}\nload: {args.users} selfie-step users, {args.queued} queued "
        "orders, offered "
        f"{args.rate:g}/s for {args.seconds:g} s, Bot API latency {args.latency * 1000:.0f} ms; "
        + (f"bot on CPU {sorted(bot_cpus)}, the rest on {sorted(other_cpus or [])}" if bot_cpus
           else "not pinned")
    )  # fmt: skip
    print(
        f"offered {result['offered']}, taken {result['taken']} "
        f"({result['taken'] / span:.0f} updates/s over {span:.1f} s), answered "
        f"{result['answered']}, webhook retries (503) {result['retries']}; photo latency is "
        "until the webhook's 200 (taken), pre_checkout's until its answer (the emulator's "
        "clock), the others' until the answer is sent"
    )
    print(
        f"payments: {result['payments']} paid through the emulator (2 updates each), "
        f"{result['payments_refused']} refused or unanswered at pre-checkout"
    )
    for kind, values in sorted(result["latency"].items()):
        print(
            f"  {kind:15s} n={len(values):5d} p50 {statistics.median(values) * 1000:7.1f} ms"
            f"  p99 {_pct(values, 0.99) * 1000:7.1f} ms"
        )
    per_update = result["sends"] / max(1, result["offered"])
    print(
        f"Redis CPU {redis_cpu / wall:.2f} of a core, bot CPU {bot_cpu / wall:.2f} "
        f"({bot_cpu * 1000 / max(1, result['taken']):.2f} ms per update taken: at most "
        f"{result['taken'] / max(bot_cpu, 1e-9):.0f}/s on one core), bot RSS "
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
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose bot to run")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="leave CPU placement to the OS"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
