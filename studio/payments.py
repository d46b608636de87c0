"""Invoice payloads and the payments ledger.

The payload is an HMAC-signed order reference, so a forged or altered payload is refused at
pre-checkout. The ledger keeps only what refunds and tax need: no photos, file_ids or names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field
from redis.asyncio import Redis

from studio import keys
from studio.records import HashRecord

PAYLOAD_VERSION = "v1"
MAX_PAYLOAD_BYTES = 128


@dataclass(frozen=True)
class PayloadRef:
    order_id: str
    user_id: int
    amount: int


def sign_payload(ref: PayloadRef, secret: bytes) -> str:
    body = f"{PAYLOAD_VERSION}.{ref.order_id}.{ref.user_id}.{ref.amount}"
    payload = f"{body}.{_mac(body, secret)}"
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"invoice payload is {len(payload.encode())} bytes, over 128")
    return payload


def verify_payload(payload: str, secret: bytes) -> PayloadRef | None:
    """The order reference if the signature holds, else None."""
    body, _, mac = payload.rpartition(".")
    if not body or not hmac.compare_digest(mac, _mac(body, secret)):
        return None
    parts = body.split(".")
    if len(parts) != 4 or parts[0] != PAYLOAD_VERSION:
        return None
    try:
        return PayloadRef(order_id=parts[1], user_id=int(parts[2]), amount=int(parts[3]))
    except ValueError:
        return None


def _mac(body: str, secret: bytes) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Outcome(StrEnum):
    PAID = "paid"
    DELIVERED = "delivered"
    REFUNDED = "refunded"


class LedgerEntry(HashRecord):
    charge_id: str
    order_id: str
    user_id: int = Field(serialization_alias="telegram_user_id")  # refundStarPayment needs it
    amount: int
    currency: str
    paid_at: float
    outcome: Outcome
    closed_at: float = 0.0


# KEYS: entry hash, index zset. ARGV: charge id, paid_at, then field/value pairs. One script, so a
# crash can never leave half an entry that a replayed update would then skip.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
"""


class Ledger:
    """One entry per Telegram charge; the first writer wins, so duplicate updates are harmless."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._record = redis.register_script(_RECORD)

    async def record_payment(self, entry: LedgerEntry) -> bool:
        """True when this charge is new; False for a duplicate successful_payment."""
        args: list[str | float] = [entry.charge_id, entry.paid_at]
        args += [x for pair in entry.to_hash().items() for x in pair]
        created = await self._record(
            keys=[keys.ledger(entry.charge_id), keys.LEDGER_INDEX], args=args
        )
        return bool(created)

    async def get(self, charge_id: str) -> LedgerEntry | None:
        raw = await self._redis.hgetall(keys.ledger(charge_id))  # type: ignore[misc]
        if not raw or b"order_id" not in raw:
            return None
        return LedgerEntry.from_hash(raw)

    async def close(self, charge_id: str, outcome: Outcome, now: float) -> None:
        await self._redis.hset(  # type: ignore[misc]
            keys.ledger(charge_id), mapping={"outcome": str(outcome), "closed_at": str(now)}
        )
