"""Encryption at rest: per-user data keys wrapped by a master key that never enters Redis.

Personal fields are sealed with AES-GCM under the user's data key; /delete destroys the wrapped
data key, so every copy of those fields (AOF, backups, replicas) becomes unreadable.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.asyncio import Redis

from studio import keys
from studio.key_cache import DataKeyCache

NONCE_BYTES = 12
WRAP_LABEL = b"ps-dek-v1"


class KeyShredded(LookupError):
    """The user's data key is gone: their sealed fields can no longer be read."""


class UserKey:
    """One user's data key: seals and opens that user's personal fields."""

    def __init__(self, user_id: int, raw: bytes) -> None:
        self.user_id = user_id
        self._aead = AESGCM(raw)
        self._token_key = hmac.new(raw, b"token", hashlib.sha256).digest()

    def seal(self, field: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad(field))

    def open(self, field: str, blob: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._aad(field))
        except InvalidTag as exc:
            raise ValueError(f"sealed field {field!r} failed authentication") from exc

    def token(self, value: str) -> str:
        """A stable, unlinkable lookup token for a personal value (e.g. a file_unique_id)."""
        return hmac.new(self._token_key, value.encode(), hashlib.sha256).hexdigest()[:24]

    def _aad(self, field: str) -> bytes:
        return f"{self.user_id}:{field}".encode()


class Vault:
    """Creates, unwraps and destroys per-user data keys."""

    def __init__(
        self,
        redis: Redis,
        master_key: bytes,
        cache: DataKeyCache[UserKey] | None = None,
        old_master_keys: tuple[bytes, ...] = (),
    ) -> None:
        self._redis = redis
        self._master = AESGCM(master_key)
        # Rotation: keys wrapped under a former master key still open, until re-wrapped.
        self._old = tuple(AESGCM(key) for key in old_master_keys)
        # Unwrapped keys for a few seconds: one GET + unwrap per user per TTL, not per update.
        self._cache: DataKeyCache[UserKey] = cache if cache is not None else DataKeyCache()

    async def key_for(self, user_id: int) -> UserKey:
        """The user's key, created on first use (SET NX so racing replicas agree on one)."""
        if (cached := self._cache.get(user_id)) is not None:
            return cached
        wrapped = await self._redis.get(keys.data_key(user_id))
        if wrapped is None:
            raw = AESGCM.generate_key(bit_length=256)
            await self._redis.set(keys.data_key(user_id), self._wrap(user_id, raw), nx=True)
            wrapped = await self._redis.get(keys.data_key(user_id))
            if wrapped is None:  # erased between the two calls
                raise KeyShredded(f"data key for user {user_id} was erased")
        return self._remember(UserKey(user_id, self._unwrap(user_id, wrapped)))

    async def existing_key(self, user_id: int) -> UserKey:
        """The user's key, without creating one; raises KeyShredded after /delete."""
        if (cached := self._cache.get(user_id)) is not None:
            return cached
        wrapped = await self._redis.get(keys.data_key(user_id))
        if wrapped is None:
            raise KeyShredded(f"no data key for user {user_id}")
        return self._remember(UserKey(user_id, self._unwrap(user_id, wrapped)))

    async def shred(self, user_id: int) -> None:
        self._cache.evict(user_id)
        await self._redis.delete(keys.data_key(user_id))
        self._cache.evict(user_id)  # a read racing the delete may have cached it again

    def _remember(self, key: UserKey) -> UserKey:
        self._cache.put(key.user_id, key)
        return key

    def _wrap(self, user_id: int, raw: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._master.encrypt(nonce, raw, WRAP_LABEL + str(user_id).encode())

    def _unwrap(self, user_id: int, wrapped: bytes) -> bytes:
        return self._unwrap_any(user_id, wrapped)[0]

    def _unwrap_any(self, user_id: int, wrapped: bytes) -> tuple[bytes, bool]:
        """The raw data key, and whether it was wrapped under the current master key."""
        aad = WRAP_LABEL + str(user_id).encode()
        nonce, body = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return self._master.decrypt(nonce, body, aad), True
        except InvalidTag:
            for old in self._old:
                try:
                    return old.decrypt(nonce, body, aad), False
                except InvalidTag:
                    continue
            raise

    async def rewrap(self, user_id: int) -> bool:
        """Wrap the user's data key under the current master key; True if it was re-wrapped.

        Compare-and-set: a key shredded or re-wrapped meanwhile is left as it is.
        """
        wrapped = await self._redis.get(keys.data_key(user_id))
        if wrapped is None:
            return False
        raw, current = self._unwrap_any(user_id, wrapped)
        if current:
            return False
        swap = self._redis.register_script(_SWAP)
        swapped = await swap(
            keys=[keys.data_key(user_id)], args=[wrapped, self._wrap(user_id, raw)]
        )
        return bool(swapped)


# KEYS: the data key. ARGV: the wrapped value read, its re-wrapped replacement.
_SWAP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
"""
