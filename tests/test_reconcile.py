"""The reconciler: paid orders always end with a job, a delivery or a refund; never two jobs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arq.constants import job_key_prefix, retry_key_prefix
from telegram.error import NetworkError

from bot.payments import refund_order
from jobs.maintenance import Chore, run_chore_once
from jobs.reconcile import reconcile
from jobs.render_lease import RenderLease, lease_seconds
from jobs.resources import RESOURCES, WorkerResources
from studio import keys
from studio.orders import OrderState
from studio.queue import render_job_exists
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import (
    PACK,
    RenderLive,
    StudioBot,
    bot_media,
    delivery_counts,
    make_paid_order,
    wait_for_state,
)

HOURS = 3600.0


async def test_lost_arq_keys_are_re_enqueued_once_and_delivered_once(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    studio, bot, start_worker = render_live
    order = await make_paid_order(studio, emulator, 1301, pack=PACK)
    # arq's keys for the order vanish (a flushed or failed-over Redis, a bad deploy).
    await studio.redis.delete(job_key_prefix + order.id)
    await studio.redis.zrem(keys.RENDER_QUEUE, order.id)
    assert not await render_job_exists(studio.redis, order.id)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(studio, bot)}

    first = await reconcile(ctx)
    second = await reconcile(ctx)

    assert (first.requeued, second.requeued) == (1, 0)
    assert await studio.redis.zcard(keys.RENDER_QUEUE) == 1
    await start_worker()
    await wait_for_state(studio, order.id, {OrderState.DELIVERED})
    assert await delivery_counts(emulator, 1301) == (1, 4)  # a sheet of 4, a .zip of 4
    assert (await reconcile(ctx)).checked == 0  # delivered orders leave the list


async def test_order_stuck_past_its_deadline_is_refunded(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    studio, bot, _ = render_live
    order = await make_paid_order(studio, emulator, 1302, pack=PACK)
    studio.clock.advance(studio.settings.paid_order_deadline_hours * HOURS + 1)  # type: ignore[attr-defined]

    report = await reconcile({RESOURCES: WorkerResources(studio, bot)})

    assert report.refunded == 1
    after = await studio.orders.get(order.id)
    assert after is not None and after.state is OrderState.REFUNDED and after.refunded
    assert after.failure == "deadline"
    charge = next(c for c in await emulator.client.payments() if c["charge_id"] == order.charge_id)
    assert charge["refunded"]


async def test_a_job_that_ran_out_of_tries_is_refunded(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    studio, bot, start_worker = render_live
    order = await make_paid_order(studio, emulator, 1303, pack=PACK)
    # Every earlier try died with its worker (arq counts a try when it starts one).
    await studio.redis.set(retry_key_prefix + order.id, studio.settings.render_max_tries)
    await start_worker()  # arq refuses the job: "max retries exceeded", result kept
    for _ in range(200):
        if not await render_job_exists(studio.redis, order.id):
            break
        await asyncio.sleep(0.05)

    # The worker's own reconciler (jobs/maintenance.py) may get there first: either way, once.
    report = await reconcile({RESOURCES: WorkerResources(studio, bot)})

    assert report.refunded <= 1 and report.requeued == 0
    after = await studio.orders.get(order.id)
    assert after is not None and after.state is OrderState.REFUNDED
    refunds = await emulator.client.calls("refundStarPayment")
    assert [c["status"] for c in refunds] == [200]
    photos, documents = await bot_media(emulator, 1303)
    assert (photos, documents) == ([], [])


async def test_a_cancelled_order_whose_refund_failed_is_refunded_by_the_next_run(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_paid_order(studio, emulator, 1304, pack=PACK, enqueue=False)
    # /delete (or a payment for a cancelled order) cancels it; its refund fails once.
    assert await studio.orders.withdraw(order.id, "erased")
    await emulator.client.inject_fault("refundStarPayment", count=1, status=500)
    cancelled = await studio.orders.get(order.id)
    assert cancelled is not None
    with pytest.raises(NetworkError):
        await refund_order(studio, bot, cancelled, notify=False)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(studio, bot)}

    first = await reconcile(ctx)
    second = await reconcile(ctx)

    assert (first.refunded, first.archived) == (1, 0)
    assert (second.checked, second.refunded) == (0, 0)
    after = await studio.orders.get(order.id)
    assert after is not None and after.refunded and after.state is OrderState.REFUNDED
    assert await studio.redis.zscore(keys.CLOSED_ORDERS, order.id) is not None
    statuses = [c["status"] for c in await emulator.client.calls("refundStarPayment")]
    assert statuses == [500, 200]
    charge = next(c for c in await emulator.client.payments() if c["charge_id"] == order.charge_id)
    assert charge["refunded"]


async def test_the_deadline_spares_a_render_whose_lease_is_held(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_paid_order(studio, emulator, 1305, pack=PACK)
    assert await studio.orders.claim(order.id, studio.clock.now())
    lease = RenderLease(studio.redis, order.id, lease_seconds(studio.settings))
    assert await lease.acquire()  # a live worker is delivering it right now
    studio.clock.advance(studio.settings.paid_order_deadline_hours * HOURS + 1)  # type: ignore[attr-defined]
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(studio, bot)}

    report = await reconcile(ctx)

    assert report.refunded == 0
    still = await studio.orders.get(order.id)
    assert still is not None and still.state is OrderState.RENDERING and not still.refunded
    await lease.release()  # the worker is gone: now the deadline applies
    assert (await reconcile(ctx)).refunded == 1


# The reconcilers run in every worker (jobs/maintenance.py) ---------------------------------


async def test_a_chore_runs_once_per_period_across_workers(studio_bot: StudioBot) -> None:
    studio, bot = studio_bot
    runs: list[str] = []

    async def count(ctx: dict[str, Any]) -> None:
        runs.append(ctx["who"])

    chore = Chore("test-chore", count, every_s=0.5, timeout_s=5)
    first = {RESOURCES: WorkerResources(studio, bot), "who": "intake"}
    second = {RESOURCES: WorkerResources(studio, bot), "who": "render"}

    assert await run_chore_once(first, chore, "intake")
    assert not await run_chore_once(second, chore, "render")  # this period is taken
    await asyncio.sleep(max(0, await studio.redis.pttl(keys.chore_period(chore.name))) / 1000)
    assert await run_chore_once(second, chore, "render")  # the next period: any worker
    assert runs == ["intake", "render"]


async def test_a_slow_chore_is_never_run_twice_at_once(studio_bot: StudioBot) -> None:
    studio, bot = studio_bot
    release = asyncio.Event()
    live = 0
    most = 0

    async def slow(ctx: dict[str, Any]) -> None:
        nonlocal live, most
        live += 1
        most = max(most, live)
        await release.wait()
        live -= 1

    chore = Chore("slow-chore", slow, every_s=0.01, timeout_s=30)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(studio, bot)}
    running = asyncio.create_task(run_chore_once(ctx, chore, "a"))
    while not live:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the period (10 ms) is over, the run is not
    assert not await run_chore_once(ctx, chore, "b")
    release.set()
    assert await running
    assert most == 1
    assert not await studio.redis.exists(keys.chore_running(chore.name))


async def test_a_render_worker_alone_picks_up_a_paid_order_without_a_job(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    """No intake worker at all: the render worker's own reconciler re-enqueues, then renders."""
    studio, _, start_worker = render_live
    order = await make_paid_order(studio, emulator, 1306, pack=PACK, enqueue=False)
    assert not await render_job_exists(studio.redis, order.id)

    await start_worker()  # reconcile runs at a worker's start (then every 30 s)

    await wait_for_state(studio, order.id, {OrderState.DELIVERED}, timeout=120)
    assert await delivery_counts(emulator, 1306) == (1, 4)
