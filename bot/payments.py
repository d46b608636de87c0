"""Stars payments on the Telegram side: completing a charge, failing an order, refunds.

The domain settles a charge (`studio.checkout`); this module tells the user their place in the
queue, or refunds what cannot be served. Exactly one refundStarPayment per order, with a
translated apology. Used by the successful_payment handler, the render worker (an order failed
for good), the reconcilers, and /delete.
"""

from __future__ import annotations

import logging

from telegram import Bot, LabeledPrice, StarTransaction, TransactionPartnerUser
from telegram.error import BadRequest, TelegramError

from bot.packs import find_pack
from bot.style_buttons import invoice_keyboard
from bot.texts import format_wait, text
from studio import keys
from studio.checkout import Charge, Settled, Settlement, record_refund, settle_charge
from studio.domain import Studio
from studio.orders import REFUNDABLE_STATES, Order, OrderState
from studio.payments import Outcome, PayloadRef, link_invoice, sign_payload
from studio.queue import place_and_eta

logger = logging.getLogger(__name__)

STARS = "XTR"
STAR_PAGE = 100  # getStarTransactions' largest limit

_ALREADY_REFUNDED = "charge_already_refunded"


async def send_invoice(
    studio: Studio, bot: Bot, order: Order, lang: str, *, linked: bool = False
) -> bool:
    """The Stars invoice of an order in payment, for its own reference; False if none is due.

    Sent by the pack choice and again by /start and /status (the first one may never have
    arrived). Every copy carries the same signed reference, so any of them pays the order once:
    a second payment finds it paid, is refused at pre-checkout, or is refunded as an extra
    charge. The reference is linked to the order again first, which repairs a link lost to a
    crash between the pack choice and its link, and refuses an order that is gone (`linked`:
    the caller has just linked it).
    """
    pack = find_pack(order.pack)
    if order.state is not OrderState.PAYMENT or not order.invoice_ref or pack is None:
        return False
    if not linked and not await link_invoice(studio.redis, order.id, order.invoice_ref):
        return False
    portraits = studio.settings.portraits_per_order
    payload = sign_payload(
        PayloadRef(order.invoice_ref, order.user_id, order.price),
        studio.settings.payload_secret_bytes,
    )
    await bot.send_invoice(
        chat_id=order.chat_id,
        title=text(lang, "invoice_title"),
        description=text(lang, "invoice_description", portraits=portraits, pack=pack.name(lang)),
        payload=payload,
        currency=STARS,
        prices=[LabeledPrice(text(lang, "invoice_label", portraits=portraits), order.price)],
        provider_token=None,
        reply_markup=invoice_keyboard(lang, order.price, order.id, order.invoice_ref),
    )
    return True


async def fail_order(studio: Studio, bot: Bot, order_id: str, reason: str) -> bool:
    """Mark a paid order failed for good and refund it; False if it was no longer paid."""
    failed = await studio.orders.fail(order_id, reason)
    if failed is None:
        return False
    logger.warning("order %s failed for good: %s", order_id, reason)
    await refund_order(studio, bot, failed)
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
    async with studio.orders.refund_lock(order.id) as held:
        if not held:
            return False
        fresh = await studio.orders.get(order.id)
        if fresh is None or fresh.refunded or fresh.state not in REFUNDABLE_STATES:
            return False
        await _refund_star_payment(bot, fresh)
        await record_refund(studio, fresh)
    logger.info("order %s refunded (%d Stars)", fresh.id, fresh.price)
    if notify:
        await _apologise(bot, fresh)
    return True


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
    listed: bool = False,
) -> Outcome | None:
    """A charge Telegram made: settled in the domain, then the user's place, or a refund.

    Shared by the successful_payment handler and the payments reconciler, and safe to run for
    the same charge any number of times (see `studio.checkout.settle_charge`). Returns PAID when
    the order holds this charge, else REFUNDED (refunded here, or by the caller that recorded it
    first), or None when Telegram does not list the charge (nothing is fulfilled then).

    `listed`: the caller read the charge from Telegram's own history (the reconciler). Otherwise
    (a successful_payment update, which anyone holding the webhook secret could forge) the
    charge is looked up in getStarTransactions first.
    """
    charge = Charge(charge_id, payload, amount, currency, user_id)
    if not listed and not await confirmed_by_telegram(studio, bot, charge):
        await bot.send_message(
            user_id, text(await _lang_of(studio, user_id), "payment_unconfirmed")
        )
        return None
    settlement = await settle_charge(studio, charge)
    if settlement.settled is Settled.PAID:
        if settlement.announce and settlement.order is not None:
            await _announce_place(studio, bot, settlement.order)
        return Outcome.PAID
    if settlement.first:
        await _refund_unservable(studio, bot, charge, settlement)
    return Outcome.REFUNDED


async def _announce_place(studio: Studio, bot: Bot, order: Order) -> None:
    """The user's place and wait, in the message that later shows the render's progress."""
    position, eta = await place_and_eta(studio.redis, studio.settings, order.id)
    lang = order.lang
    if position is None:
        body = text(lang, "payment_received_running")
    else:
        body = text(lang, "payment_received", position=position, eta=format_wait(lang, eta))
    sent = await bot.send_message(order.chat_id, body)
    await studio.orders.set_queue_message(order.id, sent.message_id)


async def _refund_unservable(studio: Studio, bot: Bot, charge: Charge, settled: Settlement) -> None:
    """A charge that matches no order, or an order that can no longer be served."""
    order = settled.order
    if settled.settled is Settled.UNSERVABLE and order is not None:
        # Cancelled meanwhile: the order's own refund path records the charge, refunds once and
        # apologises. Otherwise (paid twice) it is an extra charge.
        charged = await studio.orders.attach_charge(order.id, charge.charge_id, charge.amount)
        if charged is not None:
            if await refund_order(studio, bot, charged, notify=False):
                await bot.send_message(
                    order.chat_id, text(order.lang, "payment_refunded", amount=charge.amount)
                )
            return
        logger.warning("order %s: extra charge refunded (order is %s)", order.id, order.state)
    else:
        logger.error("a payment matches no order of its payer; refunding it")
    await bot.refund_star_payment(
        user_id=charge.user_id, telegram_payment_charge_id=charge.charge_id
    )
    await studio.ledger.close(charge.charge_id, Outcome.REFUNDED, studio.clock.now())
    lang = order.lang if order is not None else "en"
    # Not "payment_refunded": that one says the order was cancelled, and this charge is a
    # second payment or one that matches no order.
    await bot.send_message(
        charge.user_id, text(lang, "payment_refunded_unknown", amount=charge.amount)
    )


async def confirmed_by_telegram(studio: Studio, bot: Bot, charge: Charge) -> bool:
    """Telegram's Stars history lists this charge, paid by this user, for this amount.

    The history is in chronological order, and the charge of a successful_payment is among the
    newest. So the search starts at the place of the charge the last check found, which returns
    only the transactions since, and only if the charge is not from there to the end does it
    look from a page before the payments reconciler's checkpoint up to that place. (From the
    checkpoint alone, every check parsed every transaction since the reconciler's last run: 24 %
    of the bot's CPU samples at saturation in bench/load.py, with 460 payments in its history.)
    A charge not found, or a history that cannot be read now, is left unfulfilled: a real one
    is completed by the payments reconciler once Telegram lists it (jobs/reconcile.py), a
    forged one never is.
    """
    marks = await studio.redis.mget(keys.STAR_TRANSACTIONS_OFFSET, keys.STAR_TRANSACTIONS_SEEN)
    checkpoint, seen = (int(mark or 0) for mark in marks)
    start = max(0, checkpoint - STAR_PAGE)
    try:
        found = await _place_of(bot, charge, max(start, seen), None)
        if found is None and seen > start:
            found = await _place_of(bot, charge, start, seen)
    except TelegramError:
        logger.warning(
            "a successful_payment could not be checked with Telegram now; left to "
            "the payments reconciler",
            exc_info=True,
        )
        return False
    if found is not None:
        if found > seen:
            # Only a starting point: a lower one written by a racing check just searches longer.
            await studio.redis.set(keys.STAR_TRANSACTIONS_SEEN, found)
        return True
    logger.error(
        "ALERT: a successful_payment names a charge Telegram does not list; not fulfilled "
        "(a forged update, or Telegram's history is late: the reconciler completes a real one)"
    )
    return False


async def _place_of(bot: Bot, charge: Charge, offset: int, end: int | None) -> int | None:
    """The place of `charge` in the history, read from `offset` until `end` (or the end of the
    history); None if it is not there."""
    while end is None or offset < end:
        page = (await bot.get_star_transactions(offset=offset, limit=STAR_PAGE)).transactions
        for place, transaction in enumerate(page, start=offset):
            if _is_charge(transaction, charge):
                return place
        if len(page) < STAR_PAGE:
            return None
        offset += len(page)
    return None


def _is_charge(transaction: StarTransaction, charge: Charge) -> bool:
    source = transaction.source
    return (
        transaction.id == charge.charge_id
        and isinstance(source, TransactionPartnerUser)
        and source.user.id == charge.user_id
        and transaction.amount == charge.amount
        and charge.currency == STARS
    )


async def _lang_of(studio: Studio, user_id: int) -> str:
    """The language of the user's current order, else their chosen one, else English."""
    session = await studio.sessions.get(user_id)
    order = await studio.orders.get(session.order_id) if session.order_id else None
    if order is not None:
        return order.lang
    return session.language or "en"
