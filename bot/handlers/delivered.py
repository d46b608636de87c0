"""The buttons under the final delivery message: another style, and the originals again."""

from __future__ import annotations

import logging

from telegram import Update

from bot.context import StudioContext
from bot.delivery import DeliveryLog, resend_originals
from bot.handlers.buttons import first_tap, parse_press
from bot.handlers.onboarding import start
from bot.keyboards import AfterDelivery
from bot.texts import text
from studio.crypto import KeyShredded

logger = logging.getLogger(__name__)


async def answer_after_delivery(update: Update, context: StudioContext) -> None:
    """ "Another style" begins a new set (/start); "originals" sends them again by file id."""
    query = update.callback_query
    assert query is not None
    view = await context.view()
    press = await parse_press(query, view.lang, AfterDelivery.parse)
    if press is None:
        return
    if not await first_tap(context.studio, view.user_id, f"after:{press.choice}:{press.order_id}"):
        await query.answer()
        return
    await query.answer()
    if press.choice == "style":
        await start(update, context)
        return
    await _send_originals_again(update, context, press.order_id, view.user_id, view.lang)


async def _send_originals_again(
    update: Update, context: StudioContext, order_id: str, user_id: int, lang: str
) -> None:
    studio = context.studio
    assert update.effective_chat is not None
    order = await studio.orders.get(order_id)
    files: list[str] = []
    if order is not None and order.user_id == user_id:
        try:
            key = await studio.vault.existing_key(user_id)
            files = await DeliveryLog(studio.redis, order_id).files(key)
        except KeyShredded:
            files = []
    if not files:
        await context.bot.send_message(update.effective_chat.id, text(lang, "originals_again_none"))
        return
    sent = await resend_originals(context.bot, update.effective_chat.id, files)
    logger.info("order %s: %d originals sent again", order_id, sent)
