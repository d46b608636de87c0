"""Style choice, the Stars invoice, pre-checkout verification and the successful payment."""

from __future__ import annotations

import logging

from telegram import Bot, Update

from bot import payments
from bot.context import StudioContext
from bot.handlers.buttons import button_order
from bot.kept_photos import keep_offer
from bot.keyboards import PackChoice, packs_keyboard
from bot.packs import find_pack, style_packs
from bot.payments import STARS
from bot.style_buttons import with_samples_button
from bot.texts import text
from studio.domain import Studio
from studio.model_licence import unlicensed_model_files
from studio.orders import PRE_PAYMENT_STATES, OrderState
from studio.payments import invoice_order_id, link_invoice, new_invoice_ref, verify_payload

logger = logging.getLogger(__name__)


async def choose_pack(update: Update, context: StudioContext) -> None:
    """A style-pack button: the order moves to payment and the invoice is sent."""
    query = update.callback_query
    assert query is not None
    studio = context.studio
    view = await context.view()
    choice = PackChoice.parse(query.data)
    order_id = choice.order_id if choice is not None else None
    order = await button_order(context, query, view, order_id, OrderState.STYLE)
    if order is None:
        return
    pack = find_pack(choice.pack_id) if choice is not None else None
    if pack is None:
        await query.answer(text(view.lang, "button_stale"), show_alert=True)
        return
    invoice_ref = new_invoice_ref()
    chosen = await studio.orders.choose_pack(
        order.id, pack.id, studio.settings.price_stars, invoice_ref
    )
    if chosen is None:
        await query.answer(text(view.lang, "button_already_done"))
        return
    if not await link_invoice(studio.redis, order.id, invoice_ref):
        await query.answer(text(view.lang, "button_stale"), show_alert=True)
        return  # erased meanwhile: no invoice for an order that is gone
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    # With it, the opt-in to keep the checked photos after delivery for another style.
    offer, keep_button = keep_offer(studio.settings, view.lang, order.id)
    await context.bot.send_message(
        order.chat_id,
        text(view.lang, "style_chosen", name=pack.name(view.lang)) + offer,
        reply_markup=keep_button,
    )
    await payments.send_invoice(studio, context.bot, chosen, view.lang, linked=True)


async def send_pack_choice(bot: Bot, chat_id: int, lang: str, order_id: str) -> None:
    """The style packs, one button each, for an order that is choosing one."""
    packs = style_packs()
    lines = [text(lang, "choose_style")]
    lines += [
        text(lang, "style_line", name=p.name(lang), description=p.description(lang)) for p in packs
    ]
    keyboard = packs_keyboard(order_id, [(p.id, p.name(lang)) for p in packs])
    await bot.send_message(
        chat_id, "\n".join(lines), reply_markup=with_samples_button(keyboard, lang, order_id)
    )


async def answer_pre_checkout(update: Update, context: StudioContext) -> None:
    """Approve only a genuine, current invoice of this user's order at its price."""
    query = update.pre_checkout_query
    assert query is not None
    studio = context.studio
    view = await context.view()
    unlicensed = unlicensed_model_files(studio.settings)
    if unlicensed:
        # Production on weights a paid service may not run: no charge is taken.
        logger.warning(
            "pre-checkout refused: the %s stack holds non-commercial model files: %s "
            "(set MODEL_LICENCE_CONFIRMED=%s only if you hold a licence for them)",
            studio.settings.model_stack,
            ", ".join(unlicensed),
            studio.settings.model_stack,
        )
        message = text(view.lang, "precheckout_unlicensed", files=", ".join(unlicensed))
        await query.answer(ok=False, error_message=message)
        return
    refusal = await _pre_checkout_refusal(
        studio, query.invoice_payload, query.from_user.id, query.total_amount, query.currency
    )
    if refusal is None:
        await query.answer(ok=True)
        return
    logger.info("pre-checkout refused: %s", refusal)
    await query.answer(ok=False, error_message=text(view.lang, refusal))


async def _pre_checkout_refusal(
    studio: Studio, payload: str, payer: int, amount: int, currency: str
) -> str | None:
    """None to approve, else the text key of the reason."""
    ref = verify_payload(payload, studio.settings.payload_secret_bytes)
    if ref is None:
        return "precheckout_forged"
    if ref.user_id != payer:
        return "precheckout_wrong_user"
    order_id = await invoice_order_id(studio.redis, ref)
    order = await studio.orders.get(order_id) if order_id is not None else None
    if order is None or order.user_id != payer:
        return "precheckout_forged"
    if ref.invoice_ref != order.invoice_ref and order.state in PRE_PAYMENT_STATES:
        # "Change style" replaced this invoice: it would pay for a pack no longer chosen.
        return "precheckout_replaced"
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
    await payments.complete_payment(
        context.studio,
        context.bot,
        charge_id=payment.telegram_payment_charge_id,
        payload=payment.invoice_payload,
        amount=payment.total_amount,
        currency=payment.currency,
        user_id=message.chat.id,
    )
