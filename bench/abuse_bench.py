"""One user floods the bot; another user's reply time, idle and during the flood.

    .venv/bin/python bench/abuse_bench.py [--flood 1000] [--samples 30] [--root DIR]

The real bot (`python -m bot`, webhook mode) with its production rate limits, the emulator
(`python -m emulator`, Telegram's flood limits: 30 messages/s per bot, ~1/s per chat) and
redis-server (AOF every second), each its own process. The victim sends a text and waits for
the answer, `--samples` times at `--pace` (within its own limits): first alone (idle), then
while the flooder sends `--flood` texts spread over the same span. Reply time is the
emulator's clock: from the push of the victim's update to the end of the bot's sendMessage
for that chat. `--root` runs another
checkout of the project (e.g. an older commit, `git archive`d) for a before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

TOKEN = "123456:ABUSE"
SECRET = "abuse-bench-secret-0123456789"
VICTIM, FLOODER = 40_001, 40_002
ANSWER_TIMEOUT_S = float(os.environ.get("BENCH_ANSWER_TIMEOUT_S", "300"))
ROOT = Path(__file__).resolve().parent.parent
BOT_STDERR = subprocess.DEVNULL if not os.environ.get("BENCH_DEBUG") else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Control:
    """The emulator's control API, the few calls this bench needs."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = f"{url}/_control", session

    async def send_text(self, user: int, text: str) -> None:
        body = {"text": text, "language_code": "en"}
        async with self.session.post(f"{self.url}/users/{user}/text", json=body) as response:
            response.raise_for_status()

    async def messages(self, chat: int) -> list[dict[str, Any]]:
        async with self.session.get(f"{self.url}/chats/{chat}/messages") as response:
            data: list[dict[str, Any]] = await response.json()
            return data

    async def replies_after(self, chat: int, since: float) -> list[float]:
        async with self.session.get(
            f"{self.url}/calls", params={"method": "sendMessage", "chat_id": str(chat)}
        ) as response:
            calls: list[dict[str, Any]] = await response.json()
        return sorted(c["time"] + c["duration"] for c in calls if c["time"] >= since)


async def victim_samples(control: Control, samples: int, pace_s: float) -> list[float]:
    """Seconds from each of the victim's texts to the bot's answer, one every `pace_s`."""
    times = []
    for n in range(samples):
        started = time.monotonic()
        before = len(await control.messages(VICTIM))
        pushed = time.time()
        await control.send_text(VICTIM, f"hello {n}")
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while len(await control.messages(VICTIM)) <= before:
            if time.monotonic() > deadline:
                raise SystemExit(f"the victim got no answer within {ANSWER_TIMEOUT_S} s")
            await asyncio.sleep(0.005)
        answered = (await control.replies_after(VICTIM, pushed))[0]
        times.append(answered - pushed)
        await asyncio.sleep(max(0.0, pace_s - (time.monotonic() - started)))
    return times


async def flood(control: Control, count: int, over_s: float) -> float:
    """`count` texts from the flooder, spread evenly over `over_s` (0: all at once)."""
    started = time.monotonic()
    gate = asyncio.Semaphore(32)

    async def one(n: int) -> None:
        await asyncio.sleep(n * over_s / count)
        async with gate:
            await control.send_text(FLOODER, f"spam {n}")

    await asyncio.gather(*(one(n) for n in range(count)))
    return time.monotonic() - started


async def drive(api_url: str, flood_count: int, samples: int, pace_s: float) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        control = Control(api_url, session)
        deadline = time.monotonic() + 60
        while True:  # the bot is up once it answers a first text
            try:
                await control.send_text(VICTIM, "warm up")
                break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        while not await control.messages(VICTIM):
            if time.monotonic() > deadline:
                raise SystemExit("the bot did not answer")
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # the chat's rate bucket refills
        idle = await victim_samples(control, samples, pace_s)
        flooding = asyncio.create_task(flood(control, flood_count, samples * pace_s))
        busy = await victim_samples(control, samples, pace_s)
        flood_s = await flooding
        flooder_got = [m.get("text", "") for m in await control.messages(FLOODER)]
    return {
        "idle_p50_s": statistics.median(idle),
        "idle_p99_s": _percentile(idle, 0.99),
        "flood_p50_s": statistics.median(busy),
        "flood_p99_s": _percentile(busy, 0.99),
        "flood_sent_in_s": flood_s,
        "flooder_answers": len(flooder_got),
        "flooder_slow_down_notices": sum("wait about" in t for t in flooder_got),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=20)
    # Under the victim's own limits: ~1 message/s per chat (Telegram) and 30 a minute (ours).
    parser.add_argument("--pace", type=float, default=2.5, help="seconds between victim texts")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to run")
    args = parser.parse_args()
    root = args.root.resolve()
    workdir = tempfile.mkdtemp(prefix="abuse-bench-")
    redis_port, api_port, hook_port = _free_port(), _free_port(), _free_port()
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    persistence = ["--save", "", "--appendonly", "yes", "--appendfsync", "everysec"]
    procs = [
        subprocess.Popen(
            [redis_bin, "--port", str(redis_port), "--dir", workdir, *persistence],
            stdout=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "emulator", "--port", str(api_port), "--token", TOKEN],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    api_url = f"http://127.0.0.1:{api_port}"
    time.sleep(1.0)
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "BOT_API_BASE_URL": f"{api_url}/bot",
        "BOT_API_BASE_FILE_URL": f"{api_url}/file/bot",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "WEBHOOK_URL": f"http://127.0.0.1:{hook_port}/hook",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_LISTEN": "127.0.0.1",
        "WEBHOOK_PORT": str(hook_port),
        "LOG_LEVEL": "ERROR",
    }
    procs.append(
        subprocess.Popen([sys.executable, "-m", "bot"], cwd=root, env=env, stderr=BOT_STDERR)
    )
    try:
        result = asyncio.run(drive(api_url, args.flood, args.samples, args.pace))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"checkout: {root}; {args.flood} flood texts spread over the {args.samples} victim "
        f"samples, one every {args.pace} s"
    )
    print(
        f"victim reply time: idle p50 {result['idle_p50_s'] * 1000:.0f} ms, "
        f"p99 {result['idle_p99_s'] * 1000:.0f} ms; during the flood p50 "
        f"{result['flood_p50_s'] * 1000:.0f} ms, p99 {result['flood_p99_s'] * 1000:.0f} ms "
        f"({result['flood_p99_s'] / result['idle_p99_s']:.1f}x idle p99)"
    )
    print(
        f"flood sent in {result['flood_sent_in_s']:.1f} s; the flooder got "
        f"{result['flooder_answers']} answers, {result['flooder_slow_down_notices']} of them "
        "the slow-down notice"
    )


if __name__ == "__main__":
    main()
