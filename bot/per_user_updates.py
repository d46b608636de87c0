"""PTB's update processor for updates fed through `Application.update_queue`: per-user order.

The bot's own feeds (webhook and polling) go through bot/update_pipeline.py, which bounds,
prioritises and persists taken updates. This processor serves whatever still enters through
PTB's queue (tools, tests that play a load balancer): each user's updates one at a time, in
arrival order, and an update waiting for its user's lock holds no concurrency slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

UNBOUNDED = 2**31 - 1


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Up to `max_concurrent_updates` at once, but one at a time per user.

    An album arrives as several updates within milliseconds, and a double tap as two; handling
    them concurrently would race on the same order. asyncio locks are FIFO and PTB creates
    the processing tasks in update order, so each user's updates run in the order received.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        # PTB's own semaphore would be taken before the user's lock (its process_update is
        # final), so it is made unlimited and the real bound is taken after the lock, here.
        super().__init__(UNBOUNDED)
        self.slots = max_concurrent_updates
        self._slots = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """The user's lock first, then a slot: waiting behind one's own user costs no slot."""
        user_id = _user_id(update)
        if user_id is None:
            async with self._slots:
                await coroutine
            return
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._waiting[user_id] = self._waiting.get(user_id, 0) + 1
        try:
            async with lock, self._slots:
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
