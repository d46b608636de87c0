"""Erasure on request (/delete, also how consent is withdrawn) and of idle users.

Erasure deletes every key that names the user (and each order's invoice reference mapping, so the
Stars payload Telegram keeps resolves to nothing), destroys their data key and blanks the order
id in their payments-ledger entries; only those entries remain. Deleting is not enough for the
disk: the AOF and RDB keep old writes until Redis rewrites them, so erasure marks a compaction
due before it deletes anything and again after its last write, and `finish_erasure` compacts
(studio/compaction.py; the intake worker's cron compacts any mark left behind).
"""

from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass, field

from redis.asyncio import Redis

from studio import compaction, keys, queue
from studio.domain import Studio

logger = logging.getLogger(__name__)

SCAN_COUNT = 1000


@dataclass
class ErasureReport:
    """What /delete removed, for the confirmation message and the tests."""

    orders: int = 0
    photos: int = 0
    keys_deleted: int = 0
    ledger_entries_kept: int = 0
    order_ids: list[str] = field(default_factory=list)


async def begin_erasure(studio: Studio, user_id: int) -> None:
    """Record that the user asked to be erased, before anything else is done about it.

    If the process dies before `finish_erasure`, the intake worker's cron finishes the job
    (`pending_erasures`); the entry itself goes with the erasure.
    """
    await studio.redis.hset(keys.ERASURES_PENDING, str(user_id), repr(studio.clock.now()))  # type: ignore[misc]
    await compaction.mark_due(studio.redis)


async def pending_erasures(studio: Studio, older_than_s: float) -> list[int]:
    """Users whose erasure began more than `older_than_s` ago and never finished."""
    cutoff = studio.clock.now() - older_than_s
    raw = await studio.redis.hgetall(keys.ERASURES_PENDING)  # type: ignore[misc]
    return sorted(int(user) for user, since in raw.items() if float(since) <= cutoff)


async def erase_user(studio: Studio, user_id: int) -> ErasureReport:
    """Delete everything that names the user except their ledger entries; shred their key.

    Callers stop running work (`queue.abort_render`) and refund (bot.payments) first, and call
    `finish_erasure` after their last message to the user (sending it refills a rate bucket).
    """
    # Durable before the first delete: if this process dies, the cron still compacts.
    await compaction.mark_due(studio.redis)
    report = ErasureReport(order_ids=await studio.sessions.order_ids(user_id))
    for order in await studio.orders.get_many(report.order_ids):
        if order is not None and order.charge_id:
            report.ledger_entries_kept += 1
    for order_id in report.order_ids:
        report.photos += await studio.photos.count(order_id)
    report.photos += await studio.photos.kept_count(user_id)
    report.orders = len(report.order_ids)
    await studio.ledger.unlink_orders(user_id)
    await studio.vault.shred(user_id)
    report.keys_deleted = await sweep_user(studio, user_id, report.order_ids)
    await compaction.mark_due(studio.redis)
    logger.info("erased user data: %d orders, %d keys", report.orders, report.keys_deleted)
    return report


async def finish_erasure(
    studio: Studio, user_id: int, order_ids: list[str]
) -> compaction.Compaction | None:
    """The last sweep, then the disk: compact now (None if it failed; the cron retries)."""
    await sweep_user(studio, user_id, order_ids)
    await studio.redis.hdel(keys.ERASURES_PENDING, str(user_id))  # type: ignore[misc]
    since = await compaction.mark_due(studio.redis)
    try:
        return await compaction.compact(
            studio.redis, since, timeout_s=studio.settings.compaction_timeout_s
        )
    except compaction.CompactionFailed:
        logger.exception("disk compaction after an erasure failed; the cron will retry")
        return None


async def sweep_user(studio: Studio, user_id: int, order_ids: list[str]) -> int:
    """Delete every key and index entry that names the user or one of their orders."""
    redis = studio.redis
    doomed: set[bytes] = set()
    patterns: list[str] = []
    for order in await studio.orders.get_many(order_ids):
        if order is not None and order.invoice_ref:  # what Telegram's copy of the payload names
            doomed.add(keys.invoice(order.invoice_ref).encode())
    for order_id in order_ids:
        await studio.orders.unlist(order_id)
        await redis.hdel(keys.QUEUE_NOTICES, order_id)  # type: ignore[misc]
        # The order's share of the delivery buffer (its sealed outbox goes with order_pattern).
        await redis.hdel(keys.DELIVERY_BUFFER, order_id)  # type: ignore[misc]
        doomed.update(await queue.forget_order_jobs(redis, order_id))
        patterns.append(keys.order_pattern(order_id))
    for pattern in keys.user_key_patterns(user_id):
        if "*" in pattern:
            patterns.append(pattern)
        else:  # an exact name: no need to look for it
            doomed.add(pattern.encode())
    doomed.update(await _matching_keys(redis, patterns))
    deleted = int(await redis.delete(*doomed)) if doomed else 0
    # The kept photos' hash goes with user_key_patterns; its index entry names the user.
    await redis.zrem(keys.KEPT_PHOTOS, str(user_id))
    # Last: an idle erasure cut short here is found (and redone) by the next retention run.
    await redis.zrem(keys.ACTIVE_USERS, str(user_id))
    return deleted


async def _matching_keys(redis: Redis, patterns: list[str]) -> set[bytes]:
    """Keys matching any of the glob patterns, in one walk of the keyspace (not one per pattern).

    A walk costs about a second per million keys, so each pattern matched here rather than in
    its own SCAN saves that on every /delete.
    """
    if not patterns:
        return set()
    if len(patterns) == 1:
        return {key async for key in redis.scan_iter(match=patterns[0], count=SCAN_COUNT)}
    wanted = re.compile("|".join(fnmatch.translate(p) for p in patterns).encode("latin-1"))
    return {key async for key in redis.scan_iter(count=SCAN_COUNT) if wanted.match(key)}
