"""The repair chores (the reconcilers) run inside every worker process, beside its jobs.

Why not arq's `cron` on each worker's queue: a cron job is a job on that worker's own queue, and
the render worker runs one job at a time, so its reconciler would wait behind a half-hour render
and would count as a place in the render queue (positions and ETAs read that queue). Here each
chore is a task of the worker process itself, whatever queue it serves:

- one run per period across all workers: the first worker to claim `keys.chore_period(name)`
  (SET NX with the period as TTL) runs it, the others skip that period, like arq's unique cron
  job id `name:<time>`;
- never two runs at once: the run holds `keys.chore_running(name)` (SET NX, a token, the chore's
  timeout as TTL, released by token), so a slow run is not overlapped by the next period's;
- a Redis outage does not end the loop: a failed round is logged and the next one tries again,
  so the reconcilers resume by themselves once Redis is back.

So the reconcilers and the retention chores (purge, interrupted erasures, compaction) live as long
as any worker does: an intake worker that died no longer takes them with it, and a render or
delivery worker alone still purges expired data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jobs.reconcile import reconcile, reconcile_payments
from jobs.resources import RESOURCES, WorkerResources, resources
from jobs.retention import compact_disk, finish_pending_erasures, purge_expired
from studio import keys
from studio.settings import Settings

logger = logging.getLogger(__name__)

TASKS = "maintenance"  # the ctx entry holding the chore tasks
POLL_S = 1.0  # how often each worker looks for a due chore
# Retention's periods: purging scans every open intake (cheap, but no need for more than every
# few minutes); an interrupted erasure is found within a minute; compaction's idle check is one GET.
PURGE_EVERY_S = 300.0
ERASURES_EVERY_S = 60.0
COMPACT_EVERY_S = 10.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Run = Callable[[dict[str, Any]], Awaitable[object]]


@dataclass(frozen=True)
class Chore:
    name: str
    run: Run
    every_s: float
    timeout_s: float
    at_startup: bool = False  # a worker's first round may run it without waiting a period


def chores(settings: Settings) -> tuple[Chore, ...]:
    """The reconcilers, every RECONCILE_INTERVAL_S (the payments one half as often), and
    retention's chores."""
    every = settings.reconcile_interval_s
    return (
        Chore("reconcile", reconcile, every_s=every, timeout_s=120, at_startup=True),
        Chore("reconcile_payments", reconcile_payments, every_s=2 * every, timeout_s=120),
        Chore("purge_expired", purge_expired, PURGE_EVERY_S, timeout_s=300, at_startup=True),
        Chore("finish_pending_erasures", finish_pending_erasures, ERASURES_EVERY_S, 900),
        Chore("compact_disk", compact_disk, COMPACT_EVERY_S, timeout_s=900, at_startup=True),
    )


async def run_chore_once(ctx: dict[str, Any], chore: Chore, worker: str) -> bool:
    """Run `chore` if this period is unclaimed and no other run is live; True when it ran."""
    redis = resources(ctx, WorkerResources).studio.redis
    period_ms = max(1, int(chore.every_s * 1000))
    if not await redis.set(keys.chore_period(chore.name), worker, nx=True, px=period_ms):
        return False
    token = uuid.uuid4().hex
    running = keys.chore_running(chore.name)
    if not await redis.set(running, token, nx=True, px=int(chore.timeout_s * 1000)):
        return False  # the last period's run is still going (in this worker or another)
    try:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the result when the
        # chore finishes as the task is cancelled, so the cancellation is lost and a worker's
        # shutdown waits on a chore loop that no longer stops.
        async with asyncio.timeout(chore.timeout_s):
            outcome = await chore.run(ctx)
        # The outcomes are counts only (never a user or an order), so safe to log.
        logger.debug("chore %s ran in worker %s: %s", chore.name, worker, outcome)
    finally:
        release = redis.register_script(_RELEASE)
        with contextlib.suppress(Exception):  # a lapsed lock expires by itself
            await release(keys=[running], args=[token])
    return True


async def _loop(ctx: dict[str, Any], chore: Chore, worker: str) -> None:
    if not chore.at_startup:
        await asyncio.sleep(chore.every_s)
    while True:
        try:
            await run_chore_once(ctx, chore, worker)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Redis away, Telegram failing, a bug: logged once per round; the loop lives on.
            logger.exception("chore %s failed; it runs again next period", chore.name)
        await asyncio.sleep(POLL_S)


def start_chores(ctx: dict[str, Any]) -> None:
    """Start this worker's chore tasks (after its resources are in ctx)."""
    if RESOURCES not in ctx:
        return
    worker = uuid.uuid4().hex[:12]
    settings = resources(ctx, WorkerResources).settings
    ctx[TASKS] = [
        asyncio.create_task(_loop(ctx, chore, worker), name=f"chore:{chore.name}")
        for chore in chores(settings)
    ]


async def stop_chores(ctx: dict[str, Any]) -> None:
    """Cancel the chore tasks (before the resources they use are closed)."""
    tasks: list[asyncio.Task[None]] = ctx.pop(TASKS, [])
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


Hook = Callable[[dict[str, Any]], Awaitable[None]]


def with_chores(on_startup: Hook, on_shutdown: Hook) -> tuple[Hook, Hook]:
    """on_startup/on_shutdown that also start and stop the chores in this worker."""

    async def startup(ctx: dict[str, Any]) -> None:
        await on_startup(ctx)
        start_chores(ctx)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await stop_chores(ctx)
        await on_shutdown(ctx)

    return startup, shutdown
