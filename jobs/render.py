"""The render job (GPU stage): a paid order becomes finished portraits, handed to delivery.

Stages (each re-checks that the order is still wanted, since /delete may land at any time, and
that this run still holds the order's render lease, see jobs/render_lease.py):
  1. claim the order (paid -> rendering) and its lease, move the queue along for everyone behind;
  2. download the accepted inputs from Telegram into memory and decode them;
  3. generate in a thread (seeds come from the order id, so a re-run makes the same images),
     editing one progress message as it goes;
  4. hand over: seal the images into the bounded outbox (waiting while it is full) and queue
     the delivery job (jobs/delivery.py), then return, so the worker takes its next order while
     Telegram's per-chat limit paces the sends of this one.
A failure that another try cannot fix fails the order and refunds it; anything else is
retried by arq until the last try, which then fails and refunds too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq.worker import Retry
from telegram import Bot

from bot.client import edit_text
from bot.delivery import DeliveryLog, PortraitFile
from bot.payments import fail_order
from bot.queue_notices import notify_queue_positions
from bot.texts import text
from jobs.delivery import close_delivered, hand_over, queue_message_id
from jobs.generation import generate_portraits
from jobs.render_inputs import PermanentRenderError, load_inputs
from jobs.render_lease import RenderLease, lease_seconds
from jobs.resources import RenderResources, resources
from studio.crypto import KeyShredded
from studio.domain import Studio
from studio.durations import record_render_duration
from studio.orders import Order, OrderState
from studio.outbox import Outbox
from studio.queue import enqueue_delivery

logger = logging.getLogger(__name__)

PROGRESS_EDIT_INTERVAL_S = 2.0  # one chat allows ~1 message/s; leave room for the rest
# Every edit is a message unit of the order's budget (MESSAGE_BUDGET_PER_ORDER): progress is
# shown at each quarter of the set, not every few seconds, so a slow render costs no more.
PROGRESS_STEPS = 4
# Part of the arq job timeout kept for the hand-over (a full outbox) after generation.
HANDOVER_SHARE = 0.25


async def render_order(ctx: dict[str, Any], order_id: str) -> str:
    """Render one paid order and hand it to delivery; safe to run again at any point."""
    res = resources(ctx, RenderResources)
    studio = res.studio
    settings = studio.settings
    job_try = int(ctx.get("job_try", 1))
    last_try = job_try >= settings.render_max_tries

    # The order, now in `rendering` (a retry finds it there already); None when not paid.
    order = await studio.orders.claim(order_id, studio.clock.now())
    if order is None:
        return "not paid"
    lease = RenderLease(studio.redis, order_id, lease_seconds(settings))
    if not await lease.wait_acquire(lambda: _still_rendering(studio, order_id)):
        return "served by another run"
    async with lease.kept_alive():
        return await _render_claimed(res, order, lease, last_try, job_try)


async def _render_claimed(
    res: RenderResources,
    order: Order,
    lease: RenderLease,
    last_try: bool,
    job_try: int,
) -> str:
    """Stages 2-5, under the order's render lease."""
    studio, bot = res.studio, res.bot
    order_id = order.id

    async def still_mine() -> bool:
        return await _still_rendering(studio, order_id) and await lease.held()

    await _move_queue_along(studio, bot)
    started = time.monotonic()
    try:
        return await _make_and_hand_over(res, order, still_mine, started)
    except PermanentRenderError as error:
        await fail_order(studio, bot, order_id, error.reason)
        return f"failed: {error.reason}"
    except KeyShredded:
        return "erased"  # /delete destroyed the key: nothing may be read or sent any more
    except (Retry, asyncio.CancelledError):
        raise
    except Exception as error:
        # Downloads, generation and the hand-over alike: the next try starts over (same seeds).
        return await _failed_try(studio, bot, order_id, error, last_try, job_try)


async def _make_and_hand_over(
    res: RenderResources,
    order: Order,
    still_mine: Callable[[], Awaitable[bool]],
    started: float,
) -> str:
    studio, bot = res.studio, res.bot
    already = await DeliveryLog(studio.redis, order.id).fully_sent()
    if already is not None:
        # Every item was confirmed sent, and the run that sent them died before closing.
        await close_delivered(studio, bot, order, already, None)
        return f"delivered {already}"
    if await Outbox(studio.redis, studio.settings).holds(order.id):
        # A previous try handed over and died before its job ended: delivery has it.
        await enqueue_delivery(studio.redis, order.id)
        return "handed over"
    portraits = await _make_or_skip(res, order, still_mine)
    if portraits is None:
        return "withdrawn"
    if not await hand_over(studio, order, portraits, still_mine):
        return "withdrawn"
    await record_render_duration(studio.redis, time.monotonic() - started)
    return f"handed over {len(portraits)}"


async def _move_queue_along(studio: Studio, bot: Bot) -> None:
    try:
        await notify_queue_positions(studio, bot)
    except Exception:  # notices are best effort; the render matters more
        logger.exception("queue notices failed")


async def _still_rendering(studio: Studio, order_id: str) -> bool:
    order = await studio.orders.get(order_id)
    return order is not None and order.state is OrderState.RENDERING


async def _make_or_skip(
    res: RenderResources,
    order: Order,
    still_mine: Callable[[], Awaitable[bool]],
) -> list[PortraitFile] | None:
    """The order's portraits, regenerated; None if the order was withdrawn meanwhile."""
    studio, bot = res.studio, res.bot
    inputs = await load_inputs(studio, bot, order)
    if not await still_mine():
        return None
    progress = ProgressMessage(studio, bot, order, asyncio.get_running_loop())
    timeout = studio.settings.render_job_timeout_s * (1 - HANDOVER_SHARE)
    try:
        try:
            portraits = await asyncio.wait_for(
                asyncio.to_thread(
                    generate_portraits,
                    res.models,
                    inputs,
                    order,
                    studio.settings,
                    progress.report,
                ),
                timeout,
            )
        except TimeoutError as error:
            raise GenerationTimeout(f"generation took over {timeout:.0f}s") from error
        await progress.flush()
    finally:
        # A timeout or an abort (/delete) cannot stop the thread, which keeps the shared
        # pipeline busy: its next progress report raises, so it stops at the next image, and
        # nothing it reports reaches Redis or the chat any more.
        progress.close()
    if not await still_mine():
        return None
    return portraits


class GenerationTimeout(Exception):
    """Generation ran out of its share of the job's time (a retry may be luckier)."""


async def _failed_try(
    studio: Studio, bot: Bot, order_id: str, error: Exception, last_try: bool, job_try: int
) -> str:
    if last_try:
        logger.exception("order %s: render failed on its last try (%d)", order_id, job_try)
        await fail_order(studio, bot, order_id, f"{type(error).__name__} after {job_try} tries")
        return "failed after retries"
    logger.warning(
        "order %s: render try %d failed (%s), retrying", order_id, job_try, type(error).__name__
    )
    # Back to the queue without giving up the place: the job keeps its id, and arq leaves its
    # score alone when Retry has no defer (a defer would set it to now + defer: the back of
    # the queue), so the next free worker picks it up again before the orders paid after it.
    raise Retry() from error


class _GenerationStopped(Exception):
    """Raised in the generator thread once its render run has stopped waiting for it."""


class ProgressMessage:
    """Edits the order's one queue/progress message from the generator's thread, throttled.

    Once closed (the run stopped waiting for the thread: done, timed out or aborted) it does
    nothing, and the thread's next report raises so that generation stops at the next image.
    """

    def __init__(
        self, studio: Studio, bot: Bot, order: Order, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._studio = studio
        self._bot = bot
        self._order = order
        self._loop = loop
        self._closed = threading.Event()
        self._last_edit = 0.0
        self._last_step = 0
        self._latest: tuple[int, int] = (0, 0)
        self._last_text = ""

    def close(self) -> None:
        self._closed.set()

    def report(self, done: int, total: int) -> None:
        """Called from the generator thread after each image."""
        if self._closed.is_set():
            raise _GenerationStopped(self._order.id)
        self._latest = (done, total)
        fut = asyncio.run_coroutine_threadsafe(self._update(done, total), self._loop)
        fut.add_done_callback(_log_failure)

    async def flush(self) -> None:
        done, total = self._latest
        if total:
            await queue_message_id(self._studio, self._order.id)  # the payer must see it
            await self._update(done, total, force=True)

    async def _update(self, done: int, total: int, force: bool = False) -> None:
        if self._closed.is_set():
            return
        # Never re-creates an order that /delete erased, nor touches one no longer rendering.
        rendering = await self._studio.orders.record_progress(self._order.id, done, total)
        if rendering is None or self._closed.is_set():
            return
        now = time.monotonic()
        step = done * PROGRESS_STEPS // total
        spaced = now - self._last_edit >= PROGRESS_EDIT_INTERVAL_S
        due = force or done == total or (step > self._last_step and spaced)
        # The message id is read from the fresh order: the payment handler may save it only
        # after this render has claimed the order (a fast worker), and then it is there now.
        message_id = rendering.queue_message_id
        if not due or not message_id:
            return
        body = text(self._order.lang, "render_progress", done=done, total=total)
        if body == self._last_text:
            return  # an identical edit is refused by Telegram and still costs flood budget
        self._last_edit = now
        self._last_step = step
        self._last_text = body
        await edit_text(self._bot, self._order.chat_id, message_id, body)


def _log_failure(fut: Any) -> None:
    error = fut.exception()
    if error is not None:
        logger.warning("progress edit failed: %s", type(error).__name__)
