"""Long polling that confirms an update to Telegram only once it is taken (persisted in Redis).

getUpdates confirms every update below its `offset`. PTB's Updater moves the offset as soon as
it has fetched a batch, before anything is handled, so a crash loses the batch. Here each update
is offered to the pipeline first, and the offset passes it only once it is taken (or known to
be a duplicate or refused); the offset is also stored in Redis, so a restart never fetches a
taken update again. While the pipeline is full, nothing is fetched.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError
from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.client import retry_after_seconds
from bot.update_pipeline import Offer, UpdatePipeline

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 10
BATCH = 100
BACKOFF_MAX_S = 30.0
# The confirming call at stop: short, since a lost confirmation only means a redelivery that
# the stored offset (and the dedupe) absorb.
CONFIRM_TIMEOUT_S = 3.0


class Poller:
    """Fetches updates into `pipeline` until stopped."""

    def __init__(
        self,
        pipeline: UpdatePipeline,
        allowed_updates: list[str],
        poll_timeout: int = POLL_TIMEOUT_S,
    ) -> None:
        self.pipeline = pipeline
        self.bot = pipeline.application.bot
        self.allowed_updates = allowed_updates
        self.poll_timeout = poll_timeout
        self.offset: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.offset = await self.pipeline.store.saved_offset()
        self._task = asyncio.create_task(self._run(), name="poller")

    async def stop(self) -> None:
        """Stop fetching; tell Telegram which updates were taken (best effort)."""
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            # asyncio.wait, not `await task` under suppress(CancelledError): that would also
            # swallow a cancellation of stop() itself, and its caller would never hear of it.
            await asyncio.wait([task])
            if not task.cancelled() and task.exception() is not None:
                logger.error("the poller had already stopped: %r", task.exception())
        if self.offset is None:
            return
        try:
            await asyncio.wait_for(
                self.bot.get_updates(offset=self.offset, limit=1, timeout=0), CONFIRM_TIMEOUT_S
            )
        except (TelegramError, TimeoutError):
            logger.info("the last updates were not confirmed; the stored offset covers them")

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            await self.pipeline.queue.wait_for_room()
            try:
                updates = await self.bot.get_updates(
                    offset=self.offset,
                    limit=BATCH,
                    timeout=self.poll_timeout,
                    allowed_updates=self.allowed_updates,
                )
                await self._take(updates)
            except InvalidToken:
                raise
            except RetryAfter as error:
                await asyncio.sleep(retry_after_seconds(error))
                continue
            except (TelegramError, RedisError) as error:
                logger.warning("polling: %s; again in %.1f s", type(error).__name__, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = 0.5

    async def _take(self, updates: tuple[Update, ...]) -> None:
        """Offer each in order; the offset passes only what was taken (or need not be)."""
        taken_to = self.offset
        try:
            for update in updates:
                while await self.pipeline.offer(update) is Offer.FULL:
                    if not self.pipeline.accepting:
                        return  # stopping: the rest stays unconfirmed at Telegram
                    await self.pipeline.queue.wait_for_room()
                taken_to = update.update_id + 1
        finally:
            if taken_to is not None and taken_to != self.offset:
                self.offset = taken_to
                await self.pipeline.store.save_offset(taken_to)
