"""A per-process cache of unwrapped data keys, so a user's updates do not each GET and unwrap.

Entries live `ttl_s` (short: a /delete on another replica is honoured within that long; this
process evicts at once on its own shred) and at most `max_entries` are kept, oldest dropped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT")

DEFAULT_TTL_S = 30.0
DEFAULT_MAX_ENTRIES = 10_000


class DataKeyCache(Generic[KeyT]):
    """User id -> an unwrapped key, for `ttl_s` seconds from when it was read from Redis."""

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0 or max_entries < 1:
            raise ValueError(f"ttl_s={ttl_s} must be >= 0 and max_entries={max_entries} >= 1")
        self._ttl_s = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[int, tuple[float, KeyT]] = OrderedDict()

    def get(self, user_id: int) -> KeyT | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        expires, key = entry
        if self._clock() >= expires:
            del self._entries[user_id]
            return None
        return key

    def put(self, user_id: int, key: KeyT) -> None:
        if self._ttl_s == 0:
            return
        self._entries.pop(user_id, None)
        self._entries[user_id] = (self._clock() + self._ttl_s, key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def evict(self, user_id: int) -> None:
        self._entries.pop(user_id, None)

    def __len__(self) -> int:
        return len(self._entries)
