"""Queue-position cost with a deep render queue, and the edits one render start causes.

    .venv/bin/python bench/queue_bench.py [--orders 10000] [--samples 2000] [--workers 4]
        [--other-keys 200000]

Starts its own redis-server (a free port, production persistence: AOF every second) and an
in-process Bot API emulator, fills the arq render queue with paid orders through the real
enqueue path, registers `--workers` live render workers (registry + health keys, as workers
do) and adds `--other-keys` unrelated keys (update dedupe marks), then measures what /status
runs for a paid order: `studio.queue.place_and_eta` (live workers from the registry, rank, the
head's running jobs, the EWMA), for random orders. No argument is given that would skip a step
(the old `workers=1` skipped the live-worker count every real /status makes). It also counts
the editMessageText calls that `bot.queue_notices.notify_queue_positions` makes when the first
job starts.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any

from aiohttp import web
from arq.constants import in_progress_key_prefix
from pydantic import SecretStr

from bot.client import make_bot
from bot.queue_notices import notify_queue_positions
from emulator.app import EmulatorConfig, create_app
from emulator.client import EmulatorClient
from studio import keys
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.queue import enqueue_render, orders_at_positions, place_and_eta
from studio.render_workers import live_render_workers, register_render_worker
from studio.settings import Settings

TOKEN = "123456:BENCH"
# Only the head of the line gets a real chat and message; deeper edits answer "chat not found",
# which still counts as the Bot API call (and flood budget) we want to count.
CHATS_WITH_MESSAGES = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_redis(port: int, workdir: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    args = [binary, "--port", str(port), "--save", "", "--dir", workdir]
    args += ["--appendonly", "yes", "--appendfsync", "everysec"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _fill(studio: Studio, client: EmulatorClient, count: int) -> list[str]:
    now = time.time()
    ids: list[str] = []
    for i in range(count):
        user_id = 10_000 + i
        if i < CHATS_WITH_MESSAGES:
            await client.send_text(user_id, "/start")
        order = Order(
            id=f"bench{i:06d}",
            user_id=user_id,
            chat_id=user_id,
            state=OrderState.PAID,
            created_at=now,
            paid_at=now,
            queue_message_id=2,  # the bot's first message after /start
        )
        await studio.redis.hset(keys.order(order.id), mapping=order.to_hash())  # type: ignore[arg-type,misc]
        await enqueue_render(studio.redis, order.id, studio.settings)
        ids.append(order.id)
    return ids


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _surround(studio: Studio, workers: int, other_keys: int) -> None:
    """Live render workers as they register themselves, and a keyspace full of other keys."""
    for n in range(workers):
        name = f"bench-render-{n}"
        await register_render_worker(studio.redis, name)
        await studio.redis.set(keys.RENDER_HEALTH_PREFIX + name, b"ok", px=600_000)
    ttl_ms = int(keys.UPDATE_DEDUPE_TTL.total_seconds() * 1000)
    for start in range(0, other_keys, 10_000):
        async with studio.redis.pipeline(transaction=False) as pipe:
            for update_id in range(start, min(other_keys, start + 10_000)):
                pipe.set(keys.update_seen(update_id), b"done", px=ttl_ms)
            await pipe.execute()


async def run(count: int, samples: int, workers: int, other_keys: int) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="queue-bench-")
    port = _free_port()
    redis_proc = _start_redis(port, workdir)
    runner = web.AppRunner(
        create_app(
            EmulatorConfig(
                token=TOKEN, chat_rate=1e6, chat_burst=1e6, global_rate=1e6, global_burst=1e6
            )
        )
    )
    try:
        await asyncio.sleep(0.3)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            redis_url=f"redis://127.0.0.1:{port}/0",
            telegram_bot_token=SecretStr(TOKEN),
            bot_api_base_url=f"{url}/bot",
            bot_api_base_file_url=f"{url}/file/bot",
            tg_global_per_second=1e6,
            tg_chat_per_second=1e6,
            tg_chat_burst=1000,
        )
        studio = await Studio.open(settings)
        bot = make_bot(settings, studio)
        await bot.initialize()
        async with EmulatorClient(url) as client:
            started = time.perf_counter()
            ids = await _fill(studio, client, count)
            fill_s = time.perf_counter() - started
            await _surround(studio, workers, other_keys)
            live = await live_render_workers(studio.redis)
            for i in range(CHATS_WITH_MESSAGES):
                await bot.send_message(chat_id=10_000 + i, text="queued")

            # One worker is running the first job, as arq leaves it: in the queue, in progress.
            await studio.redis.set(in_progress_key_prefix + ids[0], b"1", px=600_000)
            timings = []
            for order_id in random.sample(ids[1:], min(samples, len(ids) - 1)):
                t0 = time.perf_counter()
                await place_and_eta(studio.redis, settings, order_id)
                timings.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            await orders_at_positions(studio.redis, list(range(1, 20)), live)
            batch_ms = (time.perf_counter() - t0) * 1000

            await notify_queue_positions(studio, bot)  # everyone's first notice
            await studio.redis.set(in_progress_key_prefix + ids[1], b"1", px=600_000)
            before = len(await client.calls("editMessageText"))
            t0 = time.perf_counter()
            await notify_queue_positions(studio, bot)  # the second render starts
            notify_ms = (time.perf_counter() - t0) * 1000
            edits = len(await client.calls("editMessageText")) - before
        await bot.shutdown()
        await studio.close()
    finally:
        await runner.cleanup()
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "orders": count,
        "live_render_workers": live,
        "keyspace": other_keys + count,
        "fill_s": round(fill_s, 2),
        "place_and_eta_p50_ms": round(statistics.median(timings), 3),
        "place_and_eta_p99_ms": round(_percentile(timings, 0.99), 3),
        "batch_19_positions_ms": round(batch_ms, 3),
        "edits_per_render_start": edits,
        "notify_ms": round(notify_ms, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--other-keys", type=int, default=200_000)
    args = parser.parse_args()
    # The deep positions' "chat not found" warnings are expected here (see CHATS_WITH_MESSAGES).
    logging.basicConfig(level=logging.ERROR)
    for name, value in asyncio.run(
        run(args.orders, args.samples, args.workers, args.other_keys)
    ).items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
