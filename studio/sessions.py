"""Per-user conversation state: language, consent record and the current order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from studio import keys
from studio.records import HashRecord, flatten

# The age groups a user can state on the consent screen; "under 18" is refused, not stored.
AgeBracket = Literal["18-29", "30-49", "50+"]
AGE_BRACKETS: tuple[AgeBracket, ...] = ("18-29", "30-49", "50+")


class ConsentRecord(BaseModel):
    """What the user agreed to: the policy version, a hash of the exact text shown, and when.

    `own_face` and `age_bracket` are the user's statements on that screen: the photos show
    themselves, and the adult age group they chose. A record without them (an older policy's)
    is not a consent to the current one.
    """

    model_config = ConfigDict(frozen=True)

    policy_version: str
    text_sha256: str
    agreed_at: float
    own_face: bool = False
    age_bracket: AgeBracket | None = None


_CONSENT_FIELDS = [f"consent.{name}" for name in ConsentRecord.model_fields]


class Session(HashRecord):
    user_id: int
    language: str = ""  # the user's explicit choice; empty means "follow language_code"
    consent: ConsentRecord | None = None
    declined_at: float = 0.0
    order_id: str = ""

    @property
    def consented(self) -> bool:
        """Some consent is on record (under any policy version): data may be held."""
        return self.consent is not None

    def consented_to(self, policy_version: str) -> bool:
        """Agreed to `policy_version`, stating own face and an adult age: photos may be taken."""
        consent = self.consent
        return (
            consent is not None
            and consent.policy_version == policy_version
            and consent.own_face
            and consent.age_bracket is not None
        )


_CLEAR_ORDER = """
if redis.call('HGET', KEYS[1], 'order_id') == ARGV[1] then
  return redis.call('HDEL', KEYS[1], 'order_id')
end
return 0
"""


class SessionStore:
    """Sessions live in one Redis hash per user; any bot replica can continue any flow."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._clear_order = redis.register_script(_CLEAR_ORDER)

    async def get(self, user_id: int) -> Session:
        raw = await self._redis.hgetall(keys.session(user_id))  # type: ignore[misc]
        return self.parse(user_id, raw)

    @staticmethod
    def parse(user_id: int, raw: Mapping[bytes, bytes]) -> Session:
        """The session from its hash as Redis gives it (empty: a user never seen)."""
        return Session.from_hash({**raw, b"user_id": str(user_id).encode()})

    async def order_ids(self, user_id: int) -> list[str]:
        """Every order of the user that still exists, for erasure and /mydata."""
        raw = await self._redis.smembers(keys.user_orders(user_id))  # type: ignore[misc]
        return sorted(order_id.decode() for order_id in raw)

    async def set_language(self, user_id: int, language: str) -> None:
        await self._redis.hset(keys.session(user_id), "language", language)  # type: ignore[misc]

    async def record_consent(self, user_id: int, record: ConsentRecord) -> None:
        await self._redis.hset(  # type: ignore[misc]
            keys.session(user_id),
            mapping={**flatten({"consent": record.model_dump(mode="json")}), "declined_at": "0"},
        )

    async def record_decline(self, user_id: int, now: float) -> None:
        """Only the decision is stored: no photos, no order."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.session(user_id), *_CONSENT_FIELDS)
            pipe.hset(keys.session(user_id), "declined_at", str(now))
            await pipe.execute()

    async def set_order(self, user_id: int, order_id: str) -> None:
        await self._redis.hset(keys.session(user_id), "order_id", order_id)  # type: ignore[misc]

    async def clear_order(self, user_id: int, order_id: str) -> bool:
        """Forget the current order only if it is still `order_id` (one compare-and-delete)."""
        cleared = await self._clear_order(keys=[keys.session(user_id)], args=[order_id])
        return bool(cleared)
