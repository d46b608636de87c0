"""Invoice payloads and the payments ledger.

The payload is an HMAC-signed order reference, so a forged or altered payload is refused at
pre-checkout. The ledger keeps only what refunds and disputes need: the charge id, the payer's
Telegram user id (refundStarPayment takes it), amount, currency, times and outcome. The order id
(whose content id is stamped into every delivered image) is kept only while the order exists:
erasure and retention blank it, so a portrait cannot be traced to a payer through the ledger.
Entries are deleted after LEDGER_RETENTION_DAYS.
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
    order_id: str  # "" once the order is erased or reduced (or when the charge matched none)
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
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""

# KEYS: the user's charges set. ARGV: order id ("": every entry), ledger key prefix. Blanks the
# order id of the user's entries for that order; returns how many.
_UNLINK = """
local n = 0
for _, charge in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[2] .. charge
  local order = redis.call('HGET', key, 'order_id')
  if order and order ~= '' and (ARGV[1] == '' or order == ARGV[1]) then
    redis.call('HSET', key, 'order_id', '')
    n = n + 1
  end
end
return n
"""

# KEYS: index zset. ARGV: cutoff, ledger key prefix, user charges prefix and suffix, batch.
# Deletes closed entries paid before the cutoff; an entry still "paid" (a charge the
# reconciler has yet to settle) is left. Returns how many were deleted.
_PURGE = """
local n = 0
local charges = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[5])
for _, charge in ipairs(charges) do
  local key = ARGV[2] .. charge
  local entry = redis.call('HMGET', key, 'outcome', 'user_id')
  if entry[1] ~= 'paid' then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], charge)
    if entry[2] then redis.call('SREM', ARGV[3] .. entry[2] .. ARGV[4], charge) end
    n = n + 1
  end
end
return n
"""


class Ledger:
    """One entry per Telegram charge; the first writer wins, so duplicate updates are harmless."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._record = redis.register_script(_RECORD)
        self._unlink = redis.register_script(_UNLINK)
        self._purge = redis.register_script(_PURGE)

    async def record_payment(self, entry: LedgerEntry) -> bool:
        """True when this charge is new; False for a duplicate successful_payment."""
        args: list[str | float] = [entry.charge_id, entry.paid_at]
        args += [x for pair in entry.to_hash().items() for x in pair]
        created = await self._record(
            keys=[
                keys.ledger(entry.charge_id),
                keys.LEDGER_INDEX,
                keys.user_charges(entry.user_id),
            ],
            args=args,
        )
        return bool(created)

    async def get(self, charge_id: str) -> LedgerEntry | None:
        raw = await self._redis.hgetall(keys.ledger(charge_id))  # type: ignore[misc]
        if not raw or b"charge_id" not in raw:
            return None
        return LedgerEntry.from_hash(raw)

    async def close(self, charge_id: str, outcome: Outcome, now: float) -> None:
        await self._redis.hset(  # type: ignore[misc]
            keys.ledger(charge_id), mapping={"outcome": str(outcome), "closed_at": str(now)}
        )

    async def unlink_orders(self, user_id: int, order_id: str = "") -> int:
        """Blank the order id in the user's entries (for `order_id`, or all): erasure, retention."""
        prefix = keys.ledger("")
        return int(await self._unlink(keys=[keys.user_charges(user_id)], args=[order_id, prefix]))

    async def purge_before(self, cutoff: float, batch: int = 1000) -> int:
        """Delete closed entries paid before `cutoff` (LEDGER_RETENTION_DAYS); how many went."""
        head, tail = keys.USER_CHARGES_AFFIXES
        deleted = 0
        while True:
            n = int(
                await self._purge(
                    keys=[keys.LEDGER_INDEX], args=[cutoff, keys.ledger(""), head, tail, batch]
                )
            )
            deleted += n
            if n < batch:
                return deleted
