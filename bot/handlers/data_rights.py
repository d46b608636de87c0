"""/delete and /mydata: erasure on request (also how consent is withdrawn) and access requests."""

from __future__ import annotations

import json
import logging

from telegram import InputFile, Update

from bot.consent import erase_confirmation
from bot.context import StudioContext
from bot.erasure import stop_orders
from bot.handlers.buttons import first_tap, parse_press
from bot.keyboards import EraseAnswer, erase_keyboard, stop_keeping_keyboard
from bot.texts import text
from studio.erasure import begin_erasure, erase_user, finish_erasure
from studio.export import export_user
from studio.reuse import until_text

logger = logging.getLogger(__name__)


async def ask_delete(update: Update, context: StudioContext) -> None:
    """/delete: say what erasure means, and ask once for confirmation."""
    message = update.effective_message
    assert message is not None
    view = await context.view()
    await message.reply_text(
        erase_confirmation(context.studio.settings, view.lang),
        reply_markup=erase_keyboard(view.lang),
    )


async def answer_delete(update: Update, context: StudioContext) -> None:
    """The confirmation buttons: erase everything, or keep it."""
    query = update.callback_query
    assert query is not None and query.message is not None
    studio = context.studio
    view = await context.view()
    answer = await parse_press(query, view.lang, EraseAnswer.parse)
    if answer is None:
        return
    if answer.choice == "ask":
        await query.answer()
        await context.bot.send_message(
            query.message.chat.id,
            erase_confirmation(context.studio.settings, view.lang),
            reply_markup=erase_keyboard(view.lang),
        )
        return
    if not await first_tap(studio, view.user_id, f"erase:{query.message.message_id}"):
        await query.answer(text(view.lang, "button_already_done"))
        return
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    if answer.choice == "no":
        await context.bot.send_message(query.message.chat.id, text(view.lang, "delete_kept"))
        return
    # Recorded first: if this process dies from here on, the intake worker finishes the erasure.
    await begin_erasure(studio, view.user_id)
    refunded = await stop_orders(studio, context.bot, view.user_id)
    report = await erase_user(studio, view.user_id)
    await context.bot.send_message(
        query.message.chat.id,
        text(
            view.lang,
            "delete_done",
            orders=report.orders,
            photos=report.photos,
            refunded=refunded,
            ledger=report.ledger_entries_kept,
        ),
    )
    # Sending that message refilled the chat's rate bucket, and a photo check that was in
    # flight may have left a status digest: sweep once more so nothing names the user, then
    # have Redis rewrite its files so the deleted writes leave the disk too.
    await finish_erasure(studio, view.user_id, report.order_ids)


async def send_my_data(update: Update, context: StudioContext) -> None:
    """/mydata: everything we hold about the user, as a JSON document."""
    message = update.effective_message
    assert message is not None
    view = await context.view()
    studio = context.studio
    document = await export_user(studio, view.user_id)
    payload = json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode()
    caption = text(view.lang, "mydata_caption")
    kept_until = await studio.photos.kept_until(view.user_id, studio.clock.now())
    if kept_until is not None:  # kept for another style: when they go, and a way to end it now
        caption += "\n\n" + text(view.lang, "mydata_kept", until=until_text(kept_until))
    await message.reply_document(
        InputFile(payload, filename="mydata.json"),
        caption=caption,
        reply_markup=None if kept_until is None else stop_keeping_keyboard(view.lang),
    )
