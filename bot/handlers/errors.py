"""The one error handler: log the exception once, release the update's dedupe key so a
redelivery is handled again, tell the user briefly in their language."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from telegram import Update
from telegram.error import TelegramError

from bot.context import StudioContext
from bot.handlers.buttons import view_for
from bot.texts import text
from studio import keys

logger = logging.getLogger(__name__)

# The failures of the updates processed inline in this task (see `collect_failures`).
_FAILURES: ContextVar[list[BaseException] | None] = ContextVar("update_failures", default=None)


@contextmanager
def collect_failures() -> Iterator[list[BaseException]]:
    """The errors of updates processed (awaited, in this task) inside the block.

    The webhook processes payment updates inline and answers Telegram non-2xx when one failed,
    so that Telegram delivers it again.
    """
    failures: list[BaseException] = []
    token = _FAILURES.set(failures)
    try:
        yield failures
    finally:
        _FAILURES.reset(token)


async def report_error(update: object, context: StudioContext) -> None:
    """Log with the traceback; the user gets a short apology instead of silence."""
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("update %s failed", update_id, exc_info=context.error)
    failures = _FAILURES.get()
    if failures is not None and context.error is not None:
        failures.append(context.error)
    if update_id is not None:
        await _release_dedupe(context, update_id)
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


async def _release_dedupe(context: StudioContext, update_id: int) -> None:
    """Forget that the update was seen: it was not handled, so a redelivery must be."""
    try:
        await context.studio.redis.delete(keys.update_seen(update_id))
    except Exception:  # Redis may be what failed; the update then stays marked seen.
        logger.warning("update %s: its dedupe key could not be released", update_id)
