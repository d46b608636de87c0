"""The render-worker registry: who is online to render, counted without walking the keyspace.

Each render worker registers its name in one sorted set at start and unregisters at shutdown; it
counts as live while arq refreshes its health key, so a worker that died without a word stops
counting when that key lapses.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from studio import keys

# A registered render worker without a health key yet is still starting for at most this long.
WORKER_START_GRACE_S = 120.0


async def register_render_worker(redis: Redis, name: str) -> None:
    """A render worker says it exists; it counts as live while arq refreshes its health key."""
    await redis.zadd(keys.RENDER_WORKERS, {name: time.time()})


async def unregister_render_worker(redis: Redis, name: str) -> None:
    await redis.zrem(keys.RENDER_WORKERS, name)


async def live_render_workers(redis: Redis) -> int:
    """Registered render workers whose health key is alive: two round trips, no keyspace walk.

    A worker that died without unregistering stops counting when its health key lapses, and is
    dropped from the registry once it has been gone longer than a start takes.
    """
    registered = await redis.zrange(keys.RENDER_WORKERS, 0, -1, withscores=True)
    if not registered:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for name, _ in registered:
            pipe.exists(keys.RENDER_HEALTH_PREFIX + name.decode())
        alive = [bool(x) for x in await pipe.execute()]
    now = time.time()
    gone = [
        name
        for (name, since), up in zip(registered, alive, strict=True)
        if not up and now - since > WORKER_START_GRACE_S
    ]
    if gone:
        await redis.zrem(keys.RENDER_WORKERS, *gone)
    return sum(alive)
