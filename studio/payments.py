"""Invoice payloads and the payments ledger.

The payload is HMAC-signed, so a forged or altered payload is refused at pre-checkout. It names
no order: Telegram keeps every payload in its transaction history (getStarTransactions returns
it to whoever holds the bot token), and the order id is the content id stamped into every
delivered image. It carries an unguessable per-invoice reference instead, which the key
`keys.invoice(ref)` maps to the order while the order exists; erasure and retention delete that
key with the order, so afterwards Telegram's copy of the payload resolves to nothing.

The ledger keeps only what refunds and disputes need: the charge id, the payer's Telegram user
id (refundStarPayment takes it), amount, currency, times and outcome. The order id is kept only
while the order exists: erasure and retention blank it, so a portrait cannot be traced to a payer
through the ledger.
Entries are deleted after LEDGER_RETENTION_DAYS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field
from redis.asyncio import Redis

from studio import keys
from studio.records import HashRecord

PAYLOAD_VERSION = "v2"  # v1 carried the order id itself; it is refused
MAX_PAYLOAD_BYTES = 128


def new_invoice_ref() -> str:
    """128 random bits, URL-safe (no "."): the only reference an invoice payload carries."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class PayloadRef:
    invoice_ref: str  # resolves to the order through keys.invoice while the order exists
    user_id: int
    amount: int


def sign_payload(ref: PayloadRef, secret: bytes) -> str:
    if not ref.invoice_ref or "." in ref.invoice_ref:
        raise ValueError("an invoice reference is non-empty and has no '.'")
    body = f"{PAYLOAD_VERSION}.{ref.invoice_ref}.{ref.user_id}.{ref.amount}"
    payload = f"{body}.{_mac(body, secret)}"
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"invoice payload is {len(payload.encode())} bytes, over 128")
    return payload


def verify_payload(payload: str, secret: bytes) -> PayloadRef | None:
    """The order reference if the signature holds, else None."""
    body, _, mac = payload.rpartition(".")
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged payload's).
    if not body or not hmac.compare_digest(mac.encode(), _mac(body, secret).encode()):
        return None
    parts = body.split(".")
    if len(parts) != 4 or parts[0] != PAYLOAD_VERSION:
        return None
    if not parts[1]:
        return None
    try:
        return PayloadRef(invoice_ref=parts[1], user_id=int(parts[2]), amount=int(parts[3]))
    except ValueError:
        return None


# KEYS: order hash, invoice key. ARGV: invoice ref, order id. The mapping is written only while
# the order exists and holds this ref, so an erasure that deleted the order first (and with it
# the ref erasure would delete the mapping by) never leaves a mapping behind.
_LINK = """
if redis.call('HGET', KEYS[1], 'invoice_ref') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""


async def link_invoice(redis: Redis, order_id: str, invoice_ref: str) -> bool:
    """Map the invoice reference (already on the order) to the order; False if the order is gone."""
    script = redis.register_script(_LINK)
    linked = await script(
        keys=[keys.order(order_id), keys.invoice(invoice_ref)], args=[invoice_ref, order_id]
    )
    return bool(linked)


async def invoice_order_id(redis: Redis, ref: PayloadRef | None) -> str | None:
    """The order a verified payload is for; None once the order is erased or reduced."""
    if ref is None:
        return None
    raw = await redis.get(keys.invoice(ref.invoice_ref))
    return raw.decode() if raw else None


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


# Since when the ledger is complete (keys.LEDGER_SINCE) ----------------------------------------


async def ledger_since(redis: Redis, now: float) -> float:
    """Since when this Redis's ledger has recorded every payment; `now` on a fresh Redis."""
    await redis.set(keys.LEDGER_SINCE, repr(now), nx=True)
    return float(await redis.get(keys.LEDGER_SINCE) or now)


async def vouch_ledger_since(redis: Redis, since: float) -> None:
    """An operator's word: the ledger records every payment since `since` (0: all of them)."""
    await redis.set(keys.LEDGER_SINCE, repr(since))
