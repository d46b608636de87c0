"""Refunds in Telegram Stars: exactly one refundStarPayment per order, and a translated apology.

Called by the render worker (an order failed for good), the reconciler (an order stuck past its
deadline), /delete and the conversation (a payment for an order that was cancelled meanwhile).
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.texts import text
from studio import keys
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.payments import Outcome

logger = logging.getLogger(__name__)

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
