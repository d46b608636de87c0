"""Erasure, access requests and retention: the data lifecycle the privacy policy promises.

Erasure deletes every key that names the user and destroys their data key, so sealed copies
elsewhere (AOF, backups) can no longer be read. Only payments-ledger entries remain.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix
from arq.utils import timestamp_ms

from studio import keys
from studio.crypto import KeyShredded
from studio.domain import Studio
from studio.orders import PRE_PAYMENT_STATES, OrderState

logger = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    """What /delete removed, for the confirmation message and the tests."""

    orders: int = 0
    photos: int = 0
    keys_deleted: int = 0
    ledger_entries_kept: int = 0
    order_ids: list[str] = field(default_factory=list)


async def abort_render(studio: Studio, order_id: str, wait_s: float = 15.0) -> bool:
    """Take the order's render job out of the queue, or abort it and wait until it has stopped.

    Callers first move the order out of paid/rendering, so a job that slips past this still
    finds nothing to do.
    """
    redis = studio.redis
    running = in_progress_key_prefix + order_id
    if not await redis.exists(running):
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.RENDER_QUEUE, order_id)
            pipe.delete(job_key_prefix + order_id)
            await pipe.execute()
        return True
    await redis.zadd(abort_jobs_ss, {order_id: timestamp_ms()})
    deadline = time.monotonic() + wait_s
    while await redis.exists(running):
        if time.monotonic() > deadline:
            logger.warning("render job %s did not stop within %.0fs", order_id, wait_s)
            return False
        await asyncio.sleep(0.1)
    return True


async def erase_user(studio: Studio, user_id: int) -> ErasureReport:
    """Delete everything that names the user except their ledger entries; shred their key.

    Callers stop running work (abort_render) and refund (bot.payments) first, and call
    `sweep_user` after their last message to the user (sending it refills a rate bucket).
    """
    redis = studio.redis
    report = ErasureReport()
    raw_ids = await redis.smembers(keys.user_orders(user_id))  # type: ignore[misc]
    report.order_ids = sorted(oid.decode() for oid in raw_ids)
    for order_id in report.order_ids:
        order = await studio.orders.get(order_id)
        if order is not None and order.charge_id:
            report.ledger_entries_kept += 1
        report.photos += int(await redis.hlen(keys.order_photos(order_id)))  # type: ignore[misc]
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
        for index in (*keys.ORDER_INDEXES, keys.RENDER_QUEUE):
            await redis.zrem(index, order_id)
        await redis.hdel(keys.QUEUE_NOTICES, order_id)  # type: ignore[misc]
        async for member, _ in redis.zscan_iter(keys.INTAKE_QUEUE, match=f"*:{order_id}:*"):
            await redis.zrem(keys.INTAKE_QUEUE, member)
        for pattern in keys.order_key_patterns(order_id):
            doomed.update([key async for key in redis.scan_iter(match=pattern, count=500)])
    for pattern in keys.user_key_patterns(user_id):
        doomed.update([key async for key in redis.scan_iter(match=pattern, count=500)])
    return int(await redis.delete(*doomed)) if doomed else 0


async def export_user(studio: Studio, user_id: int) -> dict[str, Any]:
    """Everything the service holds about the user, as one JSON-ready document (/mydata)."""
    session = await studio.sessions.get(user_id)
    try:
        key = await studio.vault.existing_key(user_id)
    except KeyShredded:
        key = None
    orders: list[dict[str, Any]] = []
    for raw_id in sorted(await studio.redis.smembers(keys.user_orders(user_id))):  # type: ignore[misc]
        order = await studio.orders.get(raw_id.decode())
        if order is None:
            continue
        photos = await studio.orders.photos(order.id, key) if key is not None else {}
        deliveries = await studio.redis.hgetall(keys.order_deliveries(order.id))  # type: ignore[misc]
        ledger = await studio.ledger.get(order.charge_id) if order.charge_id else None
        orders.append(
            {
                "order": order.to_hash(),
                "photos": [
                    {
                        "role": str(p.role),
                        "status": str(p.status),
                        "reason": p.reason,
                        "received_at": p.received_at,
                        "telegram_file_id": p.file_id,
                        "telegram_file_unique_id": p.file_unique_id,
                        "perceptual_hash": p.fingerprint,
                    }
                    for p in photos.values()
                ],
                "portraits_delivered": len(deliveries),
                "payment": None
                if ledger is None
                else {
                    "charge_id": ledger.charge_id,
                    "telegram_user_id": ledger.user_id,
                    "amount": ledger.amount,
                    "currency": ledger.currency,
                    "paid_at": ledger.paid_at,
                    "outcome": str(ledger.outcome),
                    "closed_at": ledger.closed_at,
                },
            }
        )
    return {
        "user_id": user_id,
        "language": session.language,
        "consent": None
        if session.consent is None
        else {
            "policy_version": session.consent.policy_version,
            "text_sha256": session.consent.text_sha256,
            "agreed_at": session.consent.agreed_at,
        },
        "declined_at": session.declined_at or None,
        "current_order": session.order_id or None,
        "orders": orders,
        "not_stored": [
            "photo bytes (downloaded into memory only while checked or rendered)",
            "face embeddings and identity profiles (computed in memory, never written)",
            "your name or username",
        ],
    }


@dataclass
class RetentionReport:
    abandoned_intakes: int = 0
    reduced_orders: int = 0
    order_ids: list[str] = field(default_factory=list)


async def purge_expired(studio: Studio) -> RetentionReport:
    """Purge abandoned intakes after INTAKE_TTL_HOURS; reduce closed orders after ORDER_TTL_DAYS."""
    now = studio.clock.now()
    redis = studio.redis
    report = RetentionReport()
    intake_cutoff = now - studio.settings.intake_ttl_hours * 3600
    for raw in await redis.zrangebyscore(keys.OPEN_ORDERS, "-inf", intake_cutoff):
        order_id = raw.decode()
        order = await studio.orders.get(order_id)
        await redis.zrem(keys.OPEN_ORDERS, order_id)
        if order is None:
            continue
        cancelled = order.state is OrderState.CANCELLED or await studio.orders.transition(
            order_id, PRE_PAYMENT_STATES, OrderState.CANCELLED, failure="intake expired"
        )
        if not cancelled:
            continue  # paid meanwhile: its photos are the render's inputs, not ours to purge
        await studio.sessions.clear_order(order.user_id, order_id)
        await studio.orders.remove_photos(order_id)
        await redis.zadd(keys.CLOSED_ORDERS, {order_id: now})
        report.abandoned_intakes += 1
        report.order_ids.append(order_id)
    closed_cutoff = now - studio.settings.order_ttl_days * 86400
    for raw in await redis.zrangebyscore(keys.CLOSED_ORDERS, "-inf", closed_cutoff):
        order_id = raw.decode()
        order = await studio.orders.get(order_id)
        await redis.delete(
            keys.order(order_id), keys.order_photos(order_id), keys.order_deliveries(order_id)
        )
        if order is not None:
            await redis.srem(keys.user_orders(order.user_id), order_id)  # type: ignore[misc]
            await studio.sessions.clear_order(order.user_id, order_id)
        await redis.zrem(keys.CLOSED_ORDERS, order_id)
        report.reduced_orders += 1
        report.order_ids.append(order_id)
    if report.abandoned_intakes or report.reduced_orders:
        logger.info(
            "retention: %d abandoned intakes purged, %d closed orders reduced",
            report.abandoned_intakes,
            report.reduced_orders,
        )
    return report


__all__ = [
    "ErasureReport",
    "RetentionReport",
    "abort_render",
    "erase_user",
    "export_user",
    "purge_expired",
    "sweep_user",
]
