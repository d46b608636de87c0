"""Intake jobs: check one received photo (and refresh the status message, bot/intake_status.py).

Photos are downloaded from Telegram into memory, never to disk. The headshot's face embedding
is recomputed in memory when needed and cached per process only; nothing of it is persisted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from arq.worker import Retry
from telegram import Bot
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot.client import download, retry_after_seconds
from bot.intake_status import mark_photo, open_selfie_step, refresh_status, refuse_headshot
from jobs.resources import IntakeResources, WorkerResources, resources
from studio.crypto import KeyShredded, UserKey
from studio.domain import Studio
from studio.metrics import INTAKE_VERDICTS
from studio.orders import PRE_PAYMENT_STATES, Order
from studio.photos import PhotoRecord, PhotoRole, PhotoStatus
from studio.queue import schedule_status_refresh

logger = logging.getLogger(__name__)

HEADSHOT_CACHE_SIZE = 256
# check_photo's max_tries in worker.py. arq retries a job only when it raises Retry (or is
# cancelled), so a download Telegram refuses for now is retried through Retry, and on this last
# try the photo is rejected instead: a photo never stays pending.
CHECK_PHOTO_MAX_TRIES = 3
# Wait before the next try of a download that failed for now (doubles each try).
DOWNLOAD_RETRY_S = 1.0
# The verdict when decoding or checking failed in a way nobody foresaw (a decoder bug on a
# hostile file, an analyzer fault): the user hears "couldn't read this photo", never silence.
UNREADABLE = "unreadable"


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
    res = resources(ctx, IntakeResources)
    studio = res.studio
    job_try = int(ctx.get("job_try") or 1)
    order = await studio.orders.get(order_id)
    if order is None or order.state not in PRE_PAYMENT_STATES:
        return
    try:
        key = await studio.vault.existing_key(order.user_id)
    except KeyShredded:
        return  # /delete ran: nothing to check, nothing to say
    record = await studio.photos.record(order_id, key, token)
    if record is None or record.status is not PhotoStatus.PENDING:
        return  # removed by /cancel, or already checked by an earlier try
    if record.role is PhotoRole.HEADSHOT:
        verdict = await _check_headshot(res, job_try, record)
    else:
        verdict = await _check_selfie(res, job_try, order, key, record)
    record.status = PhotoStatus.ACCEPTED if verdict.ok else PhotoStatus.REJECTED
    record.reason = "" if verdict.ok else verdict.reason
    record.fingerprint = verdict.fingerprint
    if not await studio.photos.record_verdict(order_id, key, token, record):
        return
    logger.info("order %s: %s %s (%s)", order_id, record.role, record.status, verdict.reason)
    INTAKE_VERDICTS.labels(record.role, record.status, verdict.reason or "ok").inc()
    await mark_photo(res.bot, order.chat_id, record)
    if record.role is PhotoRole.HEADSHOT:
        if verdict.ok and verdict.embedding is not None:
            res.headshots.put(order_id, verdict.embedding)
        await _announce_headshot(studio, res.bot, order, verdict)
    else:
        await schedule_status_refresh(studio.redis, order_id)


async def flush_intake_status(ctx: dict[str, Any], order_id: str) -> None:
    """Bring the user's intake status message up to date (`queue.schedule_status_refresh`)."""
    res = resources(ctx, WorkerResources)
    await refresh_status(res.studio, res.bot, order_id)


async def _announce_headshot(studio: Studio, bot: Bot, order: Order, verdict: Verdict) -> None:
    if not verdict.ok:
        await refuse_headshot(studio, bot, order, verdict.reason)
        return
    accepted = await studio.orders.accept_headshot(order.id)
    if accepted is None:
        return  # cancelled meanwhile
    await open_selfie_step(studio, bot, accepted)


# The checks ---------------------------------------------------------------------------------


async def _download(bot: Bot, job_try: int, file_id: str, timeout_s: float) -> bytes | Verdict:
    """The file's bytes in memory, or the verdict when Telegram will not give them.

    A failure that may pass (network, timeout, flood control, a 5xx) raises arq's Retry, since
    arq retries nothing else; on the job's last try it becomes a "download_failed" rejection.
    A download that stalls (bytes trickling in) is cut at PHOTO_DOWNLOAD_TIMEOUT_S, well inside
    the job's own timeout: arq does not retry a job it timed out, so the photo would stay pending.
    """
    try:
        return await asyncio.wait_for(download(bot, file_id), timeout_s)
    except BadRequest as error:
        reason = "too_large_bytes" if "too big" in str(error).lower() else "download_failed"
        return Verdict(False, reason)
    except (TelegramError, TimeoutError) as error:  # NetworkError (TimedOut, 5xx), RetryAfter
        if job_try >= CHECK_PHOTO_MAX_TRIES:
            logger.warning("download failed on try %d, photo rejected: %r", job_try, error)
            return Verdict(False, "download_failed")
        defer = DOWNLOAD_RETRY_S * 2 ** (job_try - 1)
        if isinstance(error, RetryAfter):
            defer = max(defer, retry_after_seconds(error))
        logger.info("download failed on try %d (%r); retrying in %.1f s", job_try, error, defer)
        raise Retry(defer=defer) from error


async def _check_headshot(res: IntakeResources, job_try: int, record: PhotoRecord) -> Verdict:
    data = await _download(res.bot, job_try, record.file_id, res.settings.photo_download_timeout_s)
    if isinstance(data, Verdict):
        return data
    return await _checked(job_try, _headshot_verdict, res, data)


async def _checked(job_try: int, check: Callable[..., Verdict], *args: Any) -> Verdict:
    """`check(*args)` in a thread; an unexpected error is retried, and on the last try it
    becomes an "unreadable" verdict, so the photo never stays pending. (Redis and download
    errors are not in here: they happen outside the check and keep their own handling.)"""
    try:
        return await asyncio.to_thread(check, *args)
    except Exception as error:
        if job_try >= CHECK_PHOTO_MAX_TRIES:
            logger.warning("photo check failed on try %d: %s", job_try, type(error).__name__)
            return Verdict(False, UNREADABLE)
        defer = DOWNLOAD_RETRY_S * 2 ** (job_try - 1)
        logger.info("photo check failed on try %d (%s); retrying", job_try, type(error).__name__)
        raise Retry(defer=defer) from error


async def _check_selfie(
    res: IntakeResources, job_try: int, order: Order, key: UserKey, record: PhotoRecord
) -> Verdict:
    photos = await res.studio.photos.records(order.id, key)
    # The headshot first: without it the selfie cannot be checked, so it is not downloaded.
    headshot = await _headshot_embedding(res, job_try, order.id, photos)
    if isinstance(headshot, Verdict):
        return headshot
    data = await _download(res.bot, job_try, record.file_id, res.settings.photo_download_timeout_s)
    if isinstance(data, Verdict):
        return data
    fingerprints = [
        p.fingerprint
        for p in photos.values()
        if p.role is PhotoRole.SELFIE and p.status is PhotoStatus.ACCEPTED and p.fingerprint
    ]
    return await _checked(job_try, _selfie_verdict, res, data, headshot, fingerprints)


async def _headshot_embedding(
    res: IntakeResources, job_try: int, order_id: str, photos: dict[str, PhotoRecord]
) -> np.ndarray | Verdict:
    """From the cache, or recomputed from the accepted headshot (another worker checked it).

    Fails closed: when it cannot be had, the job is retried (arq `Retry`), and on its last try
    the selfie is refused as "identity_unverified", never accepted unchecked.
    """
    cached = res.headshots.get(order_id)
    if cached is not None:
        return cached
    accepted = [
        p
        for p in photos.values()
        if p.role is PhotoRole.HEADSHOT and p.status is PhotoStatus.ACCEPTED
    ]
    if accepted:
        data = await _download(
            res.bot, job_try, accepted[0].file_id, res.settings.photo_download_timeout_s
        )
        if not isinstance(data, Verdict):
            verdict = await _checked(job_try, _headshot_verdict, res, data)
            if verdict.embedding is not None:
                res.headshots.put(order_id, verdict.embedding)
                return verdict.embedding
    if job_try >= CHECK_PHOTO_MAX_TRIES:
        logger.warning("order %s: headshot embedding unavailable; selfie refused", order_id)
        return Verdict(False, "identity_unverified")
    defer = DOWNLOAD_RETRY_S * 2 ** (job_try - 1)
    logger.info("order %s: headshot embedding unavailable; retrying in %.1f s", order_id, defer)
    raise Retry(defer=defer)


def _decode(data: bytes) -> np.ndarray | Verdict:
    """The RGB array, or the refusal; a decoder that breaks on a hostile file is "unreadable"
    at once (the same bytes would break it again on every try)."""
    from pipeline.checks import ANALYSIS_MIN_SIDE
    from pipeline.decode import ImageRejected, decode_image

    try:
        return decode_image(data, min_decoded_side=ANALYSIS_MIN_SIDE)
    except ImageRejected as rejected:
        return Verdict(False, rejected.reason)
    except Exception as error:
        logger.warning("photo decoding failed unexpectedly: %s", type(error).__name__)
        return Verdict(False, UNREADABLE)


def _headshot_verdict(res: IntakeResources, data: bytes) -> Verdict:
    from pipeline.checks import check_headshot, image_fingerprint

    rgb = _decode(data)
    if isinstance(rgb, Verdict):
        return rgb
    with res.analyzer_lock:
        faces = res.analyzer.analyze(rgb)
    result = check_headshot(rgb, faces)
    if not result.ok or result.face is None:
        return Verdict(False, result.reason)
    return Verdict(True, "ok", image_fingerprint(rgb), result.face.embedding)


def _selfie_verdict(
    res: IntakeResources, data: bytes, headshot: np.ndarray, fingerprints: list[int]
) -> Verdict:
    from pipeline.checks import check_selfie, image_fingerprint

    rgb = _decode(data)
    if isinstance(rgb, Verdict):
        return rgb
    with res.analyzer_lock:
        faces = res.analyzer.analyze(rgb)
    fingerprint = image_fingerprint(rgb)  # once per photo: the check and the record share it
    result = check_selfie(rgb, faces, headshot, fingerprints, fingerprint=fingerprint)
    if not result.ok:
        return Verdict(False, result.reason)
    return Verdict(True, "ok", fingerprint)
