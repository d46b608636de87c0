"""/status and /cancel: what the user's order is doing, and starting the photos over."""

from __future__ import annotations

import logging

from telegram import Update

from bot.context import StudioContext
from bot.handlers.buttons import start_order
from bot.texts import format_wait, text
from bot.waiting import place_and_eta
from studio import keys
from studio.orders import PAID_STATES, PRE_PAYMENT_STATES, OrderState, PhotoStatus

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
        summary = await studio.orders.summary(order.id, await studio.vault.key_for(view.user_id))
        headshot = {
            None: "headshot_none",
            PhotoStatus.PENDING: "headshot_pending_short",
            PhotoStatus.ACCEPTED: "headshot_accepted_short",
            PhotoStatus.REJECTED: "headshot_rejected_short",
        }[summary.headshot]
        lines.append(
            text(
                lang,
                "status_photos",
                headshot=text(lang, headshot),
                accepted=summary.accepted,
                pending=summary.pending,
                rejected=summary.rejected_total,
            )
        )
    if order.state is OrderState.PAID:
        position, eta = await place_and_eta(studio, order.id)
        if position is not None:
            lines.append(text(lang, "status_queue", position=position, eta=format_wait(lang, eta)))
    if order.state is OrderState.RENDERING:
        # While the inputs download no image is done and the total is not recorded yet; the
        # order's size is known, and "0 of 20" tells the user more than no line at all.
        total = order.progress_total or studio.settings.portraits_per_order
        lines.append(text(lang, "status_progress", done=order.progress_done, total=total))
    await message.reply_text("\n".join(lines))


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
    if not await studio.orders.transition(order.id, PRE_PAYMENT_STATES, OrderState.CANCELLED):
        # Paid (or cancelled) a moment ago by another update; its own answer stands.
        await message.reply_text(text(view.lang, "cancel_paid"))
        return
    await studio.orders.remove_photos(order.id)
    async with studio.redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.OPEN_ORDERS, order.id)
        pipe.zadd(keys.CLOSED_ORDERS, {order.id: studio.clock.now()})
        await pipe.execute()
    await studio.sessions.clear_order(view.user_id, order.id)
    logger.info("order %s cancelled by its user", order.id)
    await message.reply_text(text(view.lang, "cancelled"))
    await start_order(studio, view, update.effective_chat.id)
    await message.reply_text(text(view.lang, "ask_headshot"))
