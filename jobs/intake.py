"""Intake jobs: check one received photo, and refresh the user's intake status message.

Photos are downloaded from Telegram into memory, never to disk. The headshot's face embedding
is recomputed in memory when needed and cached per process only; nothing of it is persisted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from arq.worker import Retry
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot.intake_status import reason_text, status_message
from bot.texts import text
from studio import keys
from studio.crypto import KeyShredded, UserKey
from studio.domain import Studio
from studio.orders import (
    PRE_PAYMENT_STATES,
    Order,
    OrderState,
    PhotoRecord,
    PhotoRole,
    PhotoStatus,
)
from studio.queue import FLUSH_INTAKE_STATUS

logger = logging.getLogger(__name__)

# Results landing within one second share one status edit (Telegram allows ~1 edit/s/chat).
STATUS_REFRESH_S = 1.0
HEADSHOT_CACHE_SIZE = 256
_CACHE = "headshot_embeddings"
_ANALYZER_LOCK = "analyzer_lock"
# check_photo's max_tries in worker.py. arq retries a job only when it raises Retry (or is
# cancelled), so a download Telegram refuses for now is retried through Retry, and on this last
# try the photo is rejected instead: a photo never stays pending.
CHECK_PHOTO_MAX_TRIES = 3
# Wait before the next try of a download that failed for now (doubles each try).
DOWNLOAD_RETRY_S = 1.0


@dataclass
class Verdict:
    """The outcome of one photo check; the embedding stays in this process."""

    ok: bool
    reason: str
    fingerprint: int | None = None
    embedding: np.ndarray | None = None


class HeadshotCache:
    """A small per-process LRU of order id -> headshot embedding; never written anywhere."""

    def __init__(self, size: int = HEADSHOT_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, order_id: str) -> np.ndarray | None:
        value = self._items.get(order_id)
        if value is not None:
            self._items.move_to_end(order_id)
        return value

    def put(self, order_id: str, embedding: np.ndarray) -> None:
        self._items[order_id] = embedding
        self._items.move_to_end(order_id)
        while len(self._items) > self._size:
            self._items.popitem(last=False)


async def check_photo(ctx: dict[str, Any], order_id: str, token: str) -> None:
    """Check one photo and record the verdict; skip quietly if the photo is gone."""
    studio: Studio = ctx["studio"]
    order = await studio.orders.get(order_id)
    if order is None or order.state not in PRE_PAYMENT_STATES:
        return
    try:
        key = await studio.vault.existing_key(order.user_id)
    except KeyShredded:
        return  # /delete ran: nothing to check, nothing to say
    record = await studio.orders.photo(order_id, key, token)
    if record is None or record.status is not PhotoStatus.PENDING:
        return  # removed by /cancel, or already checked by an earlier try
    if record.role is PhotoRole.HEADSHOT:
        verdict = await _check_headshot(ctx, record)
    else:
        verdict = await _check_selfie(ctx, order, key, record)
    record.status = PhotoStatus.ACCEPTED if verdict.ok else PhotoStatus.REJECTED
    record.reason = "" if verdict.ok else verdict.reason
    record.fingerprint = verdict.fingerprint
    if not await studio.orders.save_photo(order_id, key, token, record):
        return
    logger.info("order %s: %s %s (%s)", order_id, record.role, record.status, verdict.reason)
    if record.role is PhotoRole.HEADSHOT:
        if verdict.ok and verdict.embedding is not None:
            _cache(ctx).put(order_id, verdict.embedding)
        await _announce_headshot(studio, ctx["bot"], order, key, verdict)
    else:
        await schedule_status_refresh(studio, order_id)


async def schedule_status_refresh(studio: Studio, order_id: str) -> None:
    """One status edit per order per second, however many results arrive in it."""
    bucket = int(time.time() / STATUS_REFRESH_S)
    await studio.redis.enqueue_job(
        FLUSH_INTAKE_STATUS,
        order_id,
        _job_id=f"flush:{order_id}:{bucket}",
        _defer_by=STATUS_REFRESH_S,
        _queue_name=keys.INTAKE_QUEUE,
    )


async def flush_intake_status(ctx: dict[str, Any], order_id: str) -> None:
    """Edit the user's one status message to the current counts (skipped when unchanged)."""
    studio: Studio = ctx["studio"]
    order = await studio.orders.get(order_id)
    if order is None or order.state is not OrderState.SELFIES:
        return
    try:
        key = await studio.vault.existing_key(order.user_id)
    except KeyShredded:
        return
    summary = await studio.orders.summary(order_id, key)
    body, markup = status_message(order.lang, order_id, summary, studio.settings.min_selfies)
    if not order.status_message_id:
        # The headshot's announcement could not send the status message: send it now (unless
        # that announcement has just sent it after all).
        fresh = await studio.orders.get(order_id)
        if fresh is not None and fresh.state is OrderState.SELFIES and not fresh.status_message_id:
            await _send_status(studio, ctx["bot"], fresh, body, markup)
        return
    digest = _digest(body, markup)
    if (await studio.redis.get(keys.status_shown(order_id))) == digest.encode():
        return
    # Done may have been pressed while we counted; its edit must not be overwritten.
    fresh = await studio.orders.get(order_id)
    if fresh is None or fresh.state is not OrderState.SELFIES:
        return
    bot: Bot = ctx["bot"]
    await _edit_status(bot, order, body, markup)
    await _remember_shown(studio, order_id, digest)
    # Done may have been pressed while this edit waited for its slot; then ours landed last and
    # shows a stale button, so put back the closing text the Done handler wrote.
    after = await studio.orders.get(order_id)
    if after is not None and after.state is not OrderState.SELFIES:
        closing, _ = status_message(
            order.lang, order_id, summary, studio.settings.min_selfies, done=True
        )
        await _edit_status(bot, order, closing, None)


async def _edit_status(
    bot: Bot, order: Order, body: str, markup: InlineKeyboardMarkup | None
) -> None:
    try:
        await bot.edit_message_text(
            body, chat_id=order.chat_id, message_id=order.status_message_id, reply_markup=markup
        )
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise


async def _announce_headshot(
    studio: Studio, bot: Bot, order: Order, key: UserKey, verdict: Verdict
) -> None:
    lang = order.lang
    if not verdict.ok:
        if (await studio.orders.get(order.id) or order).state is OrderState.HEADSHOT:
            await bot.send_message(
                order.chat_id,
                text(lang, "headshot_rejected", reason=reason_text(lang, verdict.reason)),
            )
        return
    if not await studio.orders.transition(order.id, {OrderState.HEADSHOT}, OrderState.SELFIES):
        return  # cancelled meanwhile
    settings = studio.settings
    try:
        await bot.send_message(
            order.chat_id,
            text(
                lang,
                "headshot_accepted",
                min_selfies=settings.min_selfies,
                max_selfies=settings.max_selfies,
            ),
        )
        summary = await studio.orders.summary(order.id, key)
        body, markup = status_message(lang, order.id, summary, settings.min_selfies)
        await _send_status(studio, bot, order, body, markup)
    finally:
        # Selfies may have been sent together with the headshot and checked already; and if
        # the status message could not be sent, the refresh sends it (status_message_id is 0).
        await schedule_status_refresh(studio, order.id)


async def _send_status(
    studio: Studio, bot: Bot, order: Order, body: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Send a new intake status message and make it the one that later refreshes edit."""
    sent = await bot.send_message(order.chat_id, body, reply_markup=markup)
    await studio.orders.update(order.id, status_message_id=sent.message_id)
    await _remember_shown(studio, order.id, _digest(body, markup))


async def _remember_shown(studio: Studio, order_id: str, digest: str) -> None:
    ttl_ms = int(keys.STATUS_SHOWN_TTL.total_seconds() * 1000)
    await studio.redis.set(keys.status_shown(order_id), digest.encode(), px=ttl_ms)


def _digest(body: str, markup: InlineKeyboardMarkup | None) -> str:
    shown = json.dumps([body, markup.to_dict() if markup else None], sort_keys=True)
    return hashlib.sha256(shown.encode()).hexdigest()


# The checks ---------------------------------------------------------------------------------


async def _download(ctx: dict[str, Any], file_id: str) -> bytes | Verdict:
    """The file's bytes in memory, or the verdict when Telegram will not give them.

    A failure that may pass (network, timeout, flood control, a 5xx) raises arq's Retry, since
    arq retries nothing else; on the job's last try it becomes a "download_failed" rejection.
    """
    bot: Bot = ctx["bot"]
    try:
        file = await bot.get_file(file_id)
        return bytes(await file.download_as_bytearray())
    except BadRequest as error:
        reason = "too_large_bytes" if "too big" in str(error).lower() else "download_failed"
        return Verdict(False, reason)
    except TelegramError as error:  # NetworkError (TimedOut, 5xx), RetryAfter, ...
        job_try = int(ctx.get("job_try") or 1)
        if job_try >= CHECK_PHOTO_MAX_TRIES:
            logger.warning("download failed on try %d, photo rejected: %r", job_try, error)
            return Verdict(False, "download_failed")
        defer = DOWNLOAD_RETRY_S * 2 ** (job_try - 1)
        if isinstance(error, RetryAfter):
            defer = max(defer, _seconds(error.retry_after))
        logger.info("download failed on try %d (%r); retrying in %.1f s", job_try, error, defer)
        raise Retry(defer=defer) from error


def _seconds(value: float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def _check_headshot(ctx: dict[str, Any], record: PhotoRecord) -> Verdict:
    data = await _download(ctx, record.file_id)
    if isinstance(data, Verdict):
        return data
    return await asyncio.to_thread(_headshot_verdict, ctx, data)


async def _check_selfie(
    ctx: dict[str, Any], order: Order, key: UserKey, record: PhotoRecord
) -> Verdict:
    studio: Studio = ctx["studio"]
    data = await _download(ctx, record.file_id)
    if isinstance(data, Verdict):
        return data
    photos = await studio.orders.photos(order.id, key)
    fingerprints = [
        p.fingerprint
        for p in photos.values()
        if p.role is PhotoRole.SELFIE and p.status is PhotoStatus.ACCEPTED and p.fingerprint
    ]
    headshot = await _headshot_embedding(ctx, order.id, photos)
    return await asyncio.to_thread(_selfie_verdict, ctx, data, headshot, fingerprints)


async def _headshot_embedding(
    ctx: dict[str, Any], order_id: str, photos: dict[str, PhotoRecord]
) -> np.ndarray | None:
    """From the cache, or recomputed from the accepted headshot (another worker checked it)."""
    cached = _cache(ctx).get(order_id)
    if cached is not None:
        return cached
    accepted = [
        p
        for p in photos.values()
        if p.role is PhotoRole.HEADSHOT and p.status is PhotoStatus.ACCEPTED
    ]
    if not accepted:
        return None
    data = await _download(ctx, accepted[0].file_id)
    if isinstance(data, Verdict):
        return None
    verdict = await asyncio.to_thread(_headshot_verdict, ctx, data)
    if verdict.embedding is not None:
        _cache(ctx).put(order_id, verdict.embedding)
    return verdict.embedding


def _headshot_verdict(ctx: dict[str, Any], data: bytes) -> Verdict:
    from pipeline.checks import check_headshot, image_fingerprint
    from pipeline.decode import ImageRejected, decode_image

    try:
        rgb = decode_image(data)
    except ImageRejected as rejected:
        return Verdict(False, rejected.reason)
    with _analyzer_lock(ctx):
        faces = ctx["analyzer"].analyze(rgb)
    result = check_headshot(rgb, faces)
    if not result.ok or result.face is None:
        return Verdict(False, result.reason)
    return Verdict(True, "ok", image_fingerprint(rgb), result.face.embedding)


def _selfie_verdict(
    ctx: dict[str, Any], data: bytes, headshot: np.ndarray | None, fingerprints: list[int]
) -> Verdict:
    from pipeline.checks import check_selfie, image_fingerprint
    from pipeline.decode import ImageRejected, decode_image

    try:
        rgb = decode_image(data)
    except ImageRejected as rejected:
        return Verdict(False, rejected.reason)
    with _analyzer_lock(ctx):
        faces = ctx["analyzer"].analyze(rgb)
    result = check_selfie(rgb, faces, headshot, fingerprints)
    if not result.ok:
        return Verdict(False, result.reason)
    return Verdict(True, "ok", image_fingerprint(rgb))


def intake_resources() -> dict[str, Any]:
    """Per-process state for the worker's startup ctx (arq copies ctx per job, not its values)."""
    # insightface models keep per-call state on the instance: one analysis at a time.
    return {_CACHE: HeadshotCache(), _ANALYZER_LOCK: threading.Lock()}


def _cache(ctx: dict[str, Any]) -> HeadshotCache:
    cache: HeadshotCache = ctx[_CACHE]
    return cache


def _analyzer_lock(ctx: dict[str, Any]) -> threading.Lock:
    lock: threading.Lock = ctx[_ANALYZER_LOCK]
    return lock
