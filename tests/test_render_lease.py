"""A render whose worker died runs again within seconds of its lease lapsing, never twice at once.

arq alone re-runs a killed worker's job only when its in-progress key expires (job timeout +
10 s). The render lease (jobs/render_lease.py) lets the reconciler see that nobody is rendering.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from jobs.reconcile import reconcile
from jobs.render_lease import lease_seconds
from jobs.resources import RESOURCES, WorkerResources, resources
from studio import keys
from studio.clock import ManualClock
from studio.domain import Studio
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import (
    PACK,
    ROOT,
    bot_media,
    delivered_originals,
    emulator_settings,
    make_paid_order,
    open_studio_bot,
    settings_env,
    tiny_model_settings,
    wait_for_state,
)
from worker import WORKERS, build_worker

LEASE_S = 2
# How long a test waits for a render to reach a step before it gives up: a hang detector only,
# well inside the test timeout; no assertion compares how long a step took.
WAIT_S = 240.0
# Two generator batches of four, slow enough that a kill lands in the middle of the render.
SLOW = {"portraits_per_order": 8, "render_steps": 30, "render_width": 192, "render_height": 240}


@pytest.fixture
def lease_settings(
    make_settings: Any, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return emulator_settings(
        make_settings,
        emulator,
        **{
            **tiny_model_settings(tiny_models_dir),
            **SLOW,
            # arq's own re-run would come only after this (+ 10 s): far beyond any test.
            "render_job_timeout_s": 1800,
            "render_max_tries": 3,
            "render_lease_s": LEASE_S,
        },
    )


@pytest.fixture
async def reconciler(
    lease_settings: Settings, redis: Redis, clock: ManualClock
) -> AsyncIterator[dict[str, Any]]:
    """The reconciler's ctx, as the intake worker builds it."""
    async with open_studio_bot(lease_settings, clock) as (studio, bot):
        yield {RESOURCES: WorkerResources(studio, bot)}


async def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def workers_running(settings: Settings) -> AsyncIterator[None]:
    """A render worker, and the delivery worker where delivery is its own stage."""
    kinds = ["delivery", "render"] if "delivery" in WORKERS else ["render"]
    workers = [build_worker(kind, settings, burst=False, poll_delay=0.05) for kind in kinds]
    tasks = [asyncio.create_task(worker.async_run()) for worker in workers]
    try:
        yield
    finally:
        for worker in workers:
            await worker.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_worker_until(settings: Settings, studio: Studio, order_id: str) -> None:
    async with workers_running(settings):
        await wait_for_state(studio, order_id, {OrderState.DELIVERED}, timeout=WAIT_S)


async def assert_delivered_once(emulator: RunningEmulator, chat_id: int) -> None:
    photos, documents = await bot_media(emulator, chat_id)
    assert (len(photos), len(documents)) == (2, 1)  # two sheets of 4, one .zip
    names = [name for name, _ in await delivered_originals(emulator, chat_id)]
    assert names == [f"portrait-0{i}.png" for i in range(1, 9)]


async def test_sigkilled_render_runs_again_once_its_lease_lapses(
    lease_settings: Settings,
    emulator: RunningEmulator,
    reconciler: dict[str, Any],
) -> None:
    """No step depends on the machine's speed: waits follow Redis's own TTLs and the settings."""
    studio = resources(reconciler, WorkerResources).studio
    redis = studio.redis
    order = await make_paid_order(studio, emulator, 1601, pack=PACK)
    lease_key = keys.render_lease(order.id)
    in_progress_key = in_progress_key_prefix + order.id
    started = time.monotonic()  # before arq could set its in-progress key
    proc = subprocess.Popen(
        [sys.executable, "worker.py", "render"],
        cwd=ROOT,
        env=settings_env(lease_settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        async def generating_under_lease() -> bool:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            current = await studio.orders.get(order.id)
            return (
                current is not None
                and current.progress_done > 0
                and bool(await redis.exists(lease_key))
            )

        try:
            await wait_until(generating_under_lease, WAIT_S, "never generating")
        except AssertionError:
            proc.kill()
            current = await studio.orders.get(order.id)
            stderr = proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            raise AssertionError(f"never generating ({current}): {stderr}") from None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    killed_at = time.monotonic()

    # The dead worker's lease lapses on Redis's clock: wait out what is left of its TTL.
    await asyncio.sleep(max(0, await redis.pttl(lease_key)) / 1000 + 0.05)
    assert not await redis.exists(lease_key)
    # arq on its own would run the job again only when its in-progress key expires: the job
    # timeout + 10 s after the job started, which was after `started`.
    arq_wait_s = await redis.pttl(in_progress_key) / 1000
    in_progress_s = lease_settings.render_job_timeout_s + 10
    assert arq_wait_s >= in_progress_s - (time.monotonic() - started)

    # The first sighting without a lease only marks the job; one a lease TTL later frees it.
    first = await reconcile(reconciler)
    assert first.requeued == 0 and await redis.exists(in_progress_key)
    await asyncio.sleep(lease_seconds(lease_settings) + 0.05)
    freed = (await reconcile(reconciler)).requeued
    assert freed == 1 and not await redis.exists(in_progress_key)

    await run_worker_until(lease_settings, studio, order.id)
    recovered_s = time.monotonic() - killed_at
    await assert_delivered_once(emulator, 1601)
    print(f"\nkill to delivered: {recovered_s:.1f} s (arq alone: {arq_wait_s:.0f} s more)")


async def test_reconciler_never_frees_a_live_render(
    lease_settings: Settings,
    emulator: RunningEmulator,
    reconciler: dict[str, Any],
) -> None:
    studio = resources(reconciler, WorkerResources).studio
    order = await make_paid_order(studio, emulator, 1602, pack=PACK)
    # The run's first input download hangs for three lease TTLs: the render provably lives that
    # long under its lease, however fast the machine.
    hold_s = 3 * LEASE_S
    await emulator.client.inject_fault("getFile", count=1, status=None, delay=hold_s)
    checks = 0
    async with workers_running(lease_settings):
        await wait_for_state(studio, order.id, {OrderState.RENDERING}, timeout=WAIT_S)
        started = time.monotonic()
        # Reconcile far more often than the chore does, while it renders (and delivers).
        while (current := await studio.orders.get(order.id)) and (
            current.state is OrderState.RENDERING
        ):
            report = await reconcile(reconciler)
            assert report.requeued == 0 and report.refunded == 0
            checks += 1
            await asyncio.sleep(0.1)
        rendering_s = time.monotonic() - started
        await wait_for_state(studio, order.id, {OrderState.DELIVERED}, timeout=WAIT_S)
    assert checks > 0 and rendering_s >= hold_s - 1  # several leases (the claim came first)
    await assert_delivered_once(emulator, 1602)
    assert not await studio.redis.exists(keys.render_lease(order.id))


async def test_a_run_waits_for_a_lease_another_run_holds(
    lease_settings: Settings,
    emulator: RunningEmulator,
    reconciler: dict[str, Any],
) -> None:
    studio = resources(reconciler, WorkerResources).studio
    order = await make_paid_order(studio, emulator, 1603, pack=PACK)
    # A stalled run's lease (another token): the new run must not start until it lapses.
    # Taken before the SET: the lease lapses no earlier than this (one clock, Redis's ms).
    lapses_at = time.time() + LEASE_S
    await studio.redis.set(keys.render_lease(order.id), b"stalled-run", px=LEASE_S * 1000)

    async with workers_running(lease_settings):
        done = await wait_for_state(studio, order.id, {OrderState.DELIVERED}, timeout=WAIT_S)
    assert done.delivered_at
    # The render's first Bot API calls fetch its inputs: none before the other lease lapsed.
    calls = await emulator.client.calls("getFile")
    assert calls and min(c["time"] for c in calls) >= lapses_at - 0.001
    await assert_delivered_once(emulator, 1603)
