"""The bounded, fair, in-process queue of taken updates: a payment lane, then users in turn.

Each user's updates wait in that user's own line, in arrival order, and only a user with no
update running is ready, so an update waiting behind its user's running one holds no worker.
Ready users are served in turn (one update each, then back of the line), so one user's flood
delays the others by at most one update per turn. Updates of the payment lane go ahead of
everything (ahead of their own user's waiting updates too), but still one at a time per user.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from telegram import Update

from bot.fairness import Lane

# Updates without a user get a key of their own (negative, never a Telegram user id).
_ANONYMOUS = itertools.count(-1, -1)


@dataclass
class QueuedUpdate:
    update: Update
    lane: Lane
    user_id: int | None
    # Set by a caller that answers only once the update is handled (webhook payments).
    outcome: asyncio.Future[bool] | None = None
    key: int = field(init=False)

    def __post_init__(self) -> None:
        self.key = self.user_id if self.user_id is not None else next(_ANONYMOUS)


class FairUpdateQueue:
    """At most `max_queued` normal-lane updates waiting; payments are never refused."""

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self._lines: dict[int, deque[QueuedUpdate]] = {}
        self._ready: deque[int] = deque()
        self._ready_payment: deque[int] = deque()
        self._running: dict[int, QueuedUpdate] = {}
        self._queued_normal = 0
        self._reserved = 0
        self._idle_workers: deque[asyncio.Future[None]] = deque()
        self._room_waiters: deque[asyncio.Future[None]] = deque()
        self._watchers: list[asyncio.Future[None]] = []

    # State -------------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return sum(len(line) for line in self._lines.values())

    @property
    def running(self) -> int:
        return len(self._running)

    def full(self) -> bool:
        return self._queued_normal + self._reserved >= self.max_queued

    def reserve(self) -> bool:
        """Hold a place for an update being taken (its Redis write is in flight); False if full."""
        if self.full():
            return False
        self._reserved += 1
        return True

    def unreserve(self) -> None:
        """The reserved update was not taken after all (or was put)."""
        self._reserved -= 1
        self._wake_room()
        self._changed()

    def held(self) -> Iterator[QueuedUpdate]:
        """Every update waiting or running here."""
        yield from self._running.values()
        for line in self._lines.values():
            yield from line

    def held_ids(self) -> set[int]:
        return {item.update.update_id for item in self.held()}

    # Producers and consumers ------------------------------------------------------------------

    def put(self, item: QueuedUpdate) -> None:
        """Queue `item` (the caller checked `full()` for the normal lane)."""
        line = self._lines.setdefault(item.key, deque())
        if item.lane is Lane.PAYMENT:
            # Ahead of the user's waiting updates, behind their earlier payments.
            at = next((i for i, q in enumerate(line) if q.lane is not Lane.PAYMENT), len(line))
            line.insert(at, item)
            if item.key not in self._running:
                if item.key in self._ready:
                    self._ready.remove(item.key)
                if item.key not in self._ready_payment:
                    self._ready_payment.append(item.key)
                    self._wake_worker()
        else:
            line.append(item)
            self._queued_normal += 1
            if item.key not in self._running and len(line) == 1:
                self._ready.append(item.key)
                self._wake_worker()
        self._changed()

    async def take(self) -> QueuedUpdate:
        """The next update to run: a payment if any is ready, else the next user's in turn."""
        while not (self._ready_payment or self._ready):
            waiter = asyncio.get_running_loop().create_future()
            self._idle_workers.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_worker()  # it was woken for work it will not take
                raise
        ready = self._ready_payment if self._ready_payment else self._ready
        key = ready.popleft()
        line = self._lines[key]
        item = line.popleft()
        if not line:
            del self._lines[key]
        if item.lane is not Lane.PAYMENT:
            self._queued_normal -= 1
            self._wake_room()
        self._running[key] = item
        self._changed()
        return item

    def done(self, item: QueuedUpdate) -> None:
        """`item` finished: its user's next update (if any) becomes ready, at the back."""
        del self._running[item.key]
        line = self._lines.get(item.key)
        if line:
            (self._ready_payment if line[0].lane is Lane.PAYMENT else self._ready).append(item.key)
            self._wake_worker()
        self._changed()

    async def wait_for_room(self) -> None:
        """Until there is room: one waiter woken per place freed, first come first served (a
        wake-all would cost every held webhook request a wake-up per queue change)."""
        while self.full():
            waiter = asyncio.get_running_loop().create_future()
            self._room_waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake_room()  # woken for room it will not use: pass it on
                raise

    async def wait_idle(self) -> None:
        """Until nothing waits or runs."""
        while self._lines or self._running:
            await self._next_change()

    def _wake_worker(self) -> None:
        # One worker per newly ready user: waking them all would cost O(workers) per update.
        while self._idle_workers:
            waiter = self._idle_workers.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_room(self) -> None:
        while self._room_waiters and not self.full():
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _changed(self) -> None:
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            if not watcher.done():
                watcher.set_result(None)

    async def _next_change(self) -> None:
        watcher = asyncio.get_running_loop().create_future()
        self._watchers.append(watcher)
        await watcher

    def drain_waiting(self) -> list[QueuedUpdate]:
        """Take every waiting (not running) update out, for a shutdown to give back."""
        left = [item for line in self._lines.values() for item in line]
        self._lines.clear()
        self._ready.clear()
        self._ready_payment.clear()
        self._queued_normal = 0
        while self._room_waiters:  # stopping: each held request finds it out at once
            waiter = self._room_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        self._changed()
        return left

    def stats(self) -> dict[str, Any]:
        return {"queued": self.queued, "running": self.running, "users": len(self._lines)}
