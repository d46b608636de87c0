"""Retention's cron job on the intake worker (the rules live in studio/retention.py)."""

from __future__ import annotations

from typing import Any

from jobs.resources import WorkerResources, resources
from studio import retention


async def purge_expired(ctx: dict[str, Any]) -> str:
    """Abandoned intakes lose their photos, old closed orders shrink to the ledger."""
    report = await retention.purge_expired(resources(ctx, WorkerResources).studio)
    return f"{report.abandoned_intakes} intakes purged, {report.reduced_orders} orders reduced"
