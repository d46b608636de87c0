"""Taken updates in Redis: the claim that dedupes them, the pending list that survives a crash.

An update is taken in one script (one round trip): it is claimed ("run:<process>:<update>", for
`update_claim_s`, refreshed while it waits), counted against its user's limit, and stored sealed
in the pending hash. Only then is it confirmed to Telegram (webhook 200, or the polling offset
moves past it).
When its handling completes, one script marks it "done" (UPDATE_DEDUPE_TTL) and drops it
from the pending hash; a failed one is released instead, so a redelivery is handled. Whatever a
process leaves behind (SIGTERM past the grace, SIGKILL) stays pending: its claim lapses and the
next start, or any replica's sweep, takes it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from bot.fairness import UpdateKind, per_window
from studio import keys
from studio.group_commit import GroupedScript
from studio.settings import Settings

logger = logging.getLogger(__name__)

NONCE_BYTES = 12
SEAL_LABEL = b"ps-pending-updates-v1"

# KEYS: claim, pending hash, limit counter, active users. ARGV: update id, sealed update, claim
# ms, limit (0: none), window ms, done ms, user id ('': none), now, claim token ("run:" and a
# this process's id and the update's). Returns {outcome, count}.
# The token makes a take idempotent for its own process: when Redis applied it but the reply was
# lost (a restart mid-reply: the reconnecting client sends the same call again), or the error
# reached the poller, which fetches and offers the same updates again, the repeat finds its own
# claim and gets MINE; the pipeline queues it unless it holds it already. With a bare "run" such
# a repeat read as a duplicate: the update was confirmed to Telegram and left for the orphan
# sweep, one to two minutes later.
# The user's last activity is noted here, before handling, so that a /delete's erasure (which
# removes the user from the active set) is the last word.
_TAKE = """
if not redis.call('SET', KEYS[1], ARGV[9], 'NX', 'PX', ARGV[3]) then
  if redis.call('GET', KEYS[1]) == ARGV[9] and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
    return {3, 0}
  end
  return {0, 0}
end
if ARGV[7] ~= '' then redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7]) end
local count = 0
if tonumber(ARGV[4]) > 0 then
  count = redis.call('INCR', KEYS[3])
  if count == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
  if count > tonumber(ARGV[4]) then
    redis.call('SET', KEYS[1], 'done', 'PX', ARGV[6])
    return {2, count}
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, count}
"""

# KEYS: claim, pending hash. ARGV: update id, claim ms, claim token. A pending update nobody
# holds: claim it.
_RECLAIM = """
local sealed = redis.call('HGET', KEYS[2], ARGV[1])
if not sealed then return false end
if not redis.call('SET', KEYS[1], ARGV[3], 'NX', 'PX', ARGV[2]) then return false end
return sealed
"""

# KEYS: claim, pending hash. ARGV: update id, done ms (0: it failed, release the claim). One
# script rather than a MULTI/EXEC pipeline: as atomic, and one reply for the client to read.
_COMPLETE = """
if ARGV[2] == '0' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


class Taken(IntEnum):
    DUPLICATE = 0  # claimed or done already (another replica, a redelivery): drop it
    QUEUED = 1  # claimed and pending: this process handles it
    OVER_LIMIT = 2  # refused: its user is past a limit (marked done)
    MINE = 3  # claimed and pending by this process before (a repeated take): queue it if not held


@dataclass(frozen=True)
class TakeResult:
    outcome: Taken
    count: int  # the user's updates of this kind in the window, this one included

    def first_refused(self, limit: int) -> bool:
        """The first update past the limit in its window: the one that gets the answer."""
        return self.outcome is Taken.OVER_LIMIT and self.count == limit + 1


class UpdateStore:
    """Claims, limits and the pending hash, for one bot process."""

    def __init__(self, redis: Redis, settings: Settings, clock_now: Any) -> None:
        self._redis = redis
        self._settings = settings
        self._now = clock_now
        # Every update is taken and completed: calls made together share a round trip.
        self._take = GroupedScript(redis, _TAKE)
        self._reclaim = redis.register_script(_RECLAIM)
        self._complete = GroupedScript(redis, _COMPLETE)
        secret = hmac.new(settings.master_key_bytes, SEAL_LABEL, hashlib.sha256).digest()
        self._aead = AESGCM(secret)
        self._claim_ms = int(settings.update_claim_s * 1000)
        self._done_ms = int(keys.UPDATE_DEDUPE_TTL.total_seconds() * 1000)
        self._process = uuid.uuid4().hex

    def _claim_token(self, update_id: int) -> str:
        """A claim's value: "run" (see studio/keys.py), this process's id and the update's."""
        return f"run:{self._process}:{update_id}"

    async def take(self, update_id: int, body: bytes, kind: UpdateKind) -> TakeResult:
        """Claim, count and persist one update (`body`: its JSON): one round trip."""
        limit, window_ms, limit_key = 0, 0, keys.user_limit(0, "none", 0)
        if kind.limit is not None and kind.user_id is not None:
            limit = per_window(self._settings, kind.limit)
            window_s = self._settings.user_limit_window_s
            window = int(self._now() // window_s)
            window_ms = int(window_s * 1000)
            limit_key = keys.user_limit(kind.user_id, kind.limit, window)
        outcome, count = await self._take(
            keys=[keys.update_seen(update_id), keys.UPDATES_PENDING, limit_key, keys.ACTIVE_USERS],
            args=[
                update_id,
                self._seal(update_id, body),
                self._claim_ms,
                limit,
                window_ms,
                self._done_ms,
                "" if kind.user_id is None else str(kind.user_id),
                self._now(),
                self._claim_token(update_id),
            ],
        )
        return TakeResult(Taken(int(outcome)), int(count))

    async def complete(self, update_id: int, handled: bool) -> None:
        """Handled: mark it done and forget it. Failed: release it so a redelivery is handled."""
        await self._complete(
            keys=[keys.update_seen(update_id), keys.UPDATES_PENDING],
            args=[update_id, self._done_ms if handled else 0],
        )

    async def refresh(self, update_ids: Iterable[int]) -> None:
        """Keep the claims of the updates this process still holds: one round trip."""
        ids = list(update_ids)
        if not ids:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for update_id in ids:
                pipe.pexpire(keys.update_seen(update_id), self._claim_ms, xx=True)
            await pipe.execute()

    async def release(self, update_ids: Iterable[int]) -> None:
        """Give up the claims of updates not handled (shutdown): they stay pending for others."""
        ids = [keys.update_seen(update_id) for update_id in update_ids]
        if ids:
            await self._redis.delete(*ids)

    async def reclaim(self, held: set[int]) -> list[dict[str, Any]]:
        """Pending updates nobody holds (their process died), claimed for this process."""
        pending = [int(raw) for raw in await self._redis.hkeys(keys.UPDATES_PENDING)]  # type: ignore[misc]
        orphans = [update_id for update_id in pending if update_id not in held]
        if not orphans:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for update_id in orphans:
                await self._reclaim(
                    keys=[keys.update_seen(update_id), keys.UPDATES_PENDING],
                    args=[update_id, self._claim_ms, self._claim_token(update_id)],
                    client=pipe,
                )
            sealed = await pipe.execute()
        taken: list[dict[str, Any]] = []
        unreadable: list[int] = []
        for update_id, blob in zip(orphans, sealed, strict=True):
            if not blob:
                continue
            try:
                taken.append(self._open(update_id, blob))
            except (InvalidTag, ValueError):
                unreadable.append(update_id)
        if unreadable:
            # Sealed under another MASTER_KEY: no process of ours can read it again.
            logger.error("pending updates %s unreadable (MASTER_KEY changed?); dropped", unreadable)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hdel(keys.UPDATES_PENDING, *(str(u) for u in unreadable))
                pipe.delete(*(keys.update_seen(u) for u in unreadable))
                await pipe.execute()
        return taken

    async def saved_offset(self) -> int | None:
        raw = await self._redis.get(keys.UPDATES_OFFSET)
        return int(raw) if raw else None

    async def save_offset(self, offset: int) -> None:
        await self._redis.set(keys.UPDATES_OFFSET, str(offset))

    def _seal(self, update_id: int, body: bytes) -> bytes:
        # It holds file_ids and texts: sealed, like every other personal field at rest.
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, body, str(update_id).encode())

    def _open(self, update_id: int, blob: bytes) -> dict[str, Any]:
        body = self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], str(update_id).encode())
        data: dict[str, Any] = json.loads(body)
        return data
