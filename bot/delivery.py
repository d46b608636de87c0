"""Sending finished portraits: photo albums of the JPEGs, then document albums of the PNGs.

Every album has a delivery record per portrait in `keys.order_deliveries(order_id)`
("album:<index>" for the preview, "doc:<index>" for the original): "sending" is written just
before the Bot API call and "sent" (with the message ids) once Telegram has answered with the
messages, so a re-run sends only what Telegram did not confirm.

Every send is confirmed or redone (at-least-once). When a crash, a timeout or a stalled upload
lands between Telegram accepting a call and our "sent" record, the record still says "sending"
and we cannot know whether the user got it (the Bot API cannot read a chat's history). We send
it again: a duplicate album is a small annoyance, a portrait paid for and never received is a
loss. The window is one HTTP round trip per album. An order counts as delivered only when every
record says "sent" (`DeliveryLog.fully_sent`).

All sends here are bulk (`bot.transport.bulk_sends`): they yield to replies to commands and
buttons in the shared limiter. The originals' Telegram file ids are kept, sealed under the
user's key, so "send the originals again" needs no image bytes (`resend_originals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from redis.asyncio import Redis
from telegram import Bot, InputMediaDocument, InputMediaPhoto, Message
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.client import retry_after_seconds
from bot.texts import text
from bot.transport import bulk_sends
from studio import keys
from studio.crypto import UserKey
from studio.orders import Order
from studio.outbox import Portrait

logger = logging.getLogger(__name__)

ALBUM_MIN = 2
ALBUM_MAX = 10
SEND_ATTEMPTS = 6
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0

TOTAL_FIELD = "total"
FILE_PREFIX = "file:"  # "file:<index>" -> the original's file_id, sealed

# bot/ speaks of the finished images as files to send; they are the outbox's portraits.
PortraitFile = Portrait


class Sent(StrEnum):
    SENDING = "sending"
    SENT = "sent"


class Undeliverable(Exception):
    """Telegram refuses this chat for good (the user blocked the bot, the chat is gone)."""


@dataclass
class DeliveryReport:
    albums_sent: int = 0
    documents_sent: int = 0  # document albums (or lone documents) sent
    skipped: int = 0  # albums a previous run already had confirmed
    resent: int = 0  # albums a previous run left unconfirmed, sent again
    stopped: bool = False  # the order was withdrawn (/delete) midway


def plan_albums(count: int, size: int = ALBUM_MAX) -> list[range]:
    """Split `count` portraits into albums of 2-`size` items, as even as possible (stable)."""
    size = max(ALBUM_MIN, min(ALBUM_MAX, size))
    if count < ALBUM_MIN:
        return [range(count)] if count else []
    albums = -(-count // size)
    base, extra = divmod(count, albums)
    out: list[range] = []
    start = 0
    for i in range(albums):
        length = base + (1 if i < extra else 0)
        out.append(range(start, start + length))
        start += length
    return out


class DeliveryLog:
    """The per-order delivery records: field "album:<index>" / "doc:<index>" -> JSON record."""

    def __init__(self, redis: Redis, order_id: str) -> None:
        self._redis = redis
        self._order_id = order_id
        self._key = keys.order_deliveries(order_id)

    async def load(self) -> dict[str, dict[str, object]]:
        raw = await self._redis.hgetall(self._key)  # type: ignore[misc]
        return {
            k.decode(): json.loads(v)
            for k, v in raw.items()
            if k != TOTAL_FIELD.encode() and not k.startswith(FILE_PREFIX.encode())
        }

    async def plan(self, total: int) -> None:
        await self._redis.hset(self._key, TOTAL_FIELD, str(total))  # type: ignore[misc]

    async def total(self) -> int | None:
        raw = await self._redis.hget(self._key, TOTAL_FIELD)  # type: ignore[misc]
        return None if raw is None else int(raw)

    async def fully_sent(self) -> int | None:
        """The portrait count when Telegram confirmed every preview and every original."""
        count = await self.total()
        if count is None:
            return None
        records = await self.load()
        for kind in ("album", "doc"):
            for i in range(count):
                record = records.get(f"{kind}:{i}")
                if record is None or record.get("state") != Sent.SENT:
                    return None
        return count

    async def mark(
        self, fields: Sequence[str], state: Sent, message_ids: Sequence[int] = ()
    ) -> None:
        mapping = {
            name: json.dumps({"state": str(state), "message_ids": list(message_ids)})
            for name in fields
        }
        await self._redis.hset(self._key, mapping=mapping)  # type: ignore[misc]

    async def keep_files(self, key: UserKey, files: dict[int, str]) -> None:
        """The originals' file ids (personal: sealed), for "send the originals again"."""
        mapping = {
            f"{FILE_PREFIX}{i}": key.seal(self._file_aad(i), file_id.encode())
            for i, file_id in files.items()
        }
        if mapping:
            await self._redis.hset(self._key, mapping=mapping)  # type: ignore[misc]

    async def files(self, key: UserKey) -> list[str]:
        """The originals' file ids in portrait order ([] when none are kept)."""
        count = await self.total() or 0
        fields = [f"{FILE_PREFIX}{i}" for i in range(count)]
        if not fields:
            return []
        blobs = await self._redis.hmget(self._key, fields)  # type: ignore[misc]
        if any(b is None for b in blobs):
            return []
        return [key.open(self._file_aad(i), b).decode() for i, b in enumerate(blobs)]

    def _file_aad(self, index: int) -> str:
        return f"delivery:{self._order_id}:{index}"


async def deliver_portraits(
    redis: Redis,
    bot: Bot,
    order: Order,
    portraits: Sequence[PortraitFile],
    still_wanted: Callable[[], Awaitable[bool]],
    *,
    key: UserKey | None = None,
    album_size: int = ALBUM_MAX,
    bulk: bool = True,
) -> DeliveryReport:
    """Send what Telegram has not confirmed yet; stop quietly when `still_wanted()` turns False.

    Rate limits are the transport's business (an album costs one slot per item, and these are
    bulk sends; `bulk=False` books them like replies, which only the benchmark's "before" wants).
    `key` seals the originals' file ids for a later resend.
    """
    log = DeliveryLog(redis, order.id)
    await log.plan(len(portraits))
    records = await log.load()
    report = DeliveryReport()
    total = len(portraits)
    ordered = sorted(portraits, key=lambda p: p.index)
    groups = plan_albums(total, album_size)
    steps: list[tuple[str, ChatAction]] = [
        ("album", ChatAction.UPLOAD_PHOTO),
        ("doc", ChatAction.UPLOAD_DOCUMENT),
    ]
    with bulk_sends() if bulk else contextlib.nullcontext():
        for kind, action in steps:
            for group in groups:
                items = [ordered[i] for i in group]
                fields = [f"{kind}:{p.index}" for p in items]
                states = [records.get(name, {}).get("state") for name in fields]
                if all(state == Sent.SENT for state in states):
                    report.skipped += 1
                    continue
                if not await still_wanted():
                    report.stopped = True
                    return report
                if any(state == Sent.SENDING for state in states):
                    report.resent += 1
                    logger.warning("order %s: resending an unconfirmed %s", order.id, kind)
                await _chat_action(bot, order.chat_id, action)
                first, last = group.start + 1, group.stop
                if kind == "album":
                    caption = text(order.lang, "album_caption", first=first, last=last, total=total)
                    call = partial(_send_album, bot, order, items, caption)
                else:
                    caption = text(
                        order.lang, "documents_caption", first=first, last=last, total=total
                    )
                    call = partial(_send_documents, bot, order, items, caption)
                messages = await _send_once(log, fields, call)
                if kind == "album":
                    report.albums_sent += 1
                else:
                    report.documents_sent += 1
                    if key is not None:
                        await log.keep_files(key, _document_files(items, messages))
    return report


def _document_files(items: Sequence[PortraitFile], messages: Sequence[Message]) -> dict[int, str]:
    out = {}
    for portrait, message in zip(items, messages, strict=False):
        if message.document is not None:
            out[portrait.index] = message.document.file_id
    return out


async def _chat_action(bot: Bot, chat_id: int, action: ChatAction) -> None:
    # "sending a photo…" while the album uploads; best effort, it is only a hint.
    try:
        await bot.send_chat_action(chat_id=chat_id, action=action)
    except TelegramError as error:
        logger.info("chat action not sent: %s", type(error).__name__)


async def _send_album(
    bot: Bot, order: Order, items: Sequence[PortraitFile], caption: str
) -> list[Message]:
    if len(items) == 1:  # an album needs two items; a lone portrait goes as a photo
        return [
            await bot.send_photo(chat_id=order.chat_id, photo=items[0].album_jpeg, caption=caption)
        ]
    media = [
        InputMediaPhoto(
            media=p.album_jpeg,
            caption=caption if i == 0 else None,
            filename=f"portrait-{p.index + 1:02d}.jpg",
        )
        for i, p in enumerate(items)
    ]
    return list(await bot.send_media_group(chat_id=order.chat_id, media=media))


async def _send_documents(
    bot: Bot, order: Order, items: Sequence[PortraitFile], caption: str
) -> list[Message]:
    if len(items) == 1:
        portrait = items[0]
        message = await bot.send_document(
            chat_id=order.chat_id,
            document=portrait.full_png,
            filename=_png_name(portrait),
            caption=caption,
            disable_content_type_detection=True,
        )
        return [message]
    # A document album shows its caption under the last item.
    media = [
        InputMediaDocument(
            media=p.full_png,
            filename=_png_name(p),
            caption=caption if i == len(items) - 1 else None,
            disable_content_type_detection=True,
        )
        for i, p in enumerate(items)
    ]
    return list(await bot.send_media_group(chat_id=order.chat_id, media=media))


def _png_name(portrait: PortraitFile) -> str:
    return f"portrait-{portrait.index + 1:02d}.png"


async def resend_originals(bot: Bot, chat_id: int, file_ids: Sequence[str]) -> int:
    """The originals again, as document albums by file id (no bytes kept); messages sent."""
    sent = 0
    with bulk_sends():
        for group in plan_albums(len(file_ids), ALBUM_MAX):
            ids = [file_ids[i] for i in group]
            await _chat_action(bot, chat_id, ChatAction.UPLOAD_DOCUMENT)
            if len(ids) == 1:
                await bot.send_document(chat_id=chat_id, document=ids[0])
            else:
                await bot.send_media_group(
                    chat_id=chat_id, media=[InputMediaDocument(media=i) for i in ids]
                )
            sent += len(ids)
    return sent


async def _send_once(
    log: DeliveryLog, fields: Sequence[str], call: Callable[[], Awaitable[list[Message]]]
) -> list[Message]:
    """One album, sent until Telegram confirms it; a timeout is sent again (at-least-once)."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        await log.mark(fields, Sent.SENDING)
        try:
            messages = await call()
        except RetryAfter as error:
            wait = retry_after_seconds(error)
            if attempt == SEND_ATTEMPTS:
                raise
            logger.info("delivery flood-limited, waiting %.1fs", wait)
            await asyncio.sleep(wait)
            continue
        except Forbidden as error:
            raise Undeliverable(str(error)) from error
        except BadRequest as error:
            if "chat not found" in str(error).lower():
                raise Undeliverable(str(error)) from error
            raise  # the same request would be refused again: the job's tries decide
        except NetworkError:
            # A 5xx, a refused connection, or a timeout (Telegram may have taken it: the
            # "sending" record stays, and the album is sent again, here or on the next run).
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (attempt - 1)))
            continue
        await log.mark(fields, Sent.SENT, [m.message_id for m in messages])
        return messages
    raise AssertionError("unreachable")
