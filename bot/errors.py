"""The one error handler: log the exception once, tell the user briefly in their language."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.context import StudioContext
from bot.conversation import view_for
from bot.texts import text

logger = logging.getLogger(__name__)


async def report_error(update: object, context: StudioContext) -> None:
    """Log with the traceback; the user gets a short apology instead of silence."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s failed", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        view = await view_for(context, update.effective_user)
        lang = view.lang
    except Exception:  # Redis itself may be what failed; the apology still goes out.
        lang = "en"
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, text(lang, "error_generic"))
    except TelegramError:
        logger.warning("update %s: the apology could not be sent either", update_id)
