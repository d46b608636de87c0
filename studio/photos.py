"""Photo records and their counters: what the intake keeps of each received photo.

A record holds a Telegram file_id, so it is stored sealed under the user's key; the counters on
the order (accepted, pending, rejected by reason) are plain, and kept by the same scripts that
write the records, so counting photos never needs a decryption.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from studio import keys
from studio.crypto import UserKey
from studio.group_commit import GroupedScript


class PhotoRole(StrEnum):
    HEADSHOT = "headshot"
    SELFIE = "selfie"


class PhotoStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class PhotoRecord(BaseModel):
    """One received photo. Stored sealed under the user's key: it holds a file_id.

    The aliases name the fields as /mydata shows them.
    """

    file_id: str = Field(serialization_alias="telegram_file_id")
    file_unique_id: str = Field(serialization_alias="telegram_file_unique_id")
    role: PhotoRole
    status: PhotoStatus = PhotoStatus.PENDING
    reason: str = ""
    # A perceptual hash, for near-duplicates; never an embedding.
    fingerprint: int | None = Field(default=None, serialization_alias="perceptual_hash")
    received_at: float = 0.0
    # The user's message that brought the photo, where its verdict is shown (👍 / 👎).
    message_id: int = Field(default=0, serialization_alias="telegram_message_id")


class PhotoCounts(BaseModel):
    """Plain counters kept on the order as photos arrive and are checked: nothing personal."""

    headshot: PhotoStatus | None = None  # the latest headshot's verdict, until one is accepted
    accepted: int = 0  # selfies
    pending: int = 0  # selfies
    rejected: dict[str, int] = Field(default_factory=dict)  # selfie refusal reason -> count

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


# KEYS: photos hash, order hash, open index. ARGV: token, sealed record, role, received_at, id.
ADD_PHOTO = f"""
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] == '{PhotoRole.HEADSHOT}' then
  if redis.call('HGET', KEYS[2], 'photos.headshot') ~= '{PhotoStatus.ACCEPTED}' then
    redis.call('HSET', KEYS[2], 'photos.headshot', '{PhotoStatus.PENDING}')
  end
else
  redis.call('HINCRBY', KEYS[2], 'photos.pending', 1)
end
if tonumber(ARGV[4]) > 0 then redis.call('ZADD', KEYS[3], 'XX', ARGV[4], ARGV[5]) end
return 1
"""

# KEYS: photos hash, order hash. ARGV: token, sealed record, role, new status, reason.
# The photo was pending: arq runs one check job per photo at a time (the job id names it).
RECORD_VERDICT = f"""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '{PhotoRole.HEADSHOT}' then
  if redis.call('HGET', KEYS[2], 'photos.headshot') ~= '{PhotoStatus.ACCEPTED}' then
    redis.call('HSET', KEYS[2], 'photos.headshot', ARGV[4])
  end
  return 1
end
redis.call('HINCRBY', KEYS[2], 'photos.pending', -1)
if ARGV[4] == '{PhotoStatus.ACCEPTED}' then
  redis.call('HINCRBY', KEYS[2], 'photos.accepted', 1)
else
  redis.call('HINCRBY', KEYS[2], 'photos.rejected.' .. ARGV[5], 1)
end
return 1
"""

# KEYS: photos hash, order hash. ARGV: token, role. Undoes an add whose check was never queued.
DROP_PHOTO = f"""
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '{PhotoRole.HEADSHOT}' then
  if redis.call('HGET', KEYS[2], 'photos.headshot') == '{PhotoStatus.PENDING}' then
    redis.call('HDEL', KEYS[2], 'photos.headshot')
  end
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'photos.pending', -1)
end
return 1
"""


class KeptPhotos(BaseModel):
    """The checked photos a user asked to keep after delivery, until `until` (unix time)."""

    until: float
    records: dict[str, PhotoRecord]  # token -> record, accepted ones only

    @property
    def headshots(self) -> int:
        return sum(r.role is PhotoRole.HEADSHOT for r in self.records.values())

    @property
    def selfies(self) -> int:
        return sum(r.role is PhotoRole.SELFIE for r in self.records.values())


KEPT_UNTIL_FIELD = "until"  # in the kept hash, beside the photo tokens (HMAC hex: never equal)

# KEYS: order hash, kept hash, kept index. ARGV: until, ttl seconds, user id, state required,
# then token/sealed pairs. Replaces the user's kept set with these photos only while the order
# is still being delivered and still asks for it (a /delete withdraws the order first, so an
# erasure running meanwhile leaves nothing here), and notes the expiry on the order.
KEEP_PHOTOS = f"""
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[4] then return 0 end
if redis.call('HGET', KEYS[1], 'keep_photos') ~= '1' then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '{KEPT_UNTIL_FIELD}', ARGV[1])
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[1], 'kept_until', ARGV[1])
return 1
"""


class PhotoStore:
    """An order's sealed photo records, and the counters on the order that go with them."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._add = GroupedScript(redis, ADD_PHOTO)  # every photo: grouped with others in flight
        self._record_verdict = redis.register_script(RECORD_VERDICT)
        self._drop = redis.register_script(DROP_PHOTO)
        self._keep = redis.register_script(KEEP_PHOTOS)

    async def add(self, order_id: str, key: UserKey, record: PhotoRecord) -> str | None:
        """Store a newly received photo and count it; None when the same photo came before."""
        token = key.token(record.file_unique_id)
        sealed = _seal(order_id, key, record)
        added = await self._add(
            keys=[keys.order_photos(order_id), keys.order(order_id), keys.OPEN_ORDERS],
            # Abandoned-intake retention counts from the last upload, as the policy says.
            args=[token, sealed, record.role, record.received_at, order_id],
        )
        return token if added else None

    async def record_verdict(
        self, order_id: str, key: UserKey, token: str, record: PhotoRecord
    ) -> bool:
        """Store a pending photo's verdict and count it; False if the photo was purged meanwhile."""
        sealed = _seal(order_id, key, record)
        recorded = await self._record_verdict(
            keys=[keys.order_photos(order_id), keys.order(order_id)],
            args=[token, sealed, record.role, record.status, record.reason or "other"],
        )
        return bool(recorded)

    async def drop(self, order_id: str, token: str, role: PhotoRole) -> None:
        """Forget a photo just added (its check could not be queued), and uncount it."""
        await self._drop(
            keys=[keys.order_photos(order_id), keys.order(order_id)], args=[token, role]
        )

    async def record(self, order_id: str, key: UserKey, token: str) -> PhotoRecord | None:
        raw = await self._redis.hget(keys.order_photos(order_id), token)  # type: ignore[misc]
        return _open(order_id, key, raw) if raw else None

    async def records(self, order_id: str, key: UserKey) -> dict[str, PhotoRecord]:
        """Every photo record of the order by token (decrypts each: not for the hot path)."""
        raw = await self._redis.hgetall(keys.order_photos(order_id))  # type: ignore[misc]
        return {token.decode(): _open(order_id, key, blob) for token, blob in raw.items()}

    async def count(self, order_id: str) -> int:
        """How many photo records the order holds (no decryption)."""
        return int(await self._redis.hlen(keys.order_photos(order_id)))  # type: ignore[misc]

    # Kept photos: a delivered order's checked photos, kept on request to order another style --

    async def keep(
        self,
        order_id: str,
        user_id: int,
        key: UserKey,
        *,
        until: float,
        ttl_s: int,
        while_state: str,
    ) -> KeptPhotos | None:
        """Copy the order's accepted photos into the user's kept set (replacing it).

        None when the order holds none to keep, left `while_state`, or no longer asks for it.
        """
        accepted = {
            token: record
            for token, record in (await self.records(order_id, key)).items()
            if record.status is PhotoStatus.ACCEPTED
        }
        kept = KeptPhotos(until=until, records=accepted)
        if not kept.headshots or not kept.selfies:
            return None
        pairs: list[str | bytes] = []
        for token, record in accepted.items():
            pairs += [token, _seal_kept(user_id, key, record)]
        done = await self._keep(
            keys=[keys.order(order_id), keys.kept_photos(user_id), keys.KEPT_PHOTOS],
            args=[repr(until), max(1, ttl_s), user_id, while_state, *pairs],
        )
        return kept if done else None

    async def kept(self, user_id: int, key: UserKey, now: float) -> KeptPhotos | None:
        """The user's kept photos, or None when there are none or their period is over."""
        raw = await self._redis.hgetall(keys.kept_photos(user_id))  # type: ignore[misc]
        until = float(raw.pop(KEPT_UNTIL_FIELD.encode(), b"0"))
        if not raw or until <= now:
            return None
        records = {token.decode(): _open_kept(user_id, key, blob) for token, blob in raw.items()}
        return KeptPhotos(until=until, records=records)

    async def kept_until(self, user_id: int, now: float) -> float | None:
        """Until when the user's photos are kept (no decryption); None when none are."""
        raw = await self._redis.hget(keys.kept_photos(user_id), KEPT_UNTIL_FIELD)  # type: ignore[misc]
        until = float(raw) if raw else 0.0
        return until if until > now else None

    async def kept_count(self, user_id: int) -> int:
        """How many photo records the user's kept set holds (no decryption)."""
        fields = int(await self._redis.hlen(keys.kept_photos(user_id)))  # type: ignore[misc]
        return max(0, fields - 1)  # the expiry field is not a photo

    async def forget_kept(self, user_id: int) -> int:
        """Delete the user's kept set and its index entry; how many photo records went."""
        count = await self.kept_count(user_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.kept_photos(user_id))
            pipe.zrem(keys.KEPT_PHOTOS, str(user_id))
            await pipe.execute()
        return count

    async def kept_expired(self, now: float) -> list[int]:
        """Users whose kept set's period is over (the retention cron deletes them)."""
        raw = await self._redis.zrangebyscore(keys.KEPT_PHOTOS, "-inf", now)
        return [int(member) for member in raw]

    @staticmethod
    def reseal(kept: KeptPhotos, order_id: str, key: UserKey) -> dict[str, bytes]:
        """The kept records sealed for a new order's photo hash (same tokens, so dedupe holds)."""
        return {token: _seal(order_id, key, record) for token, record in kept.records.items()}


def _seal(order_id: str, key: UserKey, record: PhotoRecord) -> bytes:
    return key.seal(f"photo:{order_id}", record.model_dump_json().encode())


def _open(order_id: str, key: UserKey, blob: bytes) -> PhotoRecord:
    return PhotoRecord.model_validate_json(key.open(f"photo:{order_id}", blob))


def _seal_kept(user_id: int, key: UserKey, record: PhotoRecord) -> bytes:
    return key.seal(f"kept:{user_id}", record.model_dump_json().encode())


def _open_kept(user_id: int, key: UserKey, blob: bytes) -> PhotoRecord:
    return PhotoRecord.model_validate_json(key.open(f"kept:{user_id}", blob))
