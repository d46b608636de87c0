"""Retention: abandoned intakes lose their photos, old closed orders shrink to the ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from studio.domain import Studio

logger = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    abandoned_intakes: int = 0
    reduced_orders: int = 0
    order_ids: list[str] = field(default_factory=list)


async def purge_expired(studio: Studio) -> RetentionReport:
    """Purge abandoned intakes after INTAKE_TTL_HOURS; reduce closed orders after ORDER_TTL_DAYS."""
    now = studio.clock.now()
    report = RetentionReport()
    intake_cutoff = now - studio.settings.intake_ttl_hours * 3600
    for order_id in await studio.orders.abandoned_intakes(intake_cutoff):
        cancelled = await studio.orders.cancel(order_id, "intake expired")
        if cancelled is None:
            # Gone, or paid meanwhile (its photos are the render's inputs, not ours to purge).
            await studio.orders.reindex(order_id)
            continue
        await studio.sessions.clear_order(cancelled.user_id, order_id)
        report.abandoned_intakes += 1
        report.order_ids.append(order_id)
    closed_cutoff = now - studio.settings.order_ttl_days * 86400
    for order_id in await studio.orders.closed_before(closed_cutoff):
        order = await studio.orders.get(order_id)
        if order is None:
            await studio.orders.unlist(order_id)
        else:
            await studio.orders.reduce(order)
            await studio.sessions.clear_order(order.user_id, order_id)
        report.reduced_orders += 1
        report.order_ids.append(order_id)
    if report.abandoned_intakes or report.reduced_orders:
        logger.info(
            "retention: %d abandoned intakes purged, %d closed orders reduced",
            report.abandoned_intakes,
            report.reduced_orders,
        )
    return report
