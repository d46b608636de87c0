"""Around the style choice: the packs' samples on request, and "Change style" on the invoice."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest

from bot.context import StudioContext
from bot.handlers.buttons import button_order, first_tap, parse_press
from bot.handlers.checkout import send_pack_choice
from bot.pack_samples import send_samples
from bot.style_buttons import ChangeStylePress, SamplesPress
from bot.texts import text
from studio.orders import OrderState

logger = logging.getLogger(__name__)


async def show_samples(update: Update, context: StudioContext) -> None:
    """ "See samples" under the packs: one album, one sample per pack; the list stays above."""
    query = update.callback_query
    assert query is not None and query.message is not None
    view = await context.view()
    press = await parse_press(query, view.lang, SamplesPress.parse)
    if press is None:
        return
    order = await button_order(context, query, view, press.order_id, OrderState.STYLE)
    if order is None:
        return
    if not await first_tap(context.studio, view.user_id, f"samples:{query.message.message_id}"):
        await query.answer(text(view.lang, "button_already_done"))
        return
    await query.answer()
    await send_samples(context.studio, context.bot, order.chat_id, view.lang)


async def change_style(update: Update, context: StudioContext) -> None:
    """ "Change style" on the invoice: back to the packs, photos kept; that invoice stops paying."""
    query = update.callback_query
    assert query is not None and query.message is not None
    studio = context.studio
    view = await context.view()
    press = await parse_press(query, view.lang, ChangeStylePress.parse)
    if press is None:
        return
    if not await first_tap(studio, view.user_id, f"restyle:{press.invoice_ref}"):
        await query.answer(text(view.lang, "button_already_done"))
        return
    order = await button_order(context, query, view, press.order_id, OrderState.PAYMENT)
    if order is None:
        return
    if await studio.orders.change_style(order.id, press.invoice_ref) is None:
        # Paid meanwhile, or this is an older invoice than the one out now.
        await query.answer(text(view.lang, "button_stale"), show_alert=True)
        return
    await query.answer(text(view.lang, "style_change_open"))
    try:
        # Gone from the chat; a client still showing it is refused at pre-checkout.
        await context.bot.delete_message(order.chat_id, query.message.message_id)
    except BadRequest as error:
        logger.info("order %s: replaced invoice not deleted: %s", order.id, error)
    await send_pack_choice(context.bot, order.chat_id, view.lang, order.id)
