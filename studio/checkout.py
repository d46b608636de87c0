"""A charge Telegram made, settled in the domain: ledger, paid order and render job, in one call.

`settle_charge` is safe to run for the same charge any number of times, concurrently too: the
ledger's first writer owns the refund of an unservable charge, the `pay` transition lets one
caller make the order paid, and the render job's id is the order id. The Telegram side (the
user's place in the queue, or the refund) is `bot.payments`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from studio.domain import Studio
from studio.orders import PAID_STATES, Order
from studio.payments import LedgerEntry, Outcome, invoice_order_id, verify_payload
from studio.queue import enqueue_render

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Charge:
    """One successful Stars payment, as Telegram reports it."""

    charge_id: str
    payload: str
    amount: int
    currency: str
    user_id: int


class Settled(StrEnum):
    PAID = "paid"  # the order holds this charge and its render job is queued
    UNMATCHED = "unmatched"  # the charge matches no order of the payer
    UNSERVABLE = "unservable"  # the order was cancelled meanwhile, or paid with another charge
    REFUNDED = "refunded"  # this charge was already refunded with its order


@dataclass(frozen=True)
class Settlement:
    """What settling a charge did, and what the Telegram side still owes the user."""

    settled: Settled
    order: Order | None
    first: bool  # this call recorded the charge: it owns a refund of an unservable charge
    announce: bool = False  # tell the user their place in the queue (not yet told)


async def settle_charge(studio: Studio, charge: Charge) -> Settlement:
    """Record the charge, make its order paid and queue the render; say what is left to do."""
    ref = verify_payload(charge.payload, studio.settings.payload_secret_bytes)
    order_id = await invoice_order_id(studio.redis, ref)
    order = await studio.orders.get(order_id) if order_id is not None else None
    now = studio.clock.now()
    first = await studio.ledger.record_payment(
        LedgerEntry(
            charge_id=charge.charge_id,
            order_id=order.id if order is not None else "",
            user_id=charge.user_id,
            amount=charge.amount,
            currency=charge.currency,
            paid_at=now,
            outcome=Outcome.PAID,
        )
    )
    if order is None or order.user_id != charge.user_id:
        # Telegram only charges after our pre-checkout approval, so this is not expected.
        logger.error("a payment matches no order of its payer")
        return Settlement(Settled.UNMATCHED, order, first)
    paid = await studio.orders.pay(order.id, charge.charge_id, now)
    if paid is not None:
        logger.info("order %s paid (%d Stars)", paid.id, charge.amount)
        await enqueue_render(studio.redis, paid.id, studio.settings)
        return Settlement(Settled.PAID, paid, first, announce=True)
    current = await studio.orders.get(order.id)
    assert current is not None
    if current.charge_id != charge.charge_id:
        return Settlement(Settled.UNSERVABLE, current, first)
    # The same payment again (a replayed update): finish what a crash may have cut short.
    if current.state in PAID_STATES:
        await enqueue_render(studio.redis, current.id, studio.settings)
        return Settlement(Settled.PAID, current, first, announce=current.queue_message_id == 0)
    if current.refunded:
        return Settlement(Settled.REFUNDED, current, first)
    return Settlement(Settled.PAID, current, first)


async def record_refund(studio: Studio, order: Order) -> Order | None:
    """Telegram refunded the order's charge: the order is closed and the ledger says so."""
    refunded = await studio.orders.refund(order.id, studio.clock.now())
    await studio.ledger.close(order.charge_id, Outcome.REFUNDED, studio.clock.now())
    return refunded
