"""A render's inputs: the accepted headshot and selfies, fetched from Telegram into memory."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np
from telegram import Bot
from telegram.error import BadRequest

from bot.client import download
from studio.domain import Studio
from studio.orders import Order
from studio.photos import PhotoRole, PhotoStatus

logger = logging.getLogger(__name__)

DOWNLOAD_CONCURRENCY = 4


class PermanentRenderError(Exception):
    """A failure another try cannot fix (the order is failed and refunded at once)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RenderInputs:
    """Decoded pixels, held in memory only for the length of one render."""

    headshot: np.ndarray
    selfies: list[np.ndarray]


async def load_inputs(studio: Studio, bot: Bot, order: Order) -> RenderInputs:
    """Download and decode the accepted photos; raises KeyShredded after /delete."""
    from pipeline.decode import ImageRejected, decode_image

    key = await studio.vault.existing_key(order.user_id)
    photos = await studio.photos.records(order.id, key)
    accepted = [p for p in photos.values() if p.status is PhotoStatus.ACCEPTED]
    headshots = [p for p in accepted if p.role is PhotoRole.HEADSHOT]
    selfies = sorted(
        (p for p in accepted if p.role is PhotoRole.SELFIE), key=lambda p: p.received_at
    )
    if not headshots or not selfies:
        raise PermanentRenderError("inputs missing")
    limit = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)

    async def fetch(file_id: str) -> bytes:
        async with limit:
            try:
                return await download(bot, file_id)
            except BadRequest as error:
                # Telegram no longer has the file (or never did): no retry brings it back.
                raise PermanentRenderError("input file unavailable") from error

    blobs = await asyncio.gather(fetch(headshots[0].file_id), *(fetch(p.file_id) for p in selfies))
    try:
        decoded = await asyncio.to_thread(lambda: [decode_image(b) for b in blobs])
    except ImageRejected as error:
        raise PermanentRenderError("input unreadable") from error
    logger.info("order %s: %d inputs downloaded", order.id, len(decoded))
    return RenderInputs(headshot=decoded[0], selfies=decoded[1:])
