"""Queue place and wait estimates, as the bot words them."""

from __future__ import annotations

from studio import keys
from studio.domain import Studio
from studio.queue import eta_seconds, live_render_workers, queue_position


async def wait_for_new_order(studio: Studio) -> float:
    """Seconds until a set ordered now would be ready: everyone queued, then this one."""
    queued = int(await studio.redis.zcard(keys.RENDER_QUEUE))
    return await eta_seconds(studio.redis, queued + 1, studio.settings)


async def place_and_eta(studio: Studio, order_id: str) -> tuple[int | None, float]:
    """(place, seconds) for a waiting order; (None, 0) when it is running or not queued."""
    workers = await live_render_workers(studio.redis)
    position = await queue_position(studio.redis, order_id, workers)
    if position is None:
        return None, 0.0
    return position, await eta_seconds(studio.redis, position, studio.settings, workers)
