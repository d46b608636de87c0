"""Per-user conversation state: language, consent record and the current order."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from studio import keys


@dataclass(frozen=True)
class ConsentRecord:
    """What the user agreed to: the policy version, a hash of the exact text shown, and when."""

    policy_version: str
    text_sha256: str
    agreed_at: float


@dataclass
class Session:
    user_id: int
    language: str = ""  # the user's explicit choice; empty means "follow language_code"
    consent: ConsentRecord | None = None
    declined_at: float = 0.0
    order_id: str = ""

    @property
    def consented(self) -> bool:
        return self.consent is not None


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
        data = {k.decode(): v.decode() for k, v in raw.items()}
        consent = ConsentRecord(**json.loads(data["consent"])) if data.get("consent") else None
        return Session(
            user_id=user_id,
            language=data.get("language", ""),
            consent=consent,
            declined_at=float(data.get("declined_at", 0) or 0),
            order_id=data.get("order_id", ""),
        )

    async def set_language(self, user_id: int, language: str) -> None:
        await self._redis.hset(keys.session(user_id), "language", language)  # type: ignore[misc]

    async def record_consent(self, user_id: int, record: ConsentRecord) -> None:
        await self._redis.hset(  # type: ignore[misc]
            keys.session(user_id),
            mapping={"consent": json.dumps(asdict(record)), "declined_at": "0"},
        )

    async def record_decline(self, user_id: int, now: float) -> None:
        """Only the decision is stored: no photos, no order."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.session(user_id), "consent")
            pipe.hset(keys.session(user_id), "declined_at", str(now))
            await pipe.execute()

    async def set_order(self, user_id: int, order_id: str) -> None:
        await self._redis.hset(keys.session(user_id), "order_id", order_id)  # type: ignore[misc]

    async def clear_order(self, user_id: int, order_id: str) -> bool:
        """Forget the current order only if it is still `order_id` (one compare-and-delete)."""
        cleared = await self._clear_order(keys=[keys.session(user_id)], args=[order_id])
        return bool(cleared)
