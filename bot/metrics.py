"""The bot's update metrics: every update counted by kind and timed from its first handler
group to its last, at the dispatch (two TypeHandlers around every other group)."""

from __future__ import annotations

import time
import weakref

from telegram import Update
from telegram.ext import TypeHandler

from bot.context import StudioApplication, StudioContext
from studio import metrics

# Around every other group: dedupe runs at -1, the handlers at 0.
FIRST_GROUP = -1000
LAST_GROUP = 1000

# PTB builds one context per update and hands it to every group: the start time hangs on it,
# and goes with it (a duplicate stopped at the dedupe never reaches the last group).
_started: weakref.WeakKeyDictionary[StudioContext, float] = weakref.WeakKeyDictionary()


def update_kind(update: Update) -> str:
    """A label with a handful of values: never a user's text or id."""
    if update.callback_query is not None:
        return "button"
    if update.pre_checkout_query is not None:
        return "pre_checkout"
    message = update.message
    if message is None:
        return "other"
    if message.successful_payment is not None:
        return "payment"
    if message.photo:
        return "photo"
    if message.document is not None:
        return "document"
    if message.text is not None:
        return "command" if message.text.startswith("/") else "text"
    return "other_message"


async def start_update_clock(update: Update, context: StudioContext) -> None:
    metrics.UPDATES.labels(update_kind(update)).inc()
    _started[context] = time.perf_counter()


async def stop_update_clock(update: Update, context: StudioContext) -> None:
    started = _started.pop(context, None)
    if started is not None:
        metrics.UPDATE_SECONDS.labels(update_kind(update)).observe(time.perf_counter() - started)


async def count_error(update: object, context: StudioContext) -> None:
    """A second error handler: the first one (bot/handlers/errors.py) reports and answers."""
    error = context.error
    metrics.HANDLER_ERRORS.labels(type(error).__name__ if error else "unknown").inc()


def add_update_metrics(application: StudioApplication) -> None:
    application.add_handler(TypeHandler(Update, start_update_clock), group=FIRST_GROUP)
    application.add_handler(TypeHandler(Update, stop_update_clock), group=LAST_GROUP)
    application.add_error_handler(count_error)  # type: ignore[arg-type]
