"""Outgoing Bot API rate limits in Redis, shared by every process, first come first served.

Each send reserves its slot (GCRA: a "theoretical arrival time" per bucket) and then sleeps until
that slot; nobody polls and retries. So sends to one chat leave in the order they asked, across
all bot replicas and workers, and a message that has waited is never overtaken by a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from studio import keys

# KEYS: [1]=chat bucket (may be a dummy when there is no chat), [2]=global bucket.
# ARGV: now, cost, chat interval, chat burst, global interval, global burst, use chat (0/1), ttl ms.
# A bucket's value is its theoretical arrival time (TAT). Like Telegram, a send may go once one
# unit is free (at TAT + interval - burst*interval) and then owes its whole cost: reserving moves
# TAT on by cost*interval, so an album of 10 goes out and the next sends wait it off. The chat
# slot is reserved first; the global slot is reserved for the time the chat allows, so a send
# that waits for its chat does not hold a global slot it cannot use. Returns the seconds to wait.
_RESERVE = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local at = now
-- A bucket must outlive its furthest booking, or an expiry would hand out a fresh burst.
local function ttl(tat)
  return math.floor(math.max(tonumber(ARGV[8]), (tat - now) * 1000 + 1000))
end
if ARGV[7] == '1' then
  local interval = tonumber(ARGV[3])
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
  local new_tat = tat + cost * interval
  at = math.max(now, tat + interval - tonumber(ARGV[4]) * interval)
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl(new_tat))
end
local g_interval = tonumber(ARGV[5])
local g_tat = math.max(tonumber(redis.call('GET', KEYS[2]) or at), at)
local g_new = g_tat + cost * g_interval
at = math.max(at, g_tat + g_interval - tonumber(ARGV[6]) * g_interval)
redis.call('SET', KEYS[2], tostring(g_new), 'PX', ttl(g_new))
return tostring(at - now)
"""


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second


class RedisRateLimiter:
    """Global and per-chat limits; `reserve` books a slot and says how long to wait for it."""

    def __init__(self, redis: Redis, global_rate: Rate, chat_rate: Rate) -> None:
        self._redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._global = global_rate
        self._chat = chat_rate

    async def reserve(self, chat_id: int | None, now: float, cost: int = 1) -> float:
        """Book `cost` units (an album counts per item); sleep the returned seconds, then send."""
        ttl_ms = int(keys.RATE_BUCKET_TTL.total_seconds() * 1000)
        wait = await self._reserve(
            keys=[keys.chat_bucket(chat_id or 0), keys.GLOBAL_BUCKET],
            args=[
                now,
                cost,
                self._chat.interval,
                self._chat.burst,
                self._global.interval,
                self._global.burst,
                "1" if chat_id is not None else "0",
                ttl_ms,
            ],
        )
        return max(0.0, float(wait))
