"""The per-process data-key cache: hits within its TTL, gone after it, evicted on shred."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from redis.asyncio import Redis

from studio import keys
from studio.crypto import KeyShredded, Vault
from studio.key_cache import DataKeyCache
from studio.settings import decode_key, generate_master_key


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_and_the_oldest_leave_first() -> None:
    ticks = Ticks()
    cache: DataKeyCache[str] = DataKeyCache(ttl_s=5.0, max_entries=2, clock=ticks)
    cache.put(1, "a")
    cache.put(2, "b")
    assert cache.get(1) == "a"
    cache.put(3, "c")  # over the bound: user 1 was put first, so it goes
    assert (cache.get(1), cache.get(2), cache.get(3)) == (None, "b", "c")
    ticks.now += 5.0
    assert cache.get(2) is None and len(cache) == 1


async def test_a_cached_key_spares_redis_and_shred_forgets_it(redis: Redis) -> None:
    master = decode_key(generate_master_key())
    ticks = Ticks()
    vault = Vault(redis, master, DataKeyCache(ttl_s=30.0, clock=ticks))
    first = await vault.key_for(7)
    # The wrapped key is replaced behind the vault's back: a cached read does not see it.
    await redis.set(keys.data_key(7), b"not a wrapped key")
    assert await vault.key_for(7) is first
    assert await vault.existing_key(7) is first
    ticks.now += 30.0
    with pytest.raises(InvalidTag):  # past the TTL it reads Redis again (and fails to unwrap)
        await vault.existing_key(7)
    await vault.shred(7)
    with pytest.raises(KeyShredded):
        await vault.existing_key(7)
    other = await Vault(redis, master).key_for(8)
    assert other.open("f", other.seal("f", b"x")) == b"x"
