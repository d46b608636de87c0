"""Sending the style packs' sample images, on request, as one album (by file_id once uploaded).

Every album item counts against the order's message budget, so samples go out only when the user
asks. Each image is uploaded once per digest of its bytes; Telegram's file_id for it is kept in
Redis (keys.pack_sample) and every later album is sent by file_id. File ids are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import Bot, InputMediaPhoto, Message
from telegram.error import BadRequest

from bot.packs import PackSample, pack_sample, style_packs
from bot.texts import text
from studio import keys
from studio.domain import Studio

logger = logging.getLogger(__name__)

ALBUM_MAX = 10  # sendMediaGroup's limit


async def send_samples(studio: Studio, bot: Bot, chat_id: int, lang: str) -> int:
    """One sample per pack, captioned with its name, in albums of up to 10; returns how many."""
    samples = [pack_sample(pack, studio.settings.pack_samples_dir) for pack in style_packs()]
    for first in range(0, len(samples), ALBUM_MAX):
        await _send_album(studio, bot, chat_id, lang, samples[first : first + ALBUM_MAX])
    return len(samples)


async def _send_album(
    studio: Studio, bot: Bot, chat_id: int, lang: str, samples: Sequence[PackSample]
) -> None:
    cache = [keys.pack_sample(s.pack.id, s.digest) for s in samples]
    known = [raw.decode() if raw else None for raw in await studio.redis.mget(cache)]
    try:
        sent = await _send(bot, chat_id, lang, samples, known)
    except BadRequest as error:
        if not any(known):
            raise
        # A file_id Telegram no longer knows (another bot token, say): upload them all anew.
        logger.warning("pack samples: cached file ids refused (%s); uploading again", error)
        await studio.redis.delete(*cache)
        known = [None] * len(samples)
        sent = await _send(bot, chat_id, lang, samples, known)
    ttl_s = int(keys.PACK_SAMPLE_TTL.total_seconds())
    for key, was_known, message in zip(cache, known, sent, strict=True):
        if was_known is None and message.photo:
            await studio.redis.set(key, message.photo[-1].file_id.encode(), ex=ttl_s)


async def _send(
    bot: Bot,
    chat_id: int,
    lang: str,
    samples: Sequence[PackSample],
    known: Sequence[str | None],
) -> Sequence[Message]:
    captions = [text(lang, "sample_caption", name=s.pack.name(lang)) for s in samples]
    media = [
        file_id if file_id is not None else sample.data
        for sample, file_id in zip(samples, known, strict=True)
    ]
    if len(samples) == 1:  # an album has 2 to 10 items
        return [await bot.send_photo(chat_id, media[0], caption=captions[0])]
    return await bot.send_media_group(
        chat_id,
        [
            InputMediaPhoto(item, caption=caption)
            for item, caption in zip(media, captions, strict=True)
        ],
    )
