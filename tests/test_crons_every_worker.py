"""Retention's chores run in every worker kind, once per period across all workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from jobs.maintenance import COMPACT_EVERY_S
from studio import keys
from studio.clock import ManualClock
from studio.domain import Studio
from studio.orders import OrderState
from studio.photos import PhotoRecord, PhotoRole
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import emulator_settings, open_studio_bot, tiny_model_settings
from worker import build_worker

USER = 5151
ABANDONED_AFTER_S = 25 * 3600  # past the 24 h an open intake is kept


async def _abandoned_intake(studio: Studio, clock: ManualClock) -> str:
    order = await studio.orders.create(USER, USER, "en", clock.now())
    await studio.sessions.set_order(USER, order.id)
    key = await studio.vault.key_for(USER)
    await studio.photos.add(
        order.id, key, PhotoRecord(file_id="F", file_unique_id="U", role=PhotoRole.HEADSHOT)
    )
    clock.advance(ABANDONED_AFTER_S)
    return order.id


async def _purged(studio: Studio, order_id: str, timeout: float = 60.0) -> None:
    async def cancelled() -> None:
        while True:
            order = await studio.orders.get(order_id)
            if order is not None and order.state is OrderState.CANCELLED:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(cancelled(), timeout)


@pytest.fixture
async def start_workers(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> AsyncIterator[Any]:
    settings = emulator_settings(make_settings, emulator, **tiny_model_settings(tiny_models_dir))
    workers: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []

    def start(*kinds: str) -> None:
        for kind in kinds:
            worker = build_worker(kind, settings, burst=False, ctx={"clock": clock})
            workers.append(worker)
            tasks.append(asyncio.create_task(worker.async_run()))

    async with open_studio_bot(settings, clock) as (studio, _):
        yield studio, start
        for worker in workers:
            await worker.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _runs(caplog: pytest.LogCaptureFixture, chore: str) -> list[str]:
    prefix = f"chore {chore} ran in worker "
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


async def _logged(caplog: pytest.LogCaptureFixture, chore: str, timeout: float = 30.0) -> None:
    """The order turns cancelled mid-chore; the chore logs its counts only once every step ran."""

    async def logged() -> None:
        while not _runs(caplog, chore):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(logged(), timeout)


async def test_a_render_worker_alone_purges_an_expired_intake(
    start_workers: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jobs.maintenance")
    studio, start = start_workers
    order_id = await _abandoned_intake(studio, clock)

    start("render")  # no intake worker anywhere

    await _purged(studio, order_id)
    await _logged(caplog, "purge_expired")  # every step has run: photos and session too
    assert not await studio.redis.exists(keys.order_photos(order_id))
    assert (await studio.sessions.get(USER)).order_id == ""
    [run] = _runs(caplog, "purge_expired")
    assert run.endswith(
        "1 intakes purged, 0 orders reduced, 0 ledger entries deleted, 0 idle users erased, "
        "0 kept photo sets expired"
    )


async def test_two_workers_run_each_period_once(
    start_workers: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jobs.maintenance")
    studio, start = start_workers
    order_id = await _abandoned_intake(studio, clock)

    began = asyncio.get_running_loop().time()
    start("render", "delivery")  # both start with this period's purge due

    await _purged(studio, order_id)
    await _logged(caplog, "purge_expired")
    # Both workers have polled several rounds since: the period's claim holds.
    await asyncio.sleep(3)
    runs = _runs(caplog, "purge_expired")
    assert len(runs) == 1, runs
    assert await studio.redis.pttl(keys.chore_period("purge_expired")) > 0
    # Compaction's short period: each of its periods ran at most once across both workers.
    elapsed = asyncio.get_running_loop().time() - began
    compactions = _runs(caplog, "compact_disk")
    assert 1 <= len(compactions) <= int(elapsed // COMPACT_EVERY_S) + 1, (elapsed, compactions)
