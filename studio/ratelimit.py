"""Outgoing Bot API rate limits in Redis, shared by every process, in two priorities.

Interactive sends (replies to commands and buttons, the default) reserve their slot (GCRA: a
"theoretical arrival time" per bucket) and then sleep until it; nobody polls and retries. So
interactive sends to one chat leave in the order they asked, across all bot replicas and
workers. The global slot is booked only once the chat's slot has come: a GCRA bucket holds one
arrival time, so booking it for a later moment would spend every slot until then, and one chat
with a backlog (a flooder's replies at ~1/s) would hold up every other chat's sends.

Bulk sends (portrait delivery, see `bot.transport.bulk_sends`) never book ahead: one goes only
when it fits now without putting the chat into debt (the chat's bucket holds its cost, or is
full) and leaves the global bucket `GLOBAL_HEADROOM` of its burst; otherwise it is told how long
to wait and asks again. An interactive reply therefore never queues behind an album: it waits at
most one chat interval, still within Telegram's limits, since both kinds draw on the same
buckets (one limiter, one budget).

Paid broadcasts (`try_paid`, PAID_BROADCAST_STARS_PER_HOUR): in a surge, when the global limit
has held a bulk send back for PAID_BROADCAST_AFTER_S, it may go with `allow_paid_broadcast`,
which Telegram lets pass its 30/s for 0.1 ⭐ a message, up to 1,000/s. It still takes its turn
in the chat's bucket (a chat's own limit does not change) and books its units against the
hour's cap in Stars; past the cap it waits for the free global budget like any bulk send.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from studio import keys
from studio.group_commit import GroupedScript

# KEYS: [1]=chat bucket (may be a dummy when there is no chat), [2]=global bucket.
# ARGV: now, cost, chat interval, chat burst, global interval, global burst, use chat (0/1), ttl ms.
# A bucket's value is its theoretical arrival time (TAT). Like Telegram, a send may go once one
# unit is free (at TAT + interval - burst*interval) and then owes its whole cost: reserving moves
# TAT on by cost*interval, so an album of 10 goes out and the next sends wait it off. The chat
# slot is reserved first. When it is now, the global slot is reserved too; when it is later, the
# global bucket is left alone (booking it ahead would spend all of its slots until then) and the
# caller books it when its chat slot comes. Returns {seconds to wait, global booked (0/1)}.
_RESERVE = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
-- A bucket must outlive its furthest booking, or an expiry would hand out a fresh burst.
local function ttl(tat)
  return math.floor(math.max(tonumber(ARGV[8]), (tat - now) * 1000 + 1000))
end
if ARGV[7] == '1' then
  local interval = tonumber(ARGV[3])
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
  local new_tat = tat + cost * interval
  local at = math.max(now, tat + interval - tonumber(ARGV[4]) * interval)
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl(new_tat))
  if at > now then return {tostring(at - now), 0} end
end
local g_interval = tonumber(ARGV[5])
local g_tat = math.max(tonumber(redis.call('GET', KEYS[2]) or now), now)
local g_new = g_tat + cost * g_interval
local at = math.max(now, g_tat + g_interval - tonumber(ARGV[6]) * g_interval)
redis.call('SET', KEYS[2], tostring(g_new), 'PX', ttl(g_new))
return {tostring(at - now), 1}
"""

# Same KEYS and ARGV as _RESERVE, plus ARGV[9] = global headroom units. Books nothing unless the
# send can go now; returns the seconds until it could (0 when booked).
_TRY_BULK = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local function ttl(tat)
  return math.floor(math.max(tonumber(ARGV[8]), (tat - now) * 1000 + 1000))
end
local wait = 0
local tat = now
if ARGV[7] == '1' then
  local interval = tonumber(ARGV[3])
  local burst = tonumber(ARGV[4])
  tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
  -- The chat's bucket must hold the whole cost (or be full, for a cost above the burst).
  wait = math.max(wait, tat + (math.min(cost, burst) - burst) * interval - now)
end
local g_interval = tonumber(ARGV[5])
local g_burst = tonumber(ARGV[6])
local g_tat = math.max(tonumber(redis.call('GET', KEYS[2]) or now), now)
local g_need = math.min(cost + tonumber(ARGV[9]), g_burst)
wait = math.max(wait, g_tat + (g_need - g_burst) * g_interval - now)
if wait > 0 then return tostring(wait) end
if ARGV[7] == '1' then
  local new_tat = tat + cost * tonumber(ARGV[3])
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl(new_tat))
end
local g_new = g_tat + cost * g_interval
redis.call('SET', KEYS[2], tostring(g_new), 'PX', ttl(g_new))
return '0'
"""

# Part of the global burst that bulk sends leave to interactive ones.
GLOBAL_HEADROOM = 0.2
# What Telegram charges per message sent as a paid broadcast, in tenths of a Star.
PAID_TENTHS_PER_UNIT = 1

# KEYS: [1]=chat bucket, [2]=the hour's paid-broadcast count (tenths of a Star). ARGV: now, cost,
# chat interval, chat burst, use chat (0/1), ttl ms, cap in tenths, count ttl ms. Books the chat's
# slot and the units only when both allow a send now; returns the tenths booked, or 0.
_TRY_PAID = """
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local tat = now
if ARGV[5] == '1' then
  local interval = tonumber(ARGV[3])
  local burst = tonumber(ARGV[4])
  tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
  if tat + (math.min(cost, burst) - burst) * interval - now > 0 then return 0 end
end
local tenths = cost * tonumber(ARGV[9])
local spent = tonumber(redis.call('GET', KEYS[2]) or '0')
if spent + tenths > tonumber(ARGV[7]) then return 0 end
redis.call('SET', KEYS[2], tostring(spent + tenths), 'PX', tonumber(ARGV[8]))
if ARGV[5] == '1' then
  local new_tat = tat + cost * tonumber(ARGV[3])
  local ttl = math.floor(math.max(tonumber(ARGV[6]), (new_tat - now) * 1000 + 1000))
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', ttl)
end
return tenths
"""


@dataclass(frozen=True)
class Booking:
    """What `reserve` booked: sleep `wait` s; then, unless `global_booked`, `reserve_global`."""

    wait: float
    global_booked: bool


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second


class RedisRateLimiter:
    """Global and per-chat limits; `reserve` books a slot and says how long to wait for it."""

    def __init__(
        self,
        redis: Redis,
        global_rate: Rate,
        chat_rate: Rate,
        paid_stars_per_hour: int = 0,
        paid_after_s: float = 2.0,
    ) -> None:
        self._redis = redis
        self._reserve = GroupedScript(redis, _RESERVE)  # every send: grouped with others in flight
        self._try_bulk = redis.register_script(_TRY_BULK)
        self._try_paid = redis.register_script(_TRY_PAID)
        self._global = global_rate
        self._chat = chat_rate
        self._paid_cap_tenths = paid_stars_per_hour * 10
        self.paid_after_s = paid_after_s

    @property
    def pays_in_surges(self) -> bool:
        return self._paid_cap_tenths > 0

    async def reserve(self, chat_id: int | None, now: float, cost: int = 1) -> Booking:
        """Book `cost` units (an album counts per item) in the chat's bucket, and in the global
        one when the chat's slot is now. One round trip, two when the chat must wait."""
        wait, global_booked = await self._reserve(
            keys=self._keys(chat_id), args=self._args(chat_id, now, cost)
        )
        return Booking(max(0.0, float(wait)), bool(int(global_booked)))

    async def reserve_global(self, now: float, cost: int = 1) -> float:
        """Book `cost` units in the global bucket only; the seconds to wait for them."""
        return (await self.reserve(None, now, cost)).wait

    async def try_bulk(self, chat_id: int | None, now: float, cost: int = 1) -> float:
        """0.0 when `cost` units were booked for a send now; else the seconds to wait, unbooked."""
        headroom = max(1, int(self._global.burst * GLOBAL_HEADROOM))
        args = [*self._args(chat_id, now, cost), headroom]
        return max(0.0, float(await self._try_bulk(keys=self._keys(chat_id), args=args)))

    async def try_paid(self, chat_id: int | None, now: float, cost: int = 1) -> bool:
        """True when `cost` units were booked to go now as a paid broadcast (chat slot, Stars)."""
        if not self.pays_in_surges:
            return False
        hour_key = keys.paid_broadcast_units(int(now // 3600))
        args = [
            now,
            cost,
            self._chat.interval,
            self._chat.burst,
            "1" if chat_id is not None else "0",
            int(keys.RATE_BUCKET_TTL.total_seconds() * 1000),
            self._paid_cap_tenths,
            int(keys.PAID_BROADCAST_TTL.total_seconds() * 1000),
            PAID_TENTHS_PER_UNIT,
        ]
        booked = await self._try_paid(keys=[keys.chat_bucket(chat_id or 0), hour_key], args=args)
        return int(booked) > 0

    async def paid_this_hour(self, now: float) -> float:
        """Stars spent on paid broadcasts in the current UTC hour."""
        raw = await self._redis.get(keys.paid_broadcast_units(int(now // 3600)))
        return int(raw or 0) / 10

    def _keys(self, chat_id: int | None) -> list[str]:
        return [keys.chat_bucket(chat_id or 0), keys.GLOBAL_BUCKET]

    def _args(self, chat_id: int | None, now: float, cost: int) -> list[float | int | str]:
        return [
            now,
            cost,
            self._chat.interval,
            self._chat.burst,
            self._global.interval,
            self._global.burst,
            "1" if chat_id is not None else "0",
            int(keys.RATE_BUCKET_TTL.total_seconds() * 1000),
        ]
