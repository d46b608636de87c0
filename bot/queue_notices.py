"""Live queue position: each waiting user's one status message, edited at sparse thresholds.

When a render starts, everyone behind it moves up one place. Editing all of them would cost
one Bot API call per queued user per render (10,000 users: minutes of the global 30/s budget).
Instead a message is edited only when its position lands on a Fibonacci number (1, 2, 3, 5, 8,
13, ...): at most ~20 edits per render start, whatever the queue length, and a user further
back still sees the number shrink at a pace that matches how far they are from the front.
"""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.client import edit_text
from bot.texts import format_wait, text
from studio import queue, render_workers
from studio.domain import Studio
from studio.orders import Order, OrderState

logger = logging.getLogger(__name__)

MAX_THRESHOLD = 1_000_000


def fibonacci_thresholds(limit: int = MAX_THRESHOLD) -> tuple[int, ...]:
    """1, 2, 3, 5, 8, 13, ... up to `limit`."""
    out = [1, 2]
    while out[-1] + out[-2] <= limit:
        out.append(out[-1] + out[-2])
    return tuple(out)


THRESHOLDS = fibonacci_thresholds()


def position_text(lang: str, position: int, eta_s: float) -> str:
    """The status message a waiting user sees."""
    return text(lang, "queue_notice", position=position, eta=format_wait(lang, eta_s))


async def notify_queue_positions(studio: Studio, bot: Bot) -> int:
    """Edit the status message of each user who now sits on a threshold; the number of edits."""
    redis = studio.redis
    length = await queue.queue_length(redis)
    if not length:
        return 0
    workers = await render_workers.live_render_workers(redis)
    at = await queue.orders_at_positions(redis, [t for t in THRESHOLDS if t <= length], workers)
    if not at:
        return 0
    shown = await queue.shown_positions(redis, list(at.values()))
    edits = 0
    for (position, order_id), last in zip(at.items(), shown, strict=True):
        if last == position:
            continue
        order = await studio.orders.get(order_id)
        if order is None or order.state is not OrderState.PAID or not order.queue_message_id:
            continue
        eta = await queue.eta_seconds(redis, position, studio.settings, workers)
        if await _edit(bot, order, position_text(order.lang, position, eta)):
            edits += 1
        await queue.remember_position(redis, order_id, position)
    return edits


async def _edit(bot: Bot, order: Order, body: str) -> bool:
    # A notice is best effort: a failed edit must never hold up a render.
    try:
        return await edit_text(bot, order.chat_id, order.queue_message_id, body)
    except BadRequest as error:
        logger.warning("order %s: queue notice not edited: %s", order.id, error)
    except TelegramError:
        logger.exception("order %s: queue notice not edited", order.id)
    return False
