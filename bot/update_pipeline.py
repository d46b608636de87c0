"""Every update the bot takes, from intake to "done": bounded, fair, and never dropped.

The feeds (bot/webhook.py, bot/polling.py) `offer` each update. An offer is refused while the
queue is full (the feed pushes back on Telegram) and taken otherwise: claimed, counted and
persisted in Redis (bot/update_store.py) before the feed confirms it to Telegram. Workers run
taken updates through the PTB Application in the order bot/update_queue.py gives them
(payments first, then users in turn) and mark each done only when its handling completed.
On stop, what finishes within the grace is done; the rest is given back to Redis for the
next start or another replica.

Redis round trips per update, taking (1) and completing (1) it included, in the steady state
(tests/test_round_trips.py holds each handler to its figure; no render worker online, which
would add one read of both stage durations to each wait estimate):
  /start 8 · consent 9 · headshot 9 (first photo: creates the data key) · selfie 5 · text 4 ·
  /status 4 (7 while collecting selfies: a fresh status message is sent, its id and digest
  recorded; 7 while paid: place and wait) · Done 7 · pack 9 · pre_checkout 5 · payment 14.
Of a selfie's 5: take 1, the session and current order 1 (one script), add photo 1, enqueue 1
(one script; arq's enqueue_job takes 3), complete 1; the data key comes from the per-process
cache (studio/key_cache.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

from redis.exceptions import RedisError
from telegram import Update
from telegram.error import TelegramError

from bot.context import StudioApplication
from bot.failures import collect_failures
from bot.fairness import Lane, classify, per_window
from bot.texts import pick_language, text
from bot.update_queue import FairUpdateQueue, QueuedUpdate
from bot.update_store import Taken, UpdateStore
from studio.domain import Studio

logger = logging.getLogger(__name__)

# The update a pipeline worker is running, so bot/app.py's dedupe leaves it to the pipeline.
CLAIMED_UPDATE: ContextVar[int | None] = ContextVar("claimed_update", default=None)


class Offer(StrEnum):
    QUEUED = "queued"  # taken: persisted, will be handled (confirm it to Telegram)
    HANDLED = "handled"  # taken and handled (`offer(wait=True)`)
    FAILED = "failed"  # taken, handled, and its handler failed (released for a redelivery)
    DUPLICATE = "duplicate"  # taken before (here or by a replica): confirm and forget
    REFUSED = "refused"  # its user is past a limit: confirm and forget
    FULL = "full"  # not taken: push back (webhook 503, polling waits)


class UpdatePipeline:
    """The taken updates of one bot process and the workers that handle them."""

    def __init__(self, application: StudioApplication, studio: Studio) -> None:
        settings = studio.settings
        self.application = application
        self.settings = settings
        self.queue = FairUpdateQueue(settings.bot_update_queue_max)
        self._taking: set[int] = set()  # updates whose take is in flight in this process
        self.store = UpdateStore(studio.redis, settings, studio.clock.now)
        self._workers: list[asyncio.Task[None]] = []
        self._upkeep: asyncio.Task[None] | None = None
        self._notices: set[asyncio.Task[None]] = set()
        self.accepting = False

    async def start(self) -> None:
        """Workers up, then the updates a dead process left behind taken again."""
        self.accepting = True
        self._workers = [
            asyncio.create_task(self._work(), name=f"update-worker-{n}")
            for n in range(self.settings.bot_concurrency)
        ]
        await self.replay_orphans()
        self._upkeep = asyncio.create_task(self._keep_claims(), name="update-claims")

    def full(self) -> bool:
        return not self.accepting or self.queue.full()

    async def wait_for_room(self, timeout_s: float) -> bool:
        """True once the queue has room (within `timeout_s`); False if still full, or stopping.

        In the caller's task (no wait_for task): when True, the caller's next steps up to the
        offer's reserve run without yielding, so the place it was woken for is still there.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.queue.wait_for_room()
        return not self.full()

    async def offer(
        self, update: Update, raw: bytes | dict[str, Any] | None = None, *, wait: bool = False
    ) -> Offer:
        """Take `update` unless full; with `wait`, return only once it was handled.

        `raw` is the update as Telegram sent it (the webhook's body, or a getUpdates item); it is
        what is persisted, so the webhook's body is stored without being encoded again.
        """
        kind = classify(update)
        if not self.accepting:
            return Offer.FULL
        # A normal update holds its place while its Redis write is in flight, so concurrent
        # offers cannot overfill the queue; payments are never refused.
        reserved = kind.lane is Lane.NORMAL
        if reserved and not self.queue.reserve():
            return Offer.FULL
        if update.update_id in self._taking:
            if reserved:
                self.queue.unreserve()
            return Offer.DUPLICATE  # the same update's take is in flight here (a redelivery)
        self._taking.add(update.update_id)
        try:
            if not isinstance(raw, bytes):
                raw = json.dumps(raw if raw is not None else update.to_dict()).encode()
            taken = await self.store.take(update.update_id, raw, kind)
        finally:
            self._taking.discard(update.update_id)
            if reserved:
                self.queue.unreserve()
        if taken.outcome is Taken.DUPLICATE:
            return Offer.DUPLICATE
        if taken.outcome is Taken.MINE and update.update_id in self.queue.held_ids():
            return Offer.DUPLICATE  # offered again while this process still holds it
        if taken.outcome is Taken.OVER_LIMIT:
            assert kind.limit is not None
            if taken.first_refused(per_window(self.settings, kind.limit)):
                self._notify_slow_down(update)
            return Offer.REFUSED
        item = QueuedUpdate(update, kind.lane, kind.user_id)
        if wait:
            item.outcome = asyncio.get_running_loop().create_future()
        self.queue.put(item)
        if item.outcome is None:
            return Offer.QUEUED
        return Offer.HANDLED if await item.outcome else Offer.FAILED

    async def replay_orphans(self) -> int:
        """Pending updates nobody holds (a process died or gave them back): queued here."""
        raws = await self.store.reclaim(self.queue.held_ids())
        for raw in raws:
            update = Update.de_json(raw, self.application.bot)
            kind = classify(update)
            self.queue.put(QueuedUpdate(update, kind.lane, kind.user_id))
        if raws:
            logger.info("took back %d pending updates", len(raws))
        return len(raws)

    async def stop(self, grace_s: float) -> int:
        """Take nothing more; finish what is held within `grace_s`; give back the rest."""
        self.accepting = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.wait_idle(), grace_s)
        left = self.queue.drain_waiting()
        running = list(self.queue.held())
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._upkeep is not None:
            self._upkeep.cancel()
            await asyncio.gather(self._upkeep, return_exceptions=True)
        given_back = left + running
        for item in given_back:
            if item.outcome is not None and not item.outcome.done():
                item.outcome.set_result(False)
        if given_back:
            # Still pending in Redis: without a claim they are taken again at once.
            await self.store.release(item.update.update_id for item in given_back)
            logger.warning("stopping: %d updates given back, unhandled", len(given_back))
        for notice in list(self._notices):
            notice.cancel()
        return len(given_back)

    # Workers ----------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            item = await self.queue.take()
            try:
                handled = await self._handle(item)
            finally:
                self.queue.done(item)
            if item.outcome is not None and not item.outcome.done():
                item.outcome.set_result(handled)

    async def _handle(self, item: QueuedUpdate) -> bool:
        update = item.update
        # The id only: the update itself holds names and file ids, and no record of ours carries
        # them at any level (the redaction filter is the second line, not the first).
        logger.debug("processing update %d", update.update_id)
        token = CLAIMED_UPDATE.set(update.update_id)
        try:
            with collect_failures() as failures:
                await self.application.process_update(update)
        finally:
            CLAIMED_UPDATE.reset(token)
        handled = not failures
        try:
            await self.store.complete(update.update_id, handled)
        except RedisError:
            # Its claim lapses and the sweep runs it again: a duplicate rather than a loss.
            logger.warning("update %s: handled, but not marked done", update.update_id)
        return handled

    async def _keep_claims(self) -> None:
        """Refresh this process's claims; take over the pending updates of dead processes."""
        period = self.settings.update_claim_s
        beats = 0
        while True:
            await asyncio.sleep(period / 3)
            beats += 1
            try:
                await self.store.refresh(self.queue.held_ids())
                if beats % 3 == 0:
                    await self.replay_orphans()
            except RedisError as error:
                logger.warning("update claims not refreshed: %s", type(error).__name__)
            except Exception:  # never let the upkeep die: it keeps every claim alive
                logger.exception("update claims: upkeep failed; trying again")

    # The one answer past a limit ----------------------------------------------------------------

    def _notify_slow_down(self, update: Update) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        user = update.effective_user
        lang = pick_language("", user.language_code if user is not None else None)
        notice = asyncio.create_task(self._send_slow_down(chat.id, lang))
        self._notices.add(notice)
        notice.add_done_callback(self._notices.discard)

    async def _send_slow_down(self, chat_id: int, lang: str) -> None:
        seconds = round(self.settings.user_limit_window_s)
        try:
            await self.application.bot.send_message(
                chat_id, text(lang, "slow_down", seconds=seconds)
            )
        except TelegramError as error:
            logger.info("slow-down notice not sent: %s", error)
