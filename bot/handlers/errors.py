"""The one error handler: log once, release the update's dedupe key, apologise briefly."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.context import StudioContext
from bot.failures import record_failure
from bot.texts import text
from studio import keys

logger = logging.getLogger(__name__)


async def report_error(update: object, context: StudioContext) -> None:
    """Log with the traceback; the user gets a short apology instead of silence."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s failed", update_id, exc_info=context.error)
    if context.error is not None:
        record_failure(context.error)
    if update_id is not None:
        await _release_dedupe(context, update_id)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        lang = (await context.view()).lang
    except Exception:  # Redis itself may be what failed; the apology still goes out.
        lang = "en"
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await context.bot.send_message(update.effective_chat.id, text(lang, "error_generic"))
    except TelegramError:
        logger.warning("update %s: the apology could not be sent either", update_id)


async def _release_dedupe(context: StudioContext, update_id: int) -> None:
    """Forget that the update was seen: it was not handled, so a redelivery must be."""
    try:
        await context.studio.redis.delete(keys.update_seen(update_id))
    except Exception:  # Redis may be what failed; the update then stays marked seen.
        logger.warning("update %s: its dedupe key could not be released", update_id)
