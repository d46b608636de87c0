"""Erasure on request (/delete, also how consent is withdrawn): every key that names the user.

Erasure deletes every key that names the user and destroys their data key, so sealed copies
elsewhere (AOF, backups) can no longer be read. Only payments-ledger entries remain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from studio import keys, queue
from studio.domain import Studio

logger = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    """What /delete removed, for the confirmation message and the tests."""

    orders: int = 0
    photos: int = 0
    keys_deleted: int = 0
    ledger_entries_kept: int = 0
    order_ids: list[str] = field(default_factory=list)


async def erase_user(studio: Studio, user_id: int) -> ErasureReport:
    """Delete everything that names the user except their ledger entries; shred their key.

    Callers stop running work (`queue.abort_render`) and refund (bot.payments) first, and call
    `sweep_user` after their last message to the user (sending it refills a rate bucket).
    """
    report = ErasureReport(order_ids=await studio.sessions.order_ids(user_id))
    for order in await studio.orders.get_many(report.order_ids):
        if order is not None and order.charge_id:
            report.ledger_entries_kept += 1
    for order_id in report.order_ids:
        report.photos += await studio.photos.count(order_id)
    report.orders = len(report.order_ids)
    await studio.vault.shred(user_id)
    report.keys_deleted = await sweep_user(studio, user_id, report.order_ids)
    logger.info("erased user data: %d orders, %d keys", report.orders, report.keys_deleted)
    return report


async def sweep_user(studio: Studio, user_id: int, order_ids: list[str]) -> int:
    """Delete every key and index entry that names the user or one of their orders."""
    redis = studio.redis
    doomed: set[bytes] = set()
    for order_id in order_ids:
        await studio.orders.unlist(order_id)
        await redis.hdel(keys.QUEUE_NOTICES, order_id)  # type: ignore[misc]
        doomed.update(await queue.forget_order_jobs(redis, order_id))
        doomed.update([k async for k in redis.scan_iter(match=keys.order_pattern(order_id))])
    for pattern in keys.user_key_patterns(user_id):
        doomed.update([key async for key in redis.scan_iter(match=pattern, count=500)])
    return int(await redis.delete(*doomed)) if doomed else 0
