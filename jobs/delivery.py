"""The delivery stage: finished portraits from the outbox to the user's chat, then the order closes.

The render worker (GPU) generates, seals the images into the outbox (`studio.outbox`) and takes
its next order at once (`hand_over`). `deliver_order` runs on the "delivery" queue, in a worker
that needs no GPU and sends many orders at once (Telegram's per-chat limit paces each one):
  1. take the order's delivery lease (like the render lease: a dead sender's job runs again
     within seconds, see `reconcile_delivery`);
  2. open the outbox under the user's key, show "Sending…" in the order's progress message;
  3. tile the previews into sheets (`pipeline.contact_sheet`, PREVIEW_PER_SHEET a photo) and send
     what Telegram has not confirmed (`bot.delivery.deliver_portraits`, at-least-once): the
     sheets as photo albums, the originals as one .zip;
  4. close: delivered only when every item is confirmed; a NEW final message (it notifies) with
     "another style" and "send the originals again"; ledger, ETA average, outbox dropped.
A chat that refuses us for good, or sends that keep failing past DELIVERY_MAX_TRIES, end in a
refund (`bot.payments.fail_order`), never in "all here".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from arq.jobs import JobStatus
from arq.worker import Retry
from telegram import Bot
from telegram.error import TelegramError

from bot.client import edit_text
from bot.delivery import DeliveryLog, PortraitFile, Undeliverable, deliver_portraits
from bot.kept_photos import kept_line
from bot.keyboards import delivered_keyboard
from bot.payments import fail_order
from bot.texts import text
from jobs.render_lease import RenderLease, lease_seconds, render_lease_held
from jobs.resources import DeliveryResources, WorkerResources, resources
from studio import keys
from studio.crypto import KeyShredded
from studio.domain import Studio
from studio.durations import record_delivery_duration
from studio.orders import Order, OrderState
from studio.outbox import Outbox
from studio.payments import Outcome
from studio.queue import (
    delivery_job_status,
    enqueue_delivery,
    free_dead_delivery,
    render_job_status,
    rerun_render,
)
from studio.reuse import keep_if_asked

if TYPE_CHECKING:
    from pipeline.provenance import ProvenanceSigner

logger = logging.getLogger(__name__)

BUFFER_POLL_S = 0.5  # a render worker facing a full outbox asks again this often
RETRY_DEFER_S = (2, 5, 15, 30, 60)
MESSAGE_WAIT_S = 10.0  # longest the payment handler's message may lag its own render


async def hand_over(
    studio: Studio,
    order: Order,
    portraits: Sequence[PortraitFile],
    still_mine: Callable[[], Awaitable[bool]],
) -> bool:
    """Seal the portraits into the outbox (waiting while it is full) and queue their delivery.

    False when the order stopped being this run's while waiting. Raises KeyShredded after
    /delete.
    """
    key = await studio.vault.existing_key(order.user_id)
    outbox = Outbox(studio.redis, studio.settings)
    waited = False
    while not await outbox.put(order.id, key, portraits, studio.clock.now()):
        if not waited:
            logger.info("order %s: the delivery outbox is full; waiting", order.id)
            waited = True
        if not await still_mine():
            return False
        await asyncio.sleep(BUFFER_POLL_S)
    await DeliveryLog(studio.redis, order.id).plan(len(portraits))
    await enqueue_delivery(studio.redis, order.id)
    return True


async def deliver_order(ctx: dict[str, Any], order_id: str) -> str:
    """Send one order's portraits from the outbox and close it; safe to run again at any point."""
    res = resources(ctx, WorkerResources)
    studio = res.studio
    job_try = int(ctx.get("job_try", 1))
    last_try = job_try >= studio.settings.delivery_max_tries
    outbox = Outbox(studio.redis, studio.settings)
    order = await studio.orders.get(order_id)
    if order is None or order.state is not OrderState.RENDERING:
        await outbox.drop(order_id)  # delivered, withdrawn (/delete) or failed meanwhile
        return "not deliverable"
    lease = RenderLease(
        studio.redis, order_id, lease_seconds(studio.settings), key=keys.delivery_lease(order_id)
    )
    if not await lease.wait_acquire(lambda: _still_delivering(studio, order_id)):
        return "withdrawn"
    async with lease.kept_alive():
        return await _deliver_leased(res, order, lease, last_try, job_try)


async def _still_delivering(studio: Studio, order_id: str) -> bool:
    order = await studio.orders.get(order_id)
    return order is not None and order.state is OrderState.RENDERING


async def _deliver_leased(
    res: WorkerResources, order: Order, lease: RenderLease, last_try: bool, job_try: int
) -> str:
    studio, bot = res.studio, res.bot
    outbox = Outbox(studio.redis, studio.settings)

    async def still_mine() -> bool:
        return await _still_delivering(studio, order.id) and await lease.held()

    started = time.monotonic()
    try:
        key = await studio.vault.existing_key(order.user_id)
        log = DeliveryLog(studio.redis, order.id)
        count = await log.fully_sent()
        if count is None:
            portraits = await outbox.load(order.id, key)
            if portraits is None:
                # The outbox expired (delivery workers were down for its whole TTL): render again.
                await rerun_render(studio.redis, order.id, studio.settings)
                logger.warning("order %s: its outbox is gone; rendering it again", order.id)
                return "re-rendering"
            await _show_sending(studio, bot, order, len(portraits))
            per_sheet = studio.settings.preview_per_sheet
            signer = res.signer if isinstance(res, DeliveryResources) else None
            sheets = await asyncio.to_thread(
                compose_previews, order.id, portraits, per_sheet, signer
            )
            report = await deliver_portraits(
                studio.redis,
                bot,
                order,
                portraits,
                still_mine,
                sheets=sheets,
                per_sheet=per_sheet,
                key=key,
                album_size=studio.settings.delivery_album_size,
                archive_max_bytes=studio.settings.archive_max_bytes,
            )
            if report.stopped:
                return "withdrawn"
            count = await log.fully_sent()
            if count is None:
                raise RuntimeError("delivery ended with unconfirmed items")
        await close_delivered(studio, bot, order, count, time.monotonic() - started)
        await outbox.drop(order.id)
        return f"delivered {count}"
    except KeyShredded:
        await outbox.drop(order.id)
        return "erased"  # /delete destroyed the key: nothing may be read or sent any more
    except Undeliverable as error:
        logger.warning("order %s: the chat refuses delivery (%s)", order.id, error)
        await _give_up(studio, bot, order, "undeliverable")
        return "failed: undeliverable"
    except (Retry, asyncio.CancelledError):
        raise
    except Exception as error:
        if last_try:
            logger.exception("order %s: delivery failed on its last try (%d)", order.id, job_try)
            await _give_up(studio, bot, order, f"delivery {type(error).__name__}")
            return "failed after retries"
        defer = RETRY_DEFER_S[min(job_try, len(RETRY_DEFER_S)) - 1]
        logger.warning(
            "order %s: delivery try %d failed (%s), again in %ds",
            order.id,
            job_try,
            type(error).__name__,
            defer,
        )
        raise Retry(defer=defer) from error


def compose_previews(
    order_id: str,
    portraits: Sequence[PortraitFile],
    per_sheet: int,
    signer: ProvenanceSigner | None = None,
) -> list[bytes] | None:
    """Blocking: the preview sheets (labelled, signed JPEGs); None sends each album JPEG as is."""
    if per_sheet == 1:
        return None
    from pipeline.contact_sheet import preview_sheets

    ordered = sorted(portraits, key=lambda p: p.index)
    jpegs = [p.album_jpeg for p in ordered]
    return preview_sheets(jpegs, per_sheet, content_id=order_id, signer=signer)


async def _give_up(studio: Studio, bot: Bot, order: Order, reason: str) -> None:
    """A portrait that cannot be sent ends in a refund."""
    await fail_order(studio, bot, order.id, reason)
    await Outbox(studio.redis, studio.settings).drop(order.id)


async def queue_message_id(studio: Studio, order_id: str, wait_s: float = MESSAGE_WAIT_S) -> int:
    """The order's progress message id, waiting a little for the payment handler to save it.

    The handler enqueues the render before it sends (paced by the chat's limit) the message
    that shows the place; a fast render can reach its last report, or its delivery, first.
    """
    deadline = time.monotonic() + wait_s
    while True:
        fresh = await studio.orders.get(order_id)
        message_id = fresh.queue_message_id if fresh is not None else 0
        if message_id or time.monotonic() >= deadline:
            return message_id
        await asyncio.sleep(0.1)


async def _show_sending(studio: Studio, bot: Bot, order: Order, total: int) -> None:
    """The order's progress message says "Sending" (the freshest message id: it may be new)."""
    message_id = await queue_message_id(studio, order.id)
    if not message_id:
        return
    try:
        body = text(order.lang, "render_sending", total=total)
        await edit_text(bot, order.chat_id, message_id, body)
    except TelegramError as error:
        logger.info("order %s: sending notice not shown: %s", order.id, type(error).__name__)


async def close_delivered(
    studio: Studio, bot: Bot, order: Order, count: int, seconds: float | None
) -> None:
    """Mark the order delivered; the final message is new, so the user is notified."""
    now = studio.clock.now()
    # The user's opt-in (studio/reuse.py): their checked photos go to their kept set first; the
    # delivered transition drops the order's own either way.
    await keep_if_asked(studio, order.id)
    if await studio.orders.deliver(order.id, now) is None:
        return  # withdrawn at the very last moment: /delete owns what happens next
    if order.charge_id:
        await studio.ledger.close(order.charge_id, Outcome.DELIVERED, now)
    if seconds is not None:
        await record_delivery_duration(studio.redis, seconds)
    try:
        await bot.send_message(
            chat_id=order.chat_id,
            text=text(order.lang, "render_delivered", total=count)
            + kept_line(order.lang, await studio.photos.kept_until(order.user_id, now)),
            reply_markup=delivered_keyboard(order.lang, order.id),
        )
    except TelegramError:
        logger.exception("order %s: delivered notice not sent", order.id)
    logger.info("order %s delivered: %d portraits", order.id, count)


async def reconcile_delivery(studio: Studio, order_id: str) -> bool:
    """For the paid-order reconciler: True when the order is in the delivery stage (handled).

    A live delivery lease: nothing to do. A running job without one: freed after the grace (its
    sender died). No job but an outbox: a job is queued. A render handed over whose outbox is
    gone: the render runs again. False: not handed over, the render stage's business.
    """
    redis = studio.redis
    if await redis.exists(keys.delivery_lease(order_id)):
        return True
    status = await delivery_job_status(redis, order_id)
    if status is JobStatus.in_progress:
        if await free_dead_delivery(redis, order_id, lease_seconds(studio.settings)):
            logger.warning("order %s: its delivery worker died; the delivery runs again", order_id)
        return True
    if status in (JobStatus.queued, JobStatus.deferred):
        return True
    if await Outbox(redis, studio.settings).holds(order_id):
        await enqueue_delivery(redis, order_id)
        logger.warning("order %s: handed over without a delivery job: queued", order_id)
        return True
    handed_over = await DeliveryLog(redis, order_id).total() is not None
    if (
        handed_over
        and not await render_lease_held(redis, order_id)
        and await render_job_status(redis, order_id) is JobStatus.complete
    ):
        await rerun_render(redis, order_id, studio.settings)
        logger.warning("order %s: handed over, outbox gone: rendering again", order_id)
        return True
    return False
