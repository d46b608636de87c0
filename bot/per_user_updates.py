"""Concurrent update processing that still handles each user's updates in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Up to `max_concurrent_updates` at once, but one at a time per user.

    An album arrives as several updates within milliseconds, and a double tap as two; handling
    them concurrently would race on the same order. asyncio locks are FIFO and PTB creates
    the processing tasks in update order, so each user's updates run in the order received.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user_id = _user_id(update)
        if user_id is None:
            await coroutine
            return
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            # Forget idle users so the dict does not grow with every user ever seen.
            self._waiting[user_id] -= 1
            if self._waiting[user_id] == 0:
                del self._waiting[user_id]
                del self._locks[user_id]

    async def initialize(self) -> None:
        """Nothing to open: locks are created on demand."""

    async def shutdown(self) -> None:
        """Nothing to close."""


def _user_id(update: object) -> int | None:
    if isinstance(update, Update) and update.effective_user is not None:
        return update.effective_user.id
    return None
