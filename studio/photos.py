"""Photo records and their counters: what the intake keeps of each received photo.

A record holds a Telegram file_id, so it is stored sealed under the user's key; the counters on
the order (accepted, pending, rejected by reason) are plain, and kept by the same scripts that
write the records, so counting photos never needs a decryption.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


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
