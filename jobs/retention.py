"""Retention's chores, run by every worker kind once per period (jobs/maintenance.py); the rules
live in studio/retention.py and studio/compaction.py."""

from __future__ import annotations

from typing import Any

from bot.erasure import stop_orders
from jobs.resources import WorkerResources, resources
from studio import compaction, retention
from studio.erasure import erase_user, finish_erasure, pending_erasures

# An erasure still pending this long after it began lost its process (a live one, aborting a
# render and refunding, takes seconds).
ERASURE_RESUME_AFTER_S = 60.0


async def purge_expired(ctx: dict[str, Any]) -> str:
    """Abandoned intakes, old closed orders and ledger entries, idle users, kept photos."""
    report = await retention.purge_expired(resources(ctx, WorkerResources).studio)
    return (
        f"{report.abandoned_intakes} intakes purged, {report.reduced_orders} orders reduced, "
        f"{report.ledger_entries_deleted} ledger entries deleted, "
        f"{report.idle_users_erased} idle users erased, "
        f"{report.kept_sets_expired} kept photo sets expired"
    )


async def compact_disk(ctx: dict[str, Any]) -> str:
    """Rewrite Redis's files when an erasure since the last compaction left old writes there."""
    studio = resources(ctx, WorkerResources).studio
    done = await compaction.compact_if_due(
        studio.redis, timeout_s=studio.settings.compaction_timeout_s
    )
    if done is None:
        return "disk clean"
    return f"compacted in {done.seconds:.2f} s" if done.ran else "compacted meanwhile"


async def finish_pending_erasures(ctx: dict[str, Any]) -> str:
    """Finish every /delete whose process died midway: stop, refund, erase, compact."""
    res = resources(ctx, WorkerResources)
    studio = res.studio
    users = await pending_erasures(studio, ERASURE_RESUME_AFTER_S)
    for user_id in users:
        await stop_orders(studio, res.bot, user_id)
        report = await erase_user(studio, user_id)
        await finish_erasure(studio, user_id, report.order_ids)
    return f"{len(users)} interrupted erasures finished"
