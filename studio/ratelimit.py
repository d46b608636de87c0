"""A token bucket in Redis, shared by every process that calls the Bot API."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from studio import keys

# KEYS[1]=bucket; ARGV: rate/s, capacity, now (s, float), ttl ms. Takes one token if it can.
# Returns the seconds to wait (0 when the token was taken). Time comes from the caller so a
# test clock works; Redis TIME would be the alternative for skewed hosts.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tostring(wait)
"""


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int


class RedisRateLimiter:
    """Global and per-chat buckets; `delay` says how long to wait before a send may go out."""

    def __init__(self, redis: Redis, global_rate: Rate, chat_rate: Rate) -> None:
        self._redis = redis
        self._take = redis.register_script(_TAKE)
        self._global = global_rate
        self._chat = chat_rate

    async def delay(self, chat_id: int | None, now: float) -> float:
        """Take a token from each bucket that applies; the longest wait if any is empty."""
        ttl_ms = int(keys.RATE_BUCKET_TTL.total_seconds() * 1000)
        wait = float(
            await self._take(
                keys=[keys.GLOBAL_BUCKET],
                args=[self._global.per_second, self._global.burst, now, ttl_ms],
            )
        )
        if chat_id is not None:
            wait = max(
                wait,
                float(
                    await self._take(
                        keys=[keys.chat_bucket(chat_id)],
                        args=[self._chat.per_second, self._chat.burst, now, ttl_ms],
                    )
                ),
            )
        return wait
