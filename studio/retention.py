"""Retention: abandoned intakes lose their photos, old closed orders shrink to the ledger, old
ledger entries go, idle users are erased, and kept photos (studio/reuse.py) go at their expiry.

Whatever retention deletes is also marked for disk compaction (studio/compaction.py), so it
leaves the AOF and RDB within one run of the compaction cron.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from studio import compaction, keys
from studio.domain import Studio
from studio.erasure import erase_user
from studio.orders import PAID_STATES, Order, OrderState
from studio.reuse import expire_kept

logger = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    abandoned_intakes: int = 0
    reduced_orders: int = 0
    ledger_entries_deleted: int = 0
    idle_users_erased: int = 0
    kept_sets_expired: int = 0
    order_ids: list[str] = field(default_factory=list)


async def purge_expired(studio: Studio) -> RetentionReport:
    """Purge abandoned intakes, reduce closed orders, drop old ledger entries, erase idle users,
    delete kept photos whose period is over."""
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
            if order.invoice_ref:  # first: a crash after it still leaves the order to reduce
                await studio.redis.delete(keys.invoice(order.invoice_ref))
            await studio.orders.reduce(order)
            await studio.ledger.unlink_orders(order.user_id, order_id)
            await studio.sessions.clear_order(order.user_id, order_id)
        report.reduced_orders += 1
        report.order_ids.append(order_id)
    ledger_cutoff = now - studio.settings.ledger_retention_days * 86400
    report.ledger_entries_deleted = await studio.ledger.purge_before(ledger_cutoff)
    report.idle_users_erased = await expire_idle_users(studio)
    report.kept_sets_expired = await expire_kept(studio)
    if any(
        (
            report.abandoned_intakes,
            report.reduced_orders,
            report.ledger_entries_deleted,
            report.idle_users_erased,
            report.kept_sets_expired,
        )
    ):
        await compaction.mark_due(studio.redis)
        logger.info(
            "retention: %d abandoned intakes purged, %d closed orders reduced, "
            "%d ledger entries deleted, %d idle users erased, %d kept photo sets expired",
            report.abandoned_intakes,
            report.reduced_orders,
            report.ledger_entries_deleted,
            report.idle_users_erased,
            report.kept_sets_expired,
        )
    return report


IDLE_BATCH = 500


async def expire_idle_users(studio: Studio) -> int:
    """Erase users with no update for IDLE_USER_DAYS, unless we still owe them an order."""
    cutoff = studio.clock.now() - studio.settings.idle_user_days * 86400
    erased = 0
    start = 0
    while True:
        members = await studio.redis.zrangebyscore(
            keys.ACTIVE_USERS, "-inf", cutoff, start=start, num=IDLE_BATCH
        )
        if not members:
            return erased
        for member in members:
            user_id = int(member)
            orders = await studio.orders.get_many(await studio.sessions.order_ids(user_id))
            if any(order is not None and _owed(order) for order in orders):
                start += 1  # kept on the list, so the next page starts after it
                continue
            await erase_user(studio, user_id)
            erased += 1


def _owed(order: Order) -> bool:
    """Paid and not yet delivered or refunded: the user is owed portraits or their Stars."""
    if order.state in PAID_STATES:
        return True
    return bool(order.charge_id) and not order.refunded and order.state is not OrderState.DELIVERED
