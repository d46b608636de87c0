"""Delivery off the GPU: busy fraction, orders per hour and /status p99 during delivery.

Starts its own redis-server and an in-process Bot API emulator with Telegram's real limits
(about 1 message/s per chat with bursts of 3, 30/s for the bot), and our limiter at the
project's defaults. A simulated GPU sleeps GPU_S per image (no models). A backlog of orders,
each in its own chat, is served two ways:

- before: the render job sends its own portraits (albums of 10, booked like replies), so the
  GPU waits for Telegram after every order;
- after: the render stage hands each order to the sealed outbox and takes the next one, and a
  real arq delivery worker sends (bulk sends, albums of DELIVERY_ALBUM_SIZE).

Meanwhile a "/status" reply (a sendMessage through the same limiter, as the handler sends it)
goes to a chat being delivered every PROBE_S; its latency is the time until Telegram answered.
Figures printed, nothing asserted.

    .venv/bin/python bench/delivery_bench.py [--orders 10] [--before-orders 3] [--portraits 20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image
from pydantic import SecretStr

from bot.client import make_bot
from bot.delivery import PortraitFile, deliver_portraits
from emulator.app import EmulatorConfig, create_app
from emulator.client import EmulatorClient
from jobs.delivery import close_delivered, hand_over
from studio import keys
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.queue import enqueue_render
from studio.settings import Settings
from worker import build_worker

TOKEN = "123456:delivery-bench"
GPU_S = 0.5  # simulated GPU seconds per image
PROBE_S = 1.0
PROBE_CHAT_S = 3.0  # one chat gets at most one reply per this long (a user, not a flood)


@dataclass
class Figures:
    mode: str
    orders: int
    gpu_busy_s: float = 0.0
    gpu_stage_s: float = 0.0  # first claim to the last hand-over (or, before, last delivery)
    wall_s: float = 0.0  # first claim to the last order delivered
    status_ms: list[float] = field(default_factory=list)
    refused: int = 0

    def report(self, portraits: int) -> str:
        bound = 3600 / (portraits * GPU_S)
        busy = self.gpu_busy_s / self.gpu_stage_s
        staged = self.orders * 3600 / self.gpu_stage_s
        end_to_end = self.orders * 3600 / self.wall_s
        ms = sorted(self.status_ms) or [0.0]
        p50 = ms[len(ms) // 2]
        p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
        return (
            f"{self.mode:>6}: {self.orders} orders x {portraits} portraits, GPU {GPU_S}s/image\n"
            f"        GPU-stage busy {busy:.1%} "
            f"({self.gpu_busy_s:.0f}s of {self.gpu_stage_s:.0f}s)\n"
            f"        orders/h: GPU stage {staged:.0f}, end to end {end_to_end:.0f} "
            f"(GPU-only bound {bound:.0f}; wall {self.wall_s:.0f}s)\n"
            f"        /status during delivery: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
            f"max {ms[-1]:.0f} ms"
            f" ({len(self.status_ms)} probes); 429s from the emulator: {self.refused}"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _portraits(count: int) -> list[PortraitFile]:
    out = []
    for i in range(count):
        image = Image.new("RGB", (256, 320), (11 * i % 255, 90, 160))
        jpeg, png = io.BytesIO(), io.BytesIO()
        image.save(jpeg, "JPEG")
        image.save(png, "PNG")
        out.append(PortraitFile(i, jpeg.getvalue(), png.getvalue()))
    return out


async def _orders(studio: Studio, client: EmulatorClient, count: int, base: int) -> list[Order]:
    """Paid orders in their own chats, each with a progress message, claimed in turn later."""
    out = []
    for i in range(count):
        user = base + i
        await client.send_text(user, "/start")
        now = studio.clock.now()
        order = Order(
            id=f"bench{base + i}",
            user_id=user,
            chat_id=user,
            state=OrderState.PAID,
            created_at=now,
            paid_at=now,
        )
        await studio.redis.hset(keys.order(order.id), mapping=order.to_hash())  # type: ignore[arg-type,misc]
        await studio.vault.key_for(user)
        # Its render job, as a payment leaves it (the simulated GPU below plays the worker), so
        # the reconcilers that run in every worker see a healthy paid order.
        await enqueue_render(studio.redis, order.id, studio.settings)
        out.append(order)
    return out


async def _probe(
    studio: Studio, bot: Any, orders: list[Order], figures: Figures, stop: asyncio.Event
) -> None:
    """A reply to a chat whose portraits are being sent, every PROBE_S."""
    turn = 0
    last: dict[int, float] = {}
    while not stop.is_set():
        await asyncio.sleep(PROBE_S)
        sending = []
        for order in orders:
            fresh = await studio.orders.get(order.id)
            if fresh is None or fresh.state is not OrderState.RENDERING:
                continue
            if time.monotonic() - last.get(order.chat_id, 0.0) < PROBE_CHAT_S:
                continue
            if await studio.redis.hexists(keys.order_deliveries(order.id), "preview:0"):  # type: ignore[misc]
                sending.append(order)
        if not sending:
            continue
        order = sending[turn % len(sending)]
        turn += 1
        began = last[order.chat_id] = time.monotonic()
        await bot.send_message(chat_id=order.chat_id, text="Order: your portraits are on the way.")
        figures.status_ms.append((time.monotonic() - began) * 1000)


async def _gpu(seconds: float, figures: Figures) -> None:
    began = time.monotonic()
    await asyncio.sleep(seconds)
    figures.gpu_busy_s += time.monotonic() - began


async def run_mode(mode: str, count: int, portraits: int, settings: Settings) -> Figures:
    studio = await Studio.open(settings)
    bot = make_bot(settings, studio)
    await bot.initialize()
    figures = Figures(mode, count)
    session = aiohttp.ClientSession()
    client = EmulatorClient(settings.bot_api_base_url.removesuffix("/bot"), session)
    await asyncio.sleep(3.5)  # chats' bursts refill after the /start messages
    base = 20_000 if mode == "before" else 30_000
    orders = await _orders(studio, client, count, base)
    await asyncio.sleep(3.5)
    images = _portraits(portraits)
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(studio, bot, orders, figures, stop))
    worker = build_worker("delivery", settings, burst=False, poll_delay=0.05, handle_signals=False)
    sender = asyncio.create_task(worker.async_run()) if mode == "after" else None
    began = time.monotonic()
    try:
        for order in orders:
            claimed = await studio.orders.claim(order.id, studio.clock.now())
            assert claimed is not None
            await _gpu(portraits * GPU_S, figures)

            async def always() -> bool:
                return True

            if mode == "before":
                await deliver_portraits(
                    studio.redis, bot, claimed, images, always, album_size=10, bulk=False
                )
                await close_delivered(studio, bot, claimed, portraits, None)
            else:
                await hand_over(studio, claimed, images, always)
        figures.gpu_stage_s = time.monotonic() - began
        for order in orders:
            while (fresh := await studio.orders.get(order.id)) is not None and (
                fresh.state is not OrderState.DELIVERED
            ):
                await asyncio.sleep(0.1)
        figures.wall_s = time.monotonic() - began
    finally:
        stop.set()
        await probe
        if sender is not None:
            await worker.close()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        refused = await client.rate_limited()
        figures.refused = len(refused)
        await session.close()
        await bot.shutdown()
        await studio.close()
    return figures


async def main_async(orders: int, before_orders: int, portraits: int) -> None:
    workdir = tempfile.mkdtemp(prefix="delivery-bench-")
    port = _free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    redis_proc = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--dir", workdir, "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    results = []
    try:
        await asyncio.sleep(0.3)
        for mode, count in (("before", before_orders), ("after", orders)):
            runner = web.AppRunner(create_app(EmulatorConfig(token=TOKEN)))  # real limits
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                redis_url=f"redis://127.0.0.1:{port}/0",
                telegram_bot_token=SecretStr(TOKEN),
                bot_api_base_url=f"{url}/bot",
                bot_api_base_file_url=f"{url}/file/bot",
                portraits_per_order=portraits,
            )
            try:
                results.append(await run_mode(mode, count, portraits, settings))
            finally:
                await runner.cleanup()
            print(results[-1].report(portraits), flush=True)
    finally:
        redis_proc.terminate()
        redis_proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10, help="backlog for the staged run")
    parser.add_argument("--before-orders", type=int, default=3, help="backlog for 'before'")
    parser.add_argument("--portraits", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main_async(args.orders, args.before_orders, args.portraits))


if __name__ == "__main__":
    main()
