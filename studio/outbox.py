"""The outbox: finished portraits waiting, sealed, between the GPU stage and the delivery stage.

The render worker hands an order's images over here and takes the next order; a delivery worker
sends them. Nothing is written to a file: the images live in one Redis hash per order
(`keys.order_outbox`), each sealed under the user's data key (so /delete's key shredding makes
every copy in the AOF unreadable, like the photo records), with a TTL. The whole buffer is
bounded: `keys.DELIVERY_BUFFER` books each order's bytes, and a hand-over that would pass
DELIVERY_BUFFER_MAX_BYTES or DELIVERY_BUFFER_MAX_ORDERS is refused (the render worker waits and
tries again), except when the buffer is empty, so one large order can never block forever.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from studio import keys
from studio.crypto import UserKey
from studio.settings import Settings

TOTAL_FIELD = "total"
_LENGTH = struct.Struct(">I")


@dataclass(frozen=True)
class Portrait:
    """One finished portrait: the album JPEG and the full-resolution PNG."""

    index: int  # 0-based place in the order's set; stable across re-runs
    album_jpeg: bytes
    full_png: bytes

    @property
    def size(self) -> int:
        return len(self.album_jpeg) + len(self.full_png)


# KEYS: buffer hash, outbox hash. ARGV: order id, bytes, max bytes, max orders, ttl ms, now,
# expires at, total, then field/value pairs. Entries past their expiry no longer count (their
# outbox is gone with its TTL) and are dropped here. Returns 1 when stored (or already there).
_PUT = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[2]) == 1 then
  return 1
end
local now = tonumber(ARGV[6])
local used, orders = 0, 0
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  local size, expires = string.match(entries[i + 1], '^(%d+):([%d%.]+)$')
  if entries[i] ~= ARGV[1] then
    if not expires or tonumber(expires) <= now then
      redis.call('HDEL', KEYS[1], entries[i])
    else
      used = used + tonumber(size)
      orders = orders + 1
    end
  end
end
if orders > 0 and (orders >= tonumber(ARGV[4]) or used + tonumber(ARGV[2]) > tonumber(ARGV[3])) then
  return 0
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'total', ARGV[8])
for i = 9, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[7])
return 1
"""


def _field(index: int) -> str:
    return f"p:{index}"


def _aad(order_id: str, index: int) -> str:
    return f"outbox:{order_id}:{index}"


def _pack(portrait: Portrait) -> bytes:
    return _LENGTH.pack(len(portrait.album_jpeg)) + portrait.album_jpeg + portrait.full_png


def _unpack(index: int, raw: bytes) -> Portrait:
    (jpeg_len,) = _LENGTH.unpack_from(raw)
    start = _LENGTH.size
    return Portrait(index, raw[start : start + jpeg_len], raw[start + jpeg_len :])


class Outbox:
    """Sealed, bounded, expiring storage of finished portraits awaiting delivery."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._put = redis.register_script(_PUT)

    @property
    def ttl_s(self) -> float:
        return self._settings.delivery_buffer_ttl_hours * 3600

    async def put(
        self, order_id: str, key: UserKey, portraits: Sequence[Portrait], now: float
    ) -> bool:
        """Store the order's portraits, sealed; False when the buffer is full (try again later)."""
        args: list[str | bytes | int | float] = [
            order_id,
            sum(p.size for p in portraits),
            self._settings.delivery_buffer_max_bytes,
            self._settings.delivery_buffer_max_orders,
            int(self.ttl_s * 1000),
            now,
            now + self.ttl_s,
            len(portraits),
        ]
        for portrait in portraits:
            args += [
                _field(portrait.index),
                key.seal(_aad(order_id, portrait.index), _pack(portrait)),
            ]
        stored = await self._put(
            keys=[keys.DELIVERY_BUFFER, keys.order_outbox(order_id)], args=args
        )
        return bool(stored)

    async def holds(self, order_id: str) -> bool:
        return bool(await self._redis.exists(keys.order_outbox(order_id)))

    async def load(self, order_id: str, key: UserKey) -> list[Portrait] | None:
        """The order's portraits in index order; None when nothing (complete) is held."""
        raw = await self._redis.hgetall(keys.order_outbox(order_id))  # type: ignore[misc]
        total = raw.pop(TOTAL_FIELD.encode(), None)
        if total is None or len(raw) != int(total):
            return None
        out = []
        for index in range(int(total)):
            blob = raw.get(_field(index).encode())
            if blob is None:
                return None
            out.append(_unpack(index, key.open(_aad(order_id, index), blob)))
        return out

    async def drop(self, order_id: str) -> None:
        """Forget the order's images and free its share of the buffer."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.order_outbox(order_id))
            pipe.hdel(keys.DELIVERY_BUFFER, order_id)
            await pipe.execute()

    async def used(self) -> tuple[int, int]:
        """(orders, bytes) the buffer books now, expired entries included until the next put."""
        values = await self._redis.hvals(keys.DELIVERY_BUFFER)  # type: ignore[misc]
        sizes = [int(v.split(b":", 1)[0]) for v in values]
        return len(sizes), sum(sizes)
