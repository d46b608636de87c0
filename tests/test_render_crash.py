"""Workers killed with SIGKILL mid-generation and mid-delivery, and delivery under real limits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.delivery import DeliveryLog
from jobs.reconcile import reconcile
from jobs.resources import RESOURCES, WorkerResources
from studio.clock import ManualClock
from studio.domain import Studio
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator
from tests.render_support import (
    PACK,
    ROOT,
    bot_media,
    delivered_originals,
    delivery_counts,
    emulator_settings,
    make_paid_order,
    open_studio_bot,
    settings_env,
    tiny_model_settings,
    wait_for_state,
)
from worker import build_worker


async def _run_workers_until_delivered(
    settings: Settings, studio: Studio, order_id: str, ctx: dict[str, Any]
) -> None:
    """A render and a delivery worker in process, and the reconciler every half second."""
    workers = [build_worker(kind, settings, burst=False) for kind in ("delivery", "render")]
    tasks = [asyncio.create_task(worker.async_run()) for worker in workers]
    try:
        deadline = time.monotonic() + 60
        while (await studio.orders.get(order_id)).state is not OrderState.DELIVERED:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "never delivered after the kill"
            await reconcile(ctx)  # frees the dead worker's job once its lease has lapsed
            await asyncio.sleep(0.5)
    finally:
        for worker in workers:
            await worker.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _crash_settings(make_settings: Any, emulator: RunningEmulator, models: Path) -> Settings:
    return emulator_settings(  # type: ignore[no-any-return]
        make_settings,
        emulator,
        **{
            **tiny_model_settings(models),
            "render_job_timeout_s": 60,
            "render_max_tries": 3,
            "render_lease_s": 2,
            # A photo per portrait: 4 previews are two albums, so a kill can land between them.
            "preview_per_sheet": 1,
        },
    )


def _spawn(kind: str, settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "worker.py", kind],
        cwd=ROOT,
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _groups_landed(emulator: RunningEmulator, chat_id: int) -> int:
    photos, documents = await bot_media(emulator, chat_id)
    return len({m["media_group_id"] for m in photos + documents})


@pytest.mark.chaos
async def test_sigkill_mid_delivery_then_every_portrait_arrives(
    make_settings: Any,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> None:
    settings = _crash_settings(make_settings, emulator, tiny_models_dir)
    async with open_studio_bot(settings, clock) as (studio, bot):
        ctx = {RESOURCES: WorkerResources(studio, bot)}
        order = await make_paid_order(studio, emulator, 1401, pack=PACK)
        # Each album takes a second at the emulator: the kill lands while the second album has
        # arrived there and is not yet answered, so it still lands after the sender died.
        await emulator.client.inject_fault("sendMediaGroup", count=4, status=None, delay=1.0)
        proc = _spawn("delivery", settings)
        render = _spawn("render", settings)
        try:
            deadline = time.monotonic() + 90
            while True:
                landed = await _groups_landed(emulator, 1401)
                in_flight = await emulator.client.arrivals("sendMediaGroup") - landed
                if landed >= 1 and in_flight >= 1:
                    break
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the worker never delivered"
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            for child in (proc, render):
                child.kill()
                child.wait(timeout=10)
        killed_at = await studio.orders.get(order.id)
        assert killed_at is not None and killed_at.state is OrderState.RENDERING
        assert await DeliveryLog(studio.redis, order.id).fully_sent() is None

        await _run_workers_until_delivered(settings, studio, order.id, ctx)

        await asyncio.sleep(1.5)  # an album the dead worker had in flight may still land
        photos, documents = await bot_media(emulator, 1401)
        names = [name for name, _ in await delivered_originals(emulator, 1401)]
        # Every portrait arrived; only the album in flight at the kill may have come twice
        # (at-least-once: a duplicate rather than a loss), nothing else.
        assert names == [f"portrait-0{i}.png" for i in range(1, 5)]
        assert 4 <= len(photos) <= 4 + 2 and len(documents) == 1
        texts = await emulator.client.texts(1401)
        assert sum(t.startswith("All 4 portraits are here") for t in texts) == 1
        assert await emulator.client.calls("refundStarPayment") == []


@pytest.mark.chaos
async def test_sigkill_mid_generation_then_delivered_once(
    make_settings: Any,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> None:
    settings = _crash_settings(make_settings, emulator, tiny_models_dir)
    async with open_studio_bot(settings, clock) as (studio, bot):
        ctx = {RESOURCES: WorkerResources(studio, bot)}
        order = await make_paid_order(studio, emulator, 1402, pack=PACK)
        render = _spawn("render", settings)
        try:
            deadline = time.monotonic() + 90
            while True:
                current = await studio.orders.get(order.id)
                assert current is not None
                if current.state is OrderState.RENDERING:
                    break
                assert render.poll() is None, render.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the render never started"
                await asyncio.sleep(0.02)
            render.send_signal(signal.SIGKILL)
        finally:
            render.kill()
            render.wait(timeout=10)

        await _run_workers_until_delivered(settings, studio, order.id, ctx)

        assert await delivery_counts(emulator, 1402) == (4, 4)
        texts = await emulator.client.texts(1402)
        assert sum(t.startswith("All 4 portraits are here") for t in texts) == 1


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
        workers = [
            build_worker(kind, settings, burst=False, ctx={"clock": clock})
            for kind in ("delivery", "render")
        ]
        tasks = [asyncio.create_task(worker.async_run()) for worker in workers]
        try:
            for order in orders:
                await wait_for_state(studio, order.id, {OrderState.DELIVERED}, timeout=90)
        finally:
            for worker in workers:
                await worker.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for order in orders:
            assert await delivery_counts(strict, order.chat_id) == (1, 4)
        calls = [
            c for c in await strict.client.calls(chat_id=orders[0].chat_id) if c["time"] > started
        ]
        assert [c["status"] for c in calls].count(200) == len(calls)  # nothing refused
        assert [r for r in await strict.client.rate_limited() if r["time"] > started] == []
