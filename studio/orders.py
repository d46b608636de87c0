"""Orders: one user's intake, payment and render, and the photos that belong to it."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis

from studio import keys
from studio.crypto import UserKey


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


class PhotoRole(StrEnum):
    HEADSHOT = "headshot"
    SELFIE = "selfie"


class PhotoStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass
class PhotoRecord:
    """One received photo. Stored sealed under the user's key: it holds a file_id."""

    file_id: str
    file_unique_id: str
    role: PhotoRole
    status: PhotoStatus = PhotoStatus.PENDING
    reason: str = ""
    fingerprint: int | None = None  # perceptual hash, for near-duplicates; never an embedding
    received_at: float = 0.0

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> PhotoRecord:
        data = json.loads(raw)
        data["role"] = PhotoRole(data["role"])
        data["status"] = PhotoStatus(data["status"])
        return cls(**data)


@dataclass
class PhotoSummary:
    """What the intake status message shows."""

    headshot: PhotoStatus | None = None
    accepted: int = 0
    pending: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


@dataclass
class Order:
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
    paid_at: float = 0.0
    render_started_at: float = 0.0
    delivered_at: float = 0.0
    failure: str = ""
    status_message_id: int = 0  # the one intake status message, edited in place
    queue_message_id: int = 0  # the one queue/progress message
    progress_done: int = 0
    progress_total: int = 0
    refunded: bool = False

    def to_hash(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = str(int(value)) if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def from_hash(cls, raw: dict[bytes, bytes]) -> Order:
        data = {k.decode(): v.decode() for k, v in raw.items()}
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.type in ("int",):
                kwargs[f.name] = int(value)
            elif f.type == "float":
                kwargs[f.name] = float(value)
            elif f.type == "bool":
                kwargs[f.name] = value == "1"
            elif f.type == "OrderState":
                kwargs[f.name] = OrderState(value)
            else:
                kwargs[f.name] = value
        return cls(**kwargs)


def new_order_id() -> str:
    """Short, unguessable, safe in callback_data, job ids and invoice payloads."""
    return secrets.token_urlsafe(9)


# Atomic compare-and-set on the order's state: KEYS[1]=order hash, and optionally KEYS[2] and
# KEYS[3], two index sorted sets to move the order between. ARGV[1]=allowed states
# (comma-separated), ARGV[2]=the order id (the index member), ARGV[3]=its score in KEYS[3],
# ARGV[4..]=field/value pairs. Returns 1 when applied (fields set and, with KEYS[2..3], the order
# moved from KEYS[2] to KEYS[3]), 0 when the state did not match, -1 when the order does not exist.
_TRANSITION = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
local allowed = false
for s in string.gmatch(ARGV[1], '[^,]+') do
  if s == state then allowed = true end
end
if not allowed then return 0 end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if #KEYS == 3 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
end
return 1
"""


class OrderStore:
    """Reads and writes orders and their photos in Redis."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
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

    async def get(self, order_id: str) -> Order | None:
        raw = await self._redis.hgetall(keys.order(order_id))  # type: ignore[misc]
        return Order.from_hash(raw) if raw else None

    async def update(self, order_id: str, **values: Any) -> None:
        """Set plain fields on an existing order (no state change)."""
        if "state" in values:
            raise ValueError("use transition() to change an order's state")
        mapping = {k: _plain(v) for k, v in values.items()}
        await self._redis.hset(keys.order(order_id), mapping=mapping)  # type: ignore[misc]

    async def transition(
        self,
        order_id: str,
        allowed: frozenset[OrderState] | set[OrderState],
        to: OrderState,
        move: tuple[str, str, float] | None = None,
        **values: Any,
    ) -> bool:
        """Move the order to `to` if it is in one of `allowed`; False if it was not.

        `move=(from_index, to_index, score)` also moves the order between two index sorted sets
        in the same script, only when the transition applies: no crash can leave the state
        changed and the indexes not (or the reverse).
        """
        redis_keys = [keys.order(order_id)]
        score = ""
        if move is not None:
            from_index, to_index, at = move
            redis_keys += [from_index, to_index]
            score = repr(float(at))
        argv: list[str] = [",".join(sorted(allowed)), order_id, score, "state", str(to)]
        for name, value in values.items():
            argv += [name, _plain(value)]
        result = await self._transition(keys=redis_keys, args=argv)
        return int(result) == 1

    # Photos -------------------------------------------------------------------------------

    async def add_photo(self, order_id: str, key: UserKey, record: PhotoRecord) -> str | None:
        """Store a newly received photo; None when the same photo was already sent."""
        token = key.token(record.file_unique_id)
        sealed = key.seal(f"photo:{order_id}", record.to_bytes())
        added = await self._redis.hsetnx(keys.order_photos(order_id), token, sealed)  # type: ignore[misc,arg-type]
        if added and record.received_at:
            # Abandoned-intake retention counts from the last upload, as the policy says.
            await self._redis.zadd(keys.OPEN_ORDERS, {order_id: record.received_at}, xx=True)
        return token if added else None

    async def save_photo(
        self, order_id: str, key: UserKey, token: str, record: PhotoRecord
    ) -> bool:
        """Overwrite a photo's record (after its check); False if the photo was purged meanwhile."""
        sealed = key.seal(f"photo:{order_id}", record.to_bytes())
        photos_key = keys.order_photos(order_id)
        if not await self._redis.hexists(photos_key, token):  # type: ignore[misc]
            return False
        await self._redis.hset(photos_key, token, sealed)  # type: ignore[misc,arg-type]
        return True

    async def photo(self, order_id: str, key: UserKey, token: str) -> PhotoRecord | None:
        raw = await self._redis.hget(keys.order_photos(order_id), token)  # type: ignore[misc]
        return PhotoRecord.from_bytes(key.open(f"photo:{order_id}", raw)) if raw else None

    async def photos(self, order_id: str, key: UserKey) -> dict[str, PhotoRecord]:
        raw = await self._redis.hgetall(keys.order_photos(order_id))  # type: ignore[misc]
        return {
            token.decode(): PhotoRecord.from_bytes(key.open(f"photo:{order_id}", blob))
            for token, blob in raw.items()
        }

    async def remove_photos(
        self, order_id: str, role: PhotoRole | None = None, key: UserKey | None = None
    ) -> int:
        """Drop the order's photos (all, or those of one role, which needs the key)."""
        if role is None:
            return int(await self._redis.delete(keys.order_photos(order_id)))
        assert key is not None, "removing photos by role needs the user's key"
        photos = await self.photos(order_id, key)
        doomed = [token for token, rec in photos.items() if rec.role is role]
        if doomed:
            await self._redis.hdel(keys.order_photos(order_id), *doomed)  # type: ignore[misc]
        return len(doomed)

    async def summary(self, order_id: str, key: UserKey) -> PhotoSummary:
        out = PhotoSummary()
        for record in (await self.photos(order_id, key)).values():
            if record.role is PhotoRole.HEADSHOT:
                if out.headshot is not PhotoStatus.ACCEPTED:
                    out.headshot = record.status
                continue
            if record.status is PhotoStatus.ACCEPTED:
                out.accepted += 1
            elif record.status is PhotoStatus.PENDING:
                out.pending += 1
            else:
                out.rejected[record.reason] += 1
        return out


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    return str(value)
