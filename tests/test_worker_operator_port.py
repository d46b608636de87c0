"""A worker's operator port: alive while it starts, ready once its models are loaded, metrics."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
from redis.asyncio import Redis

from studio.settings import Settings
from tests.fixtures.bot import close_worker
from worker import build_worker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_intake_worker_serves_healthz_readyz_and_metrics(
    bot_settings: Settings, redis: Redis
) -> None:
    port = _free_port()
    settings = bot_settings.model_copy(update={"health_port": port, "health_listen": "127.0.0.1"})
    worker = build_worker("intake", settings, burst=False, poll_delay=0.02, handle_signals=False)
    task = asyncio.create_task(worker.async_run())
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            status = 0
            for _ in range(400):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/readyz") as response:
                        status, found = response.status, await response.json()
                    if status == 200:
                        break
                await asyncio.sleep(0.05)
            assert (status, found) == (200, {"models": True, "redis": True})
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                text = await response.text()
            assert 'ps_queue_depth{queue="intake"}' in text and "ps_redis_up 1.0" in text
    finally:
        await close_worker(worker)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Closed with the worker.
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{base}/healthz"):
                raise AssertionError("the port is still open after the worker stopped")
        except aiohttp.ClientConnectionError:
            pass
