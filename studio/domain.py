"""The domain as one handle: its stores and clients, opened once per process and passed down."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from arq.connections import ArqRedis

from studio import keys
from studio.clock import Clock, SystemClock
from studio.crypto import Vault
from studio.group_commit import GroupedScript
from studio.orders import Order, OrderStore
from studio.payments import Ledger, ledger_since
from studio.photos import PhotoStore
from studio.queue import connect_queue
from studio.ratelimit import Rate, RedisRateLimiter
from studio.sessions import Session, SessionStore
from studio.settings import Settings

# The session's hash and its current order's, read together (the order key from the session).
# KEYS: the session. ARGV: the order key's prefix (keys.order).
_USER_STATE = """
local order_id = redis.call('HGET', KEYS[1], 'order_id')
local order = {}
if order_id then
  order = redis.call('HGETALL', ARGV[1] .. order_id)
end
return {redis.call('HGETALL', KEYS[1]), order}
"""


def _pairs(flat: list[Any]) -> dict[bytes, bytes]:
    """HGETALL's reply as a script returns it, [field, value, ...], as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass
class Studio:
    """Everything bot handlers and jobs need from the domain, typed, in one place."""

    settings: Settings
    redis: ArqRedis  # a redis client that can also enqueue arq jobs
    vault: Vault
    orders: OrderStore
    photos: PhotoStore
    sessions: SessionStore
    ledger: Ledger
    limiter: RedisRateLimiter
    clock: Clock
    _user_state: GroupedScript = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Read by nearly every update: calls made together share a round trip.
        self._user_state = GroupedScript(self.redis, _USER_STATE)

    @classmethod
    async def open(cls, settings: Settings, clock: Clock | None = None) -> Studio:
        redis = await connect_queue(settings)
        clock = clock or SystemClock()
        # The first process on a fresh (or emptied) Redis dates its ledger (jobs/reconcile.py).
        await ledger_since(redis, clock.now())
        return cls(
            settings=settings,
            redis=redis,
            vault=Vault(
                redis, settings.master_key_bytes, old_master_keys=settings.old_master_keys_bytes
            ),
            orders=OrderStore(redis, clock),
            photos=PhotoStore(redis),
            sessions=SessionStore(redis),
            ledger=Ledger(redis),
            limiter=RedisRateLimiter(
                redis,
                global_rate=Rate(settings.tg_global_per_second, int(settings.tg_global_per_second)),
                chat_rate=Rate(settings.tg_chat_per_second, settings.tg_chat_burst),
                paid_stars_per_hour=settings.paid_broadcast_stars_per_hour,
                paid_after_s=settings.paid_broadcast_after_s,
            ),
            clock=clock,
        )

    async def start_order(self, user_id: int, chat_id: int, lang: str) -> Order:
        """A fresh order waiting for the headshot, made the user's current one."""
        order = await self.orders.create(user_id, chat_id, lang, self.clock.now())
        await self.sessions.set_order(user_id, order.id)
        return order

    async def user_state(self, user_id: int) -> tuple[Session, Order | None]:
        """The user's session and current order (None if none, or gone), in one round trip."""
        session, order = await self._user_state(keys=[keys.session(user_id)], args=[keys.order("")])
        return SessionStore.parse(user_id, _pairs(session)), (
            Order.from_hash(_pairs(order)) if order else None
        )

    async def close(self) -> None:
        await self.redis.aclose()
