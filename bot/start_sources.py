"""Where /start came from: an anonymous count per deep-link source (t.me/<bot>?start=<source>).

One Redis hash, source -> count; nothing in it names or links to a user, so /delete has nothing
to erase there. Telegram's start links carry 1-64 characters of [A-Za-z0-9_-]; anything else was
typed by hand and counts as "other", and so does any new source once `start_sources_max`
distinct ones are held, so the hash stays small whatever people send. A payload with a run of
five or more digits counts as "other" too: referral links often carry a user id ("ref_123456789")
and a hand-typed one may be a phone number, and either would name a person.
"""

from __future__ import annotations

import re

from redis.asyncio import Redis

from studio import keys

SOURCES_KEY = keys.START_SOURCES
OTHER = "other"
_SOURCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ID_LIKE = re.compile(r"[0-9]{5,}")

# KEYS: the hash. ARGV: source, cap, the catch-all. Returns the field counted.
_COUNT = """
local named = redis.call('HLEN', KEYS[1]) - redis.call('HEXISTS', KEYS[1], ARGV[3])
local field = ARGV[1]
if redis.call('HEXISTS', KEYS[1], field) == 0 and named >= tonumber(ARGV[2]) then
  field = ARGV[3]
end
redis.call('HINCRBY', KEYS[1], field, 1)
return field
"""


def source_of(payload: str) -> str:
    """The source name a /start payload counts under."""
    if not _SOURCE.fullmatch(payload) or _ID_LIKE.search(payload):
        return OTHER
    return payload


async def count_start_source(redis: Redis, payload: str, cap: int) -> str:
    """Count one /start from `payload`; returns the field it was counted under."""
    field = await redis.register_script(_COUNT)(
        keys=[SOURCES_KEY], args=[source_of(payload), cap, OTHER]
    )
    return field.decode() if isinstance(field, bytes) else str(field)


async def start_sources(redis: Redis, top: int) -> list[tuple[str, int]]:
    """The `top` sources by count, most first (ties by name)."""
    raw = await redis.hgetall(SOURCES_KEY)  # type: ignore[misc]
    counts = [(name.decode(), int(count)) for name, count in raw.items()]
    return sorted(counts, key=lambda item: (-item[1], item[0]))[:top]
