"""Orders: one user's intake, payment and render, and the photos that belong to it.

This module owns the order's life. Every state change is a named transition that runs one Redis
script: it checks the current state, sets the fields, moves the order between the index sets and
returns the new order. Nothing else writes an order's state or touches an index set.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any

from pydantic import Field
from redis.asyncio import Redis

from studio import keys
from studio.clock import Clock, SystemClock
from studio.photos import PhotoCounts
from studio.records import HashRecord


class OrderState(StrEnum):
    HEADSHOT = "headshot"  # waiting for the front-facing headshot
    SELFIES = "selfies"  # collecting selfies
    STYLE = "style"  # enough photos; choosing a style pack
    PAYMENT = "payment"  # invoice sent
    PAID = "paid"  # in the render queue
    RENDERING = "rendering"
    DELIVERED = "delivered"
    FAILED = "failed"  # failed for good; refund pending
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


INTAKE_STATES = frozenset({OrderState.HEADSHOT, OrderState.SELFIES, OrderState.STYLE})
PRE_PAYMENT_STATES = INTAKE_STATES | {OrderState.PAYMENT}
PAID_STATES = frozenset({OrderState.PAID, OrderState.RENDERING})
TERMINAL_STATES = frozenset(
    {OrderState.DELIVERED, OrderState.FAILED, OrderState.REFUNDED, OrderState.CANCELLED}
)
# Every state an order with a live charge can be in, except delivered (nothing to refund then).
REFUNDABLE_STATES = frozenset(
    {
        OrderState.PAYMENT,
        OrderState.PAID,
        OrderState.RENDERING,
        OrderState.FAILED,
        OrderState.CANCELLED,
    }
)


class Order(HashRecord):
    """The plain (non-personal) fields of an order; photos live in their own sealed hash."""

    id: str
    user_id: int
    chat_id: int
    state: OrderState
    created_at: float
    lang: str = "en"
    pack: str = ""
    price: int = 0
    charge_id: str = ""
    invoice_ref: str = ""  # the Stars payload's reference; keys.invoice(ref) -> this order
    paid_at: float = 0.0
    render_started_at: float = 0.0
    delivered_at: float = 0.0
    failure: str = ""
    status_message_id: int = 0  # the one intake status message, edited in place
    queue_message_id: int = 0  # the one queue/progress message
    progress_done: int = 0
    progress_total: int = 0
    refunded: bool = False
    # The user asked to keep the checked photos after delivery (REUSE_DAYS) for another style;
    # without it the delivered transition drops them as always.
    keep_photos: bool = False
    kept_until: float = 0.0  # when the photos this order kept (or reused) expire; 0: none
    photos: PhotoCounts = Field(default_factory=PhotoCounts)


def new_order_id() -> str:
    """Short, unguessable, safe in callback_data, job ids and invoice payloads."""
    return secrets.token_urlsafe(9)


_OPEN_STATES = ",".join(sorted(PRE_PAYMENT_STATES))
_PAID_STATES = ",".join(sorted(PAID_STATES))

# KEYS: order hash, open index, paid index, closed index, photos hash, queue notices hash.
# ARGV: allowed states ("*": any), new state ("": unchanged), order id, now, drop photos (0/1),
# then field/value pairs. After the change the order sits in exactly one index: open before
# payment; paid while paid or rendering, and while it holds a charge that is neither delivered
# nor refunded (so the reconciler sees every refund still owed); closed otherwise.
# Returns {1, HGETALL...} when applied, {0} when the state did not match, {-1} when the order
# does not exist.
_TRANSITION = f"""
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {{-1}} end
local function member(list, value)
  for item in string.gmatch(list, '[^,]+') do
    if item == value then return true end
  end
  return false
end
if ARGV[1] ~= '*' and not member(ARGV[1], state) then return {{0}} end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'state', ARGV[2]) end
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[5] == '1' then redis.call('DEL', KEYS[5]) end
local now = redis.call('HMGET', KEYS[1], 'state', 'charge_id', 'refunded')
local target = KEYS[4]
if member('{_OPEN_STATES}', now[1]) then
  target = KEYS[2]
elseif member('{_PAID_STATES}', now[1]) then
  target = KEYS[3]
elseif (now[2] or '') ~= '' and now[3] ~= '1' and now[1] ~= '{OrderState.DELIVERED}' then
  target = KEYS[3]
end
for i = 2, 4 do
  if KEYS[i] ~= target then redis.call('ZREM', KEYS[i], ARGV[3]) end
end
if not redis.call('ZSCORE', target, ARGV[3]) then redis.call('ZADD', target, ARGV[4], ARGV[3]) end
if target == KEYS[4] then redis.call('HDEL', KEYS[6], ARGV[3]) end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 1)
return out
"""


class OrderStore:
    """Reads orders and moves them through their life, in Redis."""

    def __init__(self, redis: Redis, clock: Clock | None = None) -> None:
        self._redis = redis
        self._clock = clock or SystemClock()
        self._transition = redis.register_script(_TRANSITION)

    async def create(self, user_id: int, chat_id: int, lang: str, now: float) -> Order:
        order = Order(
            id=new_order_id(),
            user_id=user_id,
            chat_id=chat_id,
            state=OrderState.HEADSHOT,
            created_at=now,
            lang=lang,
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.order(order.id), mapping=order.to_hash())  # type: ignore[arg-type,misc]
            pipe.sadd(keys.user_orders(user_id), order.id)
            pipe.zadd(keys.OPEN_ORDERS, {order.id: now})
            await pipe.execute()
        return order

    async def create_from_kept(
        self,
        user_id: int,
        chat_id: int,
        lang: str,
        now: float,
        sealed_photos: Mapping[str, bytes],
        counts: PhotoCounts,
        kept_until: float,
        order_id: str,
    ) -> Order:
        """A new order on photos the user kept: created choosing a style, its photos in place.

        `sealed_photos` are sealed for `order_id` (`PhotoStore.reseal`).
        """
        order = Order(
            id=order_id,
            user_id=user_id,
            chat_id=chat_id,
            state=OrderState.STYLE,
            created_at=now,
            lang=lang,
            kept_until=kept_until,
            photos=counts,
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.order(order.id), mapping=order.to_hash())  # type: ignore[arg-type,misc]
            pipe.hset(keys.order_photos(order.id), mapping=dict(sealed_photos))  # type: ignore[arg-type,misc]
            pipe.sadd(keys.user_orders(user_id), order.id)
            pipe.zadd(keys.OPEN_ORDERS, {order.id: now})
            await pipe.execute()
        return order

    async def get(self, order_id: str) -> Order | None:
        raw = await self._redis.hgetall(keys.order(order_id))  # type: ignore[misc]
        return Order.from_hash(raw) if raw else None

    async def get_many(self, order_ids: Iterable[str]) -> list[Order | None]:
        """The orders, in one round trip (None for each that does not exist)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for order_id in order_ids:
                pipe.hgetall(keys.order(order_id))
            replies = await pipe.execute()
        return [Order.from_hash(raw) if raw else None for raw in replies]

    # Named transitions: each returns the new order, or None when it did not apply ------------

    async def accept_headshot(self, order_id: str) -> Order | None:
        return await self._move(order_id, {OrderState.HEADSHOT}, OrderState.SELFIES)

    async def finish_selfies(self, order_id: str) -> Order | None:
        """The Done button: on to the style packs."""
        return await self._move(order_id, {OrderState.SELFIES}, OrderState.STYLE)

    async def choose_pack(
        self, order_id: str, pack: str, price: int, invoice_ref: str = ""
    ) -> Order | None:
        """On to payment; `invoice_ref` is the reference the invoice payload will carry."""
        return await self._move(
            order_id,
            {OrderState.STYLE},
            OrderState.PAYMENT,
            pack=pack,
            price=price,
            invoice_ref=invoice_ref,
        )

    async def change_style(self, order_id: str, invoice_ref: str) -> Order | None:
        """Back from the invoice of `invoice_ref` to the style packs, photos kept.

        The reference is cleared, so pre-checkout refuses that invoice from now on, even once
        another pack's invoice is out. None unless the order awaits payment of that invoice.
        """
        order = await self.get(order_id)
        if order is None or order.invoice_ref != invoice_ref:
            return None
        return await self._move(
            order_id,
            {OrderState.PAYMENT},
            OrderState.STYLE,
            pack="",
            price=0,
            invoice_ref="",
        )

    async def pay(self, order_id: str, charge_id: str, now: float) -> Order | None:
        """The invoice was paid: into the render queue's list, in the same script."""
        return await self._move(
            order_id,
            {OrderState.PAYMENT},
            OrderState.PAID,
            now=now,
            paid_at=now,
            charge_id=charge_id,
        )

    async def claim(self, order_id: str, now: float) -> Order | None:
        """A render run takes the paid order; a retry finds it rendering already."""
        claimed = await self._move(
            order_id,
            {OrderState.PAID},
            OrderState.RENDERING,
            render_started_at=now,
            progress_done=0,
        )
        if claimed is not None:
            return claimed
        order = await self.get(order_id)
        return order if order is not None and order.state is OrderState.RENDERING else None

    async def record_progress(self, order_id: str, done: int, total: int) -> Order | None:
        """Only while rendering: a late report never touches a withdrawn or erased order."""
        return await self._move(
            order_id,
            {OrderState.RENDERING},
            OrderState.RENDERING,
            progress_done=done,
            progress_total=total,
        )

    async def deliver(self, order_id: str, now: float) -> Order | None:
        """Every portrait sent: closed, and the input photos forgotten."""
        return await self._move(
            order_id,
            {OrderState.RENDERING},
            OrderState.DELIVERED,
            now=now,
            drop_photos=True,
            delivered_at=now,
        )

    async def ask_to_keep_photos(self, order_id: str, keep: bool) -> Order | None:
        """The opt-in (or its undo) to keep the checked photos after delivery; until delivered."""
        return await self._move(
            order_id,
            {OrderState.PAYMENT, OrderState.PAID, OrderState.RENDERING},
            None,
            keep_photos=keep,
        )

    async def fail(self, order_id: str, reason: str) -> Order | None:
        """Failed for good; it stays on the paid list until its refund went through."""
        return await self._move(order_id, PAID_STATES, OrderState.FAILED, failure=reason)

    async def cancel(self, order_id: str, reason: str = "") -> Order | None:
        """An unpaid order is dropped with its photos (/cancel, abandoned intake)."""
        return await self._move(
            order_id, PRE_PAYMENT_STATES, OrderState.CANCELLED, drop_photos=True, failure=reason
        )

    async def withdraw(self, order_id: str, reason: str) -> Order | None:
        """/delete: cancel a live order, paid or not; a render that slips past finds nothing."""
        return await self._move(
            order_id, PRE_PAYMENT_STATES | PAID_STATES, OrderState.CANCELLED, failure=reason
        )

    async def attach_charge(self, order_id: str, charge_id: str, price: int) -> Order | None:
        """A payment that arrived for an order cancelled meanwhile: recorded, to be refunded."""
        order = await self.get(order_id)
        if order is None or order.state is not OrderState.CANCELLED or order.charge_id:
            return None
        return await self._move(
            order_id,
            {OrderState.CANCELLED},
            OrderState.CANCELLED,
            charge_id=charge_id,
            price=price,
        )

    async def refund(self, order_id: str, now: float) -> Order | None:
        """The charge went back to the user: closed, and the inputs forgotten."""
        return await self._move(
            order_id,
            REFUNDABLE_STATES,
            OrderState.REFUNDED,
            now=now,
            drop_photos=True,
            refunded=True,
        )

    # Plain fields (never re-create an erased order) ------------------------------------------

    async def set_status_message(self, order_id: str, message_id: int) -> None:
        await self._move(order_id, None, None, status_message_id=message_id)

    async def set_queue_message(self, order_id: str, message_id: int) -> None:
        await self._move(order_id, None, None, queue_message_id=message_id)

    async def set_language(self, order_id: str, lang: str) -> None:
        await self._move(order_id, None, None, lang=lang)

    @asynccontextmanager
    async def refund_lock(self, order_id: str) -> AsyncIterator[bool]:
        """True when this caller holds the order's refund lock (it lapses if the holder dies)."""
        lock = keys.refund_lock(order_id)
        ttl = int(keys.REFUND_LOCK_TTL.total_seconds())
        held = bool(await self._redis.set(lock, b"1", nx=True, ex=ttl))
        try:
            yield held
        finally:
            if held:
                await self._redis.delete(lock)

    # Index lists for the cron jobs ----------------------------------------------------------

    async def paid_order_ids(self) -> list[str]:
        """Orders holding a charge not yet delivered or refunded (the reconciler's list)."""
        return [m.decode() for m in await self._redis.zrange(keys.PAID_ORDERS, 0, -1)]

    async def abandoned_intakes(self, cutoff: float) -> list[str]:
        """Unpaid orders whose last upload is older than `cutoff`."""
        raw = await self._redis.zrangebyscore(keys.OPEN_ORDERS, "-inf", cutoff)
        return [m.decode() for m in raw]

    async def closed_before(self, cutoff: float) -> list[str]:
        raw = await self._redis.zrangebyscore(keys.CLOSED_ORDERS, "-inf", cutoff)
        return [m.decode() for m in raw]

    async def reindex(self, order_id: str) -> None:
        """Put the order on the one list its state belongs on (an erased order on none)."""
        if await self._move(order_id, None, None) is None:
            await self.unlist(order_id)

    async def unlist(self, order_id: str) -> None:
        """Drop an index entry whose order is gone or no longer belongs on that list."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for index in keys.ORDER_INDEXES:
                pipe.zrem(index, order_id)
            await pipe.execute()

    async def reduce(self, order: Order) -> None:
        """Retention: a closed order leaves nothing but its ledger entry."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(
                keys.order(order.id), keys.order_photos(order.id), keys.order_deliveries(order.id)
            )
            pipe.srem(keys.user_orders(order.user_id), order.id)
            pipe.zrem(keys.CLOSED_ORDERS, order.id)
            await pipe.execute()

    async def delivery_records(self, order_id: str) -> int:
        return int(await self._redis.hlen(keys.order_deliveries(order_id)))  # type: ignore[misc]

    # ----------------------------------------------------------------------------------------

    async def _move(
        self,
        order_id: str,
        allowed: Iterable[OrderState] | None,
        to: OrderState | None,
        *,
        now: float | None = None,
        drop_photos: bool = False,
        **values: Any,
    ) -> Order | None:
        """One transition script; `now` is the score if the order changes index list."""
        argv: list[str] = [
            "*" if allowed is None else ",".join(sorted(allowed)),
            "" if to is None else str(to),
            order_id,
            repr(float(self._clock.now() if now is None else now)),
            "1" if drop_photos else "0",
        ]
        for name, value in values.items():
            argv += [name, str(int(value)) if isinstance(value, bool) else str(value)]
        reply = await self._transition(
            keys=[
                keys.order(order_id),
                keys.OPEN_ORDERS,
                keys.PAID_ORDERS,
                keys.CLOSED_ORDERS,
                keys.order_photos(order_id),
                keys.QUEUE_NOTICES,
            ],
            args=argv,
        )
        if int(reply[0]) != 1:
            return None
        fields = reply[1:]
        return Order.from_hash(dict(zip(fields[::2], fields[1::2], strict=True)))
