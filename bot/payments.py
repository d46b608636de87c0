"""Stars payments on the Telegram side: completing a charge, and refunds.

Refunds in Telegram Stars: exactly one refundStarPayment per order, and a translated apology.

Called by the render worker (an order failed for good), the reconciler (an order stuck past its
deadline), /delete and the conversation (a payment for an order that was cancelled meanwhile).
"""

from __future__ import annotations

import logging

from telegram import Bot, Message
from telegram.error import BadRequest, TelegramError

from bot.texts import format_wait, text
from bot.waiting import place_and_eta
from studio import keys
from studio.domain import Studio
from studio.orders import PAID_STATES, Order, OrderState
from studio.payments import LedgerEntry, Outcome, verify_payload
from studio.queue import enqueue_render

logger = logging.getLogger(__name__)

STARS = "XTR"

# Every state an order with a live charge can be in, except delivered (nothing to refund then).
REFUNDABLE_STATES = frozenset(
    {
        OrderState.PAYMENT,
        OrderState.PAID,
        OrderState.RENDERING,
        OrderState.FAILED,
        OrderState.CANCELLED,
    }
)
_ALREADY_REFUNDED = "charge_already_refunded"


async def fail_order(studio: Studio, bot: Bot, order_id: str, reason: str) -> bool:
    """Mark a paid order failed for good and refund it; False if it was no longer paid."""
    moved = await studio.orders.transition(
        order_id,
        {OrderState.PAID, OrderState.RENDERING},
        OrderState.FAILED,
        failure=reason,
    )
    if not moved:
        return False
    logger.warning("order %s failed for good: %s", order_id, reason)
    order = await studio.orders.get(order_id)
    if order is not None:
        await refund_order(studio, bot, order)
    return True


async def refund_order(studio: Studio, bot: Bot, order: Order, *, notify: bool = True) -> bool:
    """Refund the order's charge once; True only for the call that did it.

    A Redis lock (with a TTL, so a crashed refunder does not block forever) makes concurrent
    callers refund once; the order's `refunded` flag makes later callers do nothing. Telegram's
    CHARGE_ALREADY_REFUNDED counts as done: a refund that went through before a crash is not an
    error on the next attempt. Any other Bot API error propagates, and the lock is released so
    the reconciler (or the caller's retry) tries again.
    """
    if order.refunded or not order.charge_id:
        return False
    lock = keys.refund_lock(order.id)
    ttl = int(keys.REFUND_LOCK_TTL.total_seconds())
    if not await studio.redis.set(lock, b"1", nx=True, ex=ttl):
        return False
    try:
        fresh = await studio.orders.get(order.id)
        if fresh is None or fresh.refunded or fresh.state not in REFUNDABLE_STATES:
            return False
        await _refund_star_payment(bot, fresh)
        now = studio.clock.now()
        await studio.orders.update(fresh.id, refunded=True)
        await studio.orders.transition(fresh.id, REFUNDABLE_STATES, OrderState.REFUNDED)
        await studio.ledger.close(fresh.charge_id, Outcome.REFUNDED, now)
        await archive_order(studio, fresh.id, now)
        # Inputs are kept only until delivery: a refunded order never gets there.
        await studio.orders.remove_photos(fresh.id)
    finally:
        await studio.redis.delete(lock)
    logger.info("order %s refunded (%d Stars)", fresh.id, fresh.price)
    if notify:
        await _apologise(bot, fresh)
    return True


async def archive_order(studio: Studio, order_id: str, now: float) -> None:
    """Move a finished order from the reconciler's list to the retention list."""
    async with studio.redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.PAID_ORDERS, order_id)
        pipe.zadd(keys.CLOSED_ORDERS, {order_id: now})
        pipe.hdel(keys.QUEUE_NOTICES, order_id)
        await pipe.execute()


async def _refund_star_payment(bot: Bot, order: Order) -> None:
    try:
        await bot.refund_star_payment(
            user_id=order.user_id, telegram_payment_charge_id=order.charge_id
        )
    except BadRequest as error:
        if _ALREADY_REFUNDED not in str(error).lower():
            raise
        logger.info("order %s: charge was already refunded", order.id)


async def _apologise(bot: Bot, order: Order) -> None:
    # The refund stands even if the apology cannot be sent (the user may have blocked the bot).
    try:
        await bot.send_message(
            chat_id=order.chat_id,
            text=text(order.lang, "refund_apology", amount=order.price),
        )
    except TelegramError:
        logger.exception("order %s: refund apology not sent", order.id)


async def complete_payment(
    studio: Studio,
    bot: Bot,
    *,
    charge_id: str,
    payload: str,
    amount: int,
    currency: str,
    user_id: int,
) -> Outcome:
    """A charge Telegram made: ledger, paid order, render job and the user's place; or a refund.

    Shared by the successful_payment handler and the payments reconciler (jobs/reconcile.py),
    and safe to run for the same charge any number of times, concurrently too: the ledger's
    first writer owns the refund of an unservable charge, the order's CAS transition lets one
    caller make it paid, and the render job's id is the order id. Returns PAID when the order
    holds this charge, else REFUNDED (refunded here, or by the caller that recorded it first).
    """
    ref = verify_payload(payload, _secret(studio))
    order = await studio.orders.get(ref.order_id) if ref is not None else None
    now = studio.clock.now()
    first = await studio.ledger.record_payment(
        LedgerEntry(
            charge_id=charge_id,
            order_id=order.id if order is not None else "",
            user_id=user_id,
            amount=amount,
            currency=currency,
            paid_at=now,
            outcome=Outcome.PAID,
        )
    )
    if order is None or order.user_id != user_id:
        # Telegram only charges after our pre-checkout approval, so this is not expected.
        logger.error("a payment matches no order of user %s; refunding it", user_id)
        if first:
            await _refund_charge(studio, bot, user_id, charge_id, amount, order)
        return Outcome.REFUNDED
    # The state and the indexes move in one script: a crash cannot leave a paid order that
    # neither the open list (purge) nor the paid list (the reconciler) points at.
    moved = await studio.orders.transition(
        order.id,
        {OrderState.PAYMENT},
        OrderState.PAID,
        move=(keys.OPEN_ORDERS, keys.PAID_ORDERS, now),
        paid_at=now,
        charge_id=charge_id,
    )
    if not moved:
        fresh = await studio.orders.get(order.id)
        assert fresh is not None
        if fresh.charge_id == charge_id:
            # The same payment again (a replayed update): finish what a crash may have cut.
            if fresh.state in PAID_STATES:
                await _queue_order(studio, bot, fresh, announce=fresh.queue_message_id == 0)
                return Outcome.PAID
            return Outcome.REFUNDED if fresh.refunded else Outcome.PAID
        if first:
            await _refund_unservable(studio, bot, fresh, charge_id, amount)
        return Outcome.REFUNDED
    paid = await studio.orders.get(order.id)
    assert paid is not None
    logger.info("order %s paid (%d Stars)", paid.id, amount)
    await _queue_order(studio, bot, paid, announce=True)
    return Outcome.PAID


async def _queue_order(studio: Studio, bot: Bot, order: Order, *, announce: bool) -> None:
    """Enqueue the paid order's one render job, tell the user their place.

    The order was indexed as paid by the same transition that made it paid.
    """
    await enqueue_render(studio.redis, order.id, studio.settings)
    if not announce:
        return
    position, eta = await place_and_eta(studio, order.id)
    lang = order.lang
    if position is None:
        body = text(lang, "payment_received_running")
    else:
        body = text(lang, "payment_received", position=position, eta=format_wait(lang, eta))
    sent: Message = await bot.send_message(order.chat_id, body)
    await studio.orders.update(order.id, queue_message_id=sent.message_id)


async def _refund_unservable(
    studio: Studio, bot: Bot, order: Order, charge_id: str, amount: int
) -> None:
    """A charge for an order that can no longer be served (cancelled meanwhile, or paid twice)."""
    if order.state is OrderState.CANCELLED and not order.charge_id:
        # The order's own refund path: it records the charge, refunds once and apologises.
        await studio.orders.update(order.id, charge_id=charge_id, price=amount)
        fresh = await studio.orders.get(order.id)
        assert fresh is not None
        if await refund_order(studio, bot, fresh, notify=False):
            await bot.send_message(
                order.chat_id, text(order.lang, "payment_refunded", amount=amount)
            )
        return
    logger.warning("order %s: extra charge refunded (order is %s)", order.id, order.state)
    await _refund_charge(studio, bot, order.user_id, charge_id, amount, order)


async def _refund_charge(
    studio: Studio, bot: Bot, user_id: int, charge_id: str, amount: int, order: Order | None
) -> None:
    """Refund a charge that belongs to no servable order, and close its ledger entry."""
    await bot.refund_star_payment(user_id=user_id, telegram_payment_charge_id=charge_id)
    await studio.ledger.close(charge_id, Outcome.REFUNDED, studio.clock.now())
    lang = order.lang if order is not None else "en"
    # Not "payment_refunded": that one says the order was cancelled, and this charge is a
    # second payment or one that matches no order.
    await bot.send_message(user_id, text(lang, "payment_refunded_unknown", amount=amount))


def _secret(studio: Studio) -> bytes:
    return studio.settings.payload_secret.get_secret_value().encode()
