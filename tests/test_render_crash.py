"""A render worker killed with SIGKILL mid-delivery, and delivery under Telegram's real limits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from studio.clock import ManualClock
from studio.domain import Studio
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator
from tests.render_support import (
    PACK,
    ROOT,
    bot_media,
    emulator_settings,
    make_paid_order,
    open_studio_bot,
    settings_env,
    tiny_model_settings,
    wait_for_state,
)
from worker import build_worker


async def _run_worker_until_delivered(settings: Settings, studio: Studio, order_id: str) -> None:
    worker = build_worker("render", settings, burst=False)
    task = asyncio.create_task(worker.async_run())
    try:
        await wait_for_state(studio, order_id, {OrderState.DELIVERED}, timeout=60)
    finally:
        await worker.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_sigkill_mid_delivery_then_every_portrait_arrives_exactly_once(
    make_settings: Any,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> None:
    # arq re-runs a job whose worker died once its in-progress key lapses: timeout + 10 s.
    settings = emulator_settings(
        make_settings,
        emulator,
        **{
            **tiny_model_settings(tiny_models_dir),
            "render_job_timeout_s": 8,
            "render_max_tries": 3,
        },
    )
    studio = await Studio.open(settings, clock=clock)
    try:
        order = await make_paid_order(studio, emulator, 1401, pack=PACK)
        # Each document takes a second to go through: the kill lands while the second one is
        # at the emulator (arrived, not yet answered), so it still lands after the worker died.
        await emulator.client.inject_fault("sendDocument", count=4, status=None, delay=1.0)
        proc = subprocess.Popen(
            [sys.executable, "worker.py", "render"],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                photos, documents = await bot_media(emulator, 1401)
                in_flight = await emulator.client.arrivals("sendDocument") - len(documents)
                if len(photos) == 4 and len(documents) >= 1 and in_flight >= 1:
                    break
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the worker never delivered"
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
        killed_at = await studio.orders.get(order.id)
        assert killed_at is not None and killed_at.state is OrderState.RENDERING

        await _run_worker_until_delivered(settings, studio, order.id)

        await asyncio.sleep(1.5)  # a document the dead worker had in flight may still land
        photos, documents = await bot_media(emulator, 1401)
        assert len(photos) == 4
        names = sorted(d["files"][0]["filename"] for d in documents)
        assert names == [f"portrait-0{i}.png" for i in range(1, 5)]
    finally:
        await studio.close()


async def test_strict_flood_limits_are_never_exceeded(
    make_settings: Any,
    emulator_factory: EmulatorFactory,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> None:
    # Telegram's own numbers, on both sides: about 1 message/s per chat with bursts of 3.
    strict = await emulator_factory(
        chat_rate=1.0, chat_burst=3.0, global_rate=30.0, global_burst=30.0
    )
    settings = emulator_settings(
        make_settings,
        strict,
        **tiny_model_settings(tiny_models_dir),
        # Our buckets and Telegram's run on different clocks; a 5% margin keeps a call that
        # lands right on a refill boundary from arriving a millisecond early.
        tg_chat_per_second=0.95,
        tg_chat_burst=3,
        tg_global_per_second=28.5,
    )
    async with open_studio_bot(settings, clock) as (studio, _):
        orders = [await make_paid_order(studio, strict, 1500 + i, pack=PACK) for i in range(2)]
        await asyncio.sleep(3)  # the test's own setup messages used up the chats' bursts
        started = time.time()
        worker = build_worker("render", settings, burst=False, ctx={"clock": clock})
        task = asyncio.create_task(worker.async_run())
        try:
            for order in orders:
                await wait_for_state(studio, order.id, {OrderState.DELIVERED}, timeout=90)
        finally:
            await worker.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for order in orders:
            photos, documents = await bot_media(strict, order.chat_id)
            assert (len(photos), len(documents)) == (4, 4)
        calls = [
            c for c in await strict.client.calls(chat_id=orders[0].chat_id) if c["time"] > started
        ]
        assert [c["status"] for c in calls].count(200) == len(calls)  # nothing refused
        assert [r for r in await strict.client.rate_limited() if r["time"] > started] == []
