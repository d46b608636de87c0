"""Live queue position: each waiting user's one status message, edited at sparse thresholds.

When a render starts, everyone behind it moves up one place. Editing all of them would cost
one Bot API call per queued user per render (10,000 users: minutes of the global 30/s budget).
Instead a message is edited only when its position lands on a Fibonacci number (1, 2, 3, 5, 8,
13, ...): at most ~20 edits per render start, whatever the queue length, and a user further
back still sees the number shrink at a pace that matches how far they are from the front.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis
from telegram import Bot
from telegram.error import BadRequest, TelegramError

from bot.texts import format_wait, text
from studio import keys
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.queue import RUNNING_LOOKAHEAD_PER_WORKER, eta_seconds, live_render_workers

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


async def orders_at_positions(
    redis: Redis, positions: Sequence[int], workers: int
) -> dict[int, str]:
    """Order id waiting at each of `positions` (1 = next to start), in three round trips.

    Running jobs stay in arq's sorted set; with one job per worker they sit among the first
    few members, so only that head slice is checked for in-progress keys (as in
    `studio.queue.queue_position`), and every other position is a plain rank offset.
    """
    lookahead = max(1, workers) * RUNNING_LOOKAHEAD_PER_WORKER
    head = [m.decode() for m in await redis.zrange(keys.RENDER_QUEUE, 0, lookahead - 1)]
    if head:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in head:
                pipe.exists(in_progress_key_prefix + job_id)
            running = [bool(x) for x in await pipe.execute()]
    else:
        running = []
    waiting_head = [job_id for job_id, busy in zip(head, running, strict=True) if not busy]
    running_count = sum(running)

    found: dict[int, str] = {}
    deeper: list[int] = []
    for position in positions:
        if position <= len(waiting_head):
            found[position] = waiting_head[position - 1]
        else:
            deeper.append(position)
    if deeper:
        async with redis.pipeline(transaction=False) as pipe:
            for position in deeper:
                rank = position - 1 + running_count
                pipe.zrange(keys.RENDER_QUEUE, rank, rank)
            for position, members in zip(deeper, await pipe.execute(), strict=True):
                if members:
                    found[position] = members[0].decode()
    return found


async def notify_queue_positions(studio: Studio, bot: Bot) -> int:
    """Edit the status message of each user who now sits on a threshold; the number of edits."""
    redis = studio.redis
    length = await redis.zcard(keys.RENDER_QUEUE)
    if not length:
        return 0
    workers = await live_render_workers(redis)
    positions = [t for t in THRESHOLDS if t <= length]
    at = await orders_at_positions(redis, positions, workers)
    if not at:
        return 0
    order_ids = list(at.values())
    shown = await redis.hmget(keys.QUEUE_NOTICES, order_ids)  # type: ignore[misc]
    edits = 0
    for (position, order_id), last in zip(at.items(), shown, strict=True):
        if last is not None and int(last) == position:
            continue
        order = await studio.orders.get(order_id)
        if order is None or order.state is not OrderState.PAID or not order.queue_message_id:
            continue
        eta = await eta_seconds(redis, position, studio.settings, workers)
        if await _edit(bot, order, position_text(order.lang, position, eta)):
            edits += 1
        await redis.hset(keys.QUEUE_NOTICES, order_id, str(position))  # type: ignore[misc]
    return edits


async def _edit(bot: Bot, order: Order, body: str) -> bool:
    # A notice is best effort: a failed edit must never hold up a render.
    try:
        await bot.edit_message_text(
            chat_id=order.chat_id, message_id=order.queue_message_id, text=body
        )
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            logger.warning("order %s: queue notice not edited: %s", order.id, error)
        return False
    except TelegramError:
        logger.exception("order %s: queue notice not edited", order.id)
        return False
    return True
