"""`portrait-studio bot --polling` as a process: it checks Redis, serves its operator port in
polling mode, answers a user, counts the update, runs with the collector tuned for serving,
and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

from emulator.client import latest_text
from studio.gc_tuning import YOUNG_THRESHOLD
from tests.fixtures.emulator import RunningEmulator

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_polling_bot_serves_readyz_and_metrics_and_stops_on_sigterm(
    emulator: RunningEmulator, redis: Redis, redis_url: str
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "BOT_API_BASE_URL": emulator.base_url,
        "BOT_API_BASE_FILE_URL": emulator.base_file_url,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        "HEALTH_PORT": str(port),
        # --polling wins over a configured webhook.
        "WEBHOOK_URL": "https://example.invalid/hook",
        "WEBHOOK_SECRET": "s3cret-header-value",
    }
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "portrait_studio", "bot", "--polling"),
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            found: object = None
            for _ in range(400):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with http.get(f"{base}/readyz") as response:
                        found = (response.status, await response.json())
                    if found[0] == 200:  # type: ignore[index]
                        break
                await asyncio.sleep(0.05)
            assert found == (200, {"bot": True, "redis": True})
            await emulator.client.send_text(8701, "/start")
            await emulator.client.wait_for(
                8701, lambda m: latest_text(m).startswith("Hi! I make"), timeout=20
            )
            async with http.get(f"{base}/metrics") as response:
                text = await response.text()
        assert 'ps_bot_updates_total{kind="command"} 1.0' in text
        # The collector's settings for serving (studio/gc_tuning.py) are the ones in effect.
        assert f'ps_gc_threshold{{generation="0"}} {YOUNG_THRESHOLD:.1f}' in text
        frozen = next(line for line in text.splitlines() if line.startswith("ps_gc_frozen_"))
        assert float(frozen.split()[-1]) > 10_000  # the startup heap
        assert (await emulator.client.webhook())["info"]["url"] == ""  # polling, not webhook
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.stderr is not None
    assert proc.returncode == 0, (await proc.stderr.read()).decode()


def test_bot_webhook_without_a_url_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBHOOK")}
    done = subprocess.run(
        [sys.executable, "-m", "portrait_studio", "bot", "--webhook"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "needs WEBHOOK_URL" in done.stderr
