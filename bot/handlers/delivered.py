"""The buttons under the final delivery message (another style, the originals again), and those
about keeping the checked photos for another style (studio/reuse.py)."""

from __future__ import annotations

import logging

from telegram import Update

from bot.context import StudioContext, UserView
from bot.delivery import DeliveryLog, resend_originals
from bot.handlers.buttons import first_tap, parse_press
from bot.handlers.checkout import send_pack_choice
from bot.handlers.onboarding import start
from bot.kept_photos import keep_offer, reuse_days_text
from bot.keyboards import AfterDelivery, KeepPhotos
from bot.texts import text
from studio.crypto import KeyShredded
from studio.orders import TERMINAL_STATES, OrderState
from studio.reuse import start_from_kept, stop_keeping, until_text

logger = logging.getLogger(__name__)


async def answer_after_delivery(update: Update, context: StudioContext) -> None:
    """ "Another style": a new order on the kept photos, else a new set (/start); "originals":
    sends them again by file id."""
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
        await _another_style(update, context, press.order_id, view)
        return
    await _send_originals_again(update, context, press.order_id, view.user_id, view.lang)


async def _another_style(
    update: Update, context: StudioContext, order_id: str, view: UserView
) -> None:
    """Straight to the pack choice on the kept photos; else the photos are asked for again."""
    studio = context.studio
    assert update.effective_chat is not None
    chat_id = update.effective_chat.id
    busy = view.order is not None and view.order.state not in TERMINAL_STATES
    if not busy and view.session.consented_to(studio.settings.policy_version):
        order = await start_from_kept(studio, view.user_id, chat_id, view.lang)
        if order is not None:
            until = until_text(order.kept_until)
            await context.bot.send_message(
                chat_id,
                text(view.lang, "reuse_started", selfies=order.photos.accepted, until=until),
            )
            await send_pack_choice(context.bot, chat_id, view.lang, order.id)
            return
        pressed = await studio.orders.get(order_id)
        if pressed is not None and pressed.user_id == view.user_id and pressed.kept_until:
            await context.bot.send_message(chat_id, text(view.lang, "kept_photos_gone"))
    await start(update, context)


async def answer_keep_photos(update: Update, context: StudioContext) -> None:
    """Keep the checked photos after delivery (or not), or stop keeping those kept."""
    query = update.callback_query
    assert query is not None
    studio = context.studio
    view = await context.view()
    press = await parse_press(query, view.lang, KeepPhotos.parse)
    if press is None:
        return
    if press.choice == "stop":
        had = await studio.photos.kept_until(view.user_id, 0.0) is not None
        await stop_keeping(studio, view.user_id)
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        assert query.message is not None
        key = "kept_stopped" if had else "kept_stop_none"
        await context.bot.send_message(query.message.chat.id, text(view.lang, key))
        return
    order = await studio.orders.get(press.order_id)
    if order is None or order.user_id != view.user_id or studio.settings.reuse_days <= 0:
        await query.answer(text(view.lang, "button_stale"), show_alert=True)
        return
    keep = press.choice == "yes"
    updated = await studio.orders.ask_to_keep_photos(order.id, keep)
    if updated is None:
        late = order.state is OrderState.DELIVERED
        await query.answer(
            text(view.lang, "keep_too_late" if late else "button_stale"), show_alert=True
        )
        if late:
            await query.edit_message_reply_markup(reply_markup=None)
        return
    days = reuse_days_text(studio.settings)
    await query.answer(text(view.lang, "keep_on" if keep else "keep_off", days=days))
    if order.keep_photos != keep:  # a repeated tap: the button shows this already
        _, keyboard = keep_offer(studio.settings, view.lang, order.id, keeping=keep)
        await query.edit_message_reply_markup(reply_markup=keyboard)


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
