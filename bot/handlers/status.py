"""/status and /cancel: what the user's order is doing, and starting the photos over."""

from __future__ import annotations

import logging

from telegram import Update

from bot import payments
from bot.context import StudioContext
from bot.handlers.checkout import send_pack_choice
from bot.intake_status import resend_status
from bot.texts import format_wait, text
from studio.orders import PAID_STATES, PRE_PAYMENT_STATES, Order, OrderState
from studio.photos import PhotoStatus
from studio.queue import place_and_eta

logger = logging.getLogger(__name__)


async def show_status(update: Update, context: StudioContext) -> None:
    """/status: state, photo counts, place and ETA when paid, progress when rendering."""
    message = update.effective_message
    assert message is not None
    studio = context.studio
    view = await context.view()
    order = view.order
    if order is None:
        await message.reply_text(text(view.lang, "status_none"))
        return
    lang = view.lang
    lines = [
        text(lang, "status_order", order_id=order.id, state=text(lang, f"state_{order.state}"))
    ]
    if order.state in PRE_PAYMENT_STATES:
        counts = order.photos
        headshot = {
            None: "headshot_none",
            PhotoStatus.PENDING: "headshot_pending_short",
            PhotoStatus.ACCEPTED: "headshot_accepted_short",
            PhotoStatus.REJECTED: "headshot_rejected_short",
        }[counts.headshot]
        lines.append(
            text(
                lang,
                "status_photos",
                headshot=text(lang, headshot),
                accepted=counts.accepted,
                pending=counts.pending,
                rejected=counts.rejected_total,
            )
        )
    if order.state is OrderState.PAID:
        position, eta = await place_and_eta(studio.redis, studio.settings, order.id)
        if position is not None:
            lines.append(text(lang, "status_queue", position=position, eta=format_wait(lang, eta)))
    if order.state is OrderState.RENDERING:
        # While the inputs download no image is done and the total is not recorded yet; the
        # order's size is known, and "0 of 20" tells the user more than no line at all.
        total = order.progress_total or studio.settings.portraits_per_order
        lines.append(text(lang, "status_progress", done=order.progress_done, total=total))
    await message.reply_text("\n".join(lines))
    await _way_forward(context, order, lang)


async def _way_forward(context: StudioContext, order: Order, lang: str) -> None:
    """Before payment, what the user acts on next, sent afresh: it may never have arrived.

    The intake status message (with Done once enough selfies are in), the style packs, or the
    invoice; a headshot being checked needs nothing from the user.
    """
    if order.state is OrderState.SELFIES:
        await resend_status(context.studio, context.bot, order)
    elif order.state is OrderState.STYLE:
        await send_pack_choice(context.bot, order.chat_id, lang, order.id)
    elif order.state is OrderState.PAYMENT:
        await payments.send_invoice(context.studio, context.bot, order, lang)


async def cancel_order(update: Update, context: StudioContext) -> None:
    """/cancel: drop the unpaid order and its photos, keep consent, start the intake over."""
    message = update.effective_message
    assert message is not None and update.effective_chat is not None
    studio = context.studio
    view = await context.view()
    order = view.order
    if not view.session.consented or order is None or order.state not in PRE_PAYMENT_STATES:
        if order is not None and order.state in PAID_STATES:
            await message.reply_text(text(view.lang, "cancel_paid"))
        else:
            await message.reply_text(text(view.lang, "cancel_nothing"))
        return
    if await studio.orders.cancel(order.id) is None:
        # Paid (or cancelled) a moment ago by another update; its own answer stands.
        await message.reply_text(text(view.lang, "cancel_paid"))
        return
    await studio.sessions.clear_order(view.user_id, order.id)
    logger.info("order %s cancelled by its user", order.id)
    await message.reply_text(text(view.lang, "cancelled"))
    await studio.start_order(view.user_id, update.effective_chat.id, view.lang)
    await message.reply_text(text(view.lang, "ask_headshot"))
