"""The render-worker registry: who is online to render, counted without walking the keyspace.

Each render worker registers its name in one sorted set at start and unregisters at shutdown; it
counts as live while arq refreshes its health key, so a worker that died without a word stops
counting when that key lapses.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from studio import keys
from studio.group_commit import grouped

# A registered render worker without a health key yet is still starting for at most this long.
WORKER_START_GRACE_S = 120.0


async def register_render_worker(redis: Redis, name: str) -> None:
    """A render worker says it exists; it counts as live while arq refreshes its health key."""
    await redis.zadd(keys.RENDER_WORKERS, {name: time.time()})


async def unregister_render_worker(redis: Redis, name: str) -> None:
    await redis.zrem(keys.RENDER_WORKERS, name)


# KEYS: the registry. ARGV: the health key prefix, now (s), the start grace (s). Counts the
# registered workers whose health key is alive and drops those gone longer than a start takes.
_LIVE = """
local registered = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local alive, gone = 0, {}
for i = 1, #registered, 2 do
  if redis.call('EXISTS', ARGV[1] .. registered[i]) == 1 then
    alive = alive + 1
  elseif tonumber(ARGV[2]) - tonumber(registered[i + 1]) > tonumber(ARGV[3]) then
    gone[#gone + 1] = registered[i]
  end
end
if #gone > 0 then
  redis.call('ZREM', KEYS[1], unpack(gone))
end
return alive
"""


async def live_render_workers(redis: Redis) -> int:
    """Registered render workers whose health key is alive: one script, no keyspace walk.

    A worker that died without unregistering stops counting when its health key lapses, and is
    dropped from the registry once it has been gone longer than a start takes.
    """
    alive = await grouped(redis, _LIVE)(
        keys=[keys.RENDER_WORKERS],
        args=[keys.RENDER_HEALTH_PREFIX, time.time(), WORKER_START_GRACE_S],
    )
    return int(alive)
