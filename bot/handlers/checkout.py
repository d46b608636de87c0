"""Style choice, the Stars invoice, pre-checkout verification and the successful payment."""

from __future__ import annotations

import logging

from telegram import Bot, LabeledPrice, Message, Update

from bot.context import StudioContext
from bot.handlers.buttons import button_order, view_for
from bot.keyboards import parse_callback
from bot.packs import find_pack
from bot.payments import refund_order
from bot.texts import format_wait, text
from bot.waiting import place_and_eta
from studio import keys
from studio.domain import Studio
from studio.orders import PAID_STATES, Order, OrderState
from studio.payments import (
    LedgerEntry,
    Outcome,
    PayloadRef,
    sign_payload,
    verify_payload,
)
from studio.queue import enqueue_render

logger = logging.getLogger(__name__)

STARS = "XTR"


async def choose_pack(update: Update, context: StudioContext) -> None:
    """A style-pack button: the order moves to payment and the invoice is sent."""
    query = update.callback_query
    assert query is not None
    studio = context.studio
    view = await view_for(context, query.from_user)
    callback = parse_callback(query.data)
    order = await button_order(context, query, view, callback, OrderState.STYLE)
    if order is None:
        return
    pack = find_pack(callback.args[1]) if len(callback.args) > 1 else None
    if pack is None:
        await query.answer(text(view.lang, "button_stale"), show_alert=True)
        return
    price = studio.settings.price_stars
    moved = await studio.orders.transition(
        order.id, {OrderState.STYLE}, OrderState.PAYMENT, pack=pack.id, price=price
    )
    if not moved:
        await query.answer(text(view.lang, "button_already_done"))
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await context.bot.send_message(
        order.chat_id, text(view.lang, "style_chosen", name=pack.name(view.lang))
    )
    portraits = studio.settings.portraits_per_order
    payload = sign_payload(
        PayloadRef(order.id, view.user_id, price),
        studio.settings.payload_secret.get_secret_value().encode(),
    )
    await context.bot.send_invoice(
        chat_id=order.chat_id,
        title=text(view.lang, "invoice_title"),
        description=text(
            view.lang, "invoice_description", portraits=portraits, pack=pack.name(view.lang)
        ),
        payload=payload,
        currency=STARS,
        prices=[LabeledPrice(text(view.lang, "invoice_label", portraits=portraits), price)],
        provider_token=None,
    )


async def answer_pre_checkout(update: Update, context: StudioContext) -> None:
    """Approve only a genuine, current invoice of this user's order at its price."""
    query = update.pre_checkout_query
    assert query is not None
    studio = context.studio
    view = await view_for(context, query.from_user)
    refusal = await _pre_checkout_refusal(
        studio, query.invoice_payload, query.from_user.id, query.total_amount, query.currency
    )
    if refusal is None:
        await query.answer(ok=True)
        return
    logger.info("pre-checkout refused for user %s: %s", query.from_user.id, refusal)
    await query.answer(ok=False, error_message=text(view.lang, refusal))


async def _pre_checkout_refusal(
    studio: Studio, payload: str, payer: int, amount: int, currency: str
) -> str | None:
    """None to approve, else the text key of the reason."""
    ref = verify_payload(payload, _secret(studio))
    if ref is None:
        return "precheckout_forged"
    if ref.user_id != payer:
        return "precheckout_wrong_user"
    order = await studio.orders.get(ref.order_id)
    if order is None or order.user_id != payer:
        return "precheckout_forged"
    if order.state is not OrderState.PAYMENT:
        return "precheckout_not_payable"
    if currency != STARS or amount != order.price or amount != ref.amount:
        return "precheckout_amount"
    return None


async def receive_payment(update: Update, context: StudioContext) -> None:
    """successful_payment: idempotent on the charge id; paid → ledger, queue, place and ETA."""
    message = update.effective_message
    assert message is not None and message.successful_payment is not None
    payment = message.successful_payment
    await complete_payment(
        context.studio,
        context.bot,
        charge_id=payment.telegram_payment_charge_id,
        payload=payment.invoice_payload,
        amount=payment.total_amount,
        currency=payment.currency,
        user_id=message.chat.id,
    )


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

    Shared by the successful_payment handler and the payments reconciler (jobs/payments.py),
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
