"""Sending finished portraits: preview sheets as photo albums, then the originals as a .zip.

Telegram counts every album item and every document as one message against the chat's and the
bot's limits (about 30 a second for the whole bot), so the shape of a delivery sets how many
orders one bot token can finish an hour. Twenty portraits sent one photo and one document each
cost 40 message units; as sheets of four (`pipeline.contact_sheet`, composed by the delivery
worker) and one archive of the twenty PNGs they cost 6. The archive splits into parts below
Telegram's 50 MB upload limit (ARCHIVE_MAX_BYTES) only when it must.

Every sheet and archive part has a delivery record in `keys.order_deliveries(order_id)`
("preview:<k>", "archive:<k>"): "sending" is written just before the Bot API call and "sent"
(with the message ids) once Telegram has answered with the messages, so a re-run sends only
what Telegram did not confirm.

Every send is confirmed or redone (at-least-once). When a crash, a timeout or a stalled upload
lands between Telegram accepting a call and our "sent" record, the record still says "sending"
and we cannot know whether the user got it (the Bot API cannot read a chat's history). We send
it again: a duplicate album is a small annoyance, a portrait paid for and never received is a
loss. The window is one HTTP round trip per album. An order counts as delivered only when every
record says "sent" (`DeliveryLog.fully_sent`).

All sends here are bulk (`bot.transport.bulk_sends`): they yield to replies to commands and
buttons in the shared limiter. The archives' Telegram file ids are kept, sealed under the
user's key, so "send the originals again" needs no image bytes (`resend_originals`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from redis.asyncio import Redis
from telegram import Bot, InputMediaPhoto, Message
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
PREVIEWS_FIELD = "previews"  # how many preview sheets this delivery sends
ARCHIVES_FIELD = "archives"  # how many archive parts
FILE_PREFIX = "file:"  # "file:<part>" -> the archive part's file_id, sealed
_COUNT_FIELDS = (TOTAL_FIELD, PREVIEWS_FIELD, ARCHIVES_FIELD)

# bot/ speaks of the finished images as files to send; they are the outbox's portraits.
PortraitFile = Portrait


class Sent(StrEnum):
    SENDING = "sending"
    SENT = "sent"


class Undeliverable(Exception):
    """Telegram refuses this chat for good (the user blocked the bot, the chat is gone)."""


@dataclass
class DeliveryReport:
    albums_sent: int = 0  # preview albums sent
    documents_sent: int = 0  # archive parts sent
    skipped: int = 0  # albums or parts a previous run already had confirmed
    resent: int = 0  # albums or parts a previous run left unconfirmed, sent again
    stopped: bool = False  # the order was withdrawn (/delete) midway


@dataclass(frozen=True)
class Archive:
    """One .zip of originals: `portraits` are the 0-based indices it holds."""

    part: int
    data: bytes
    portraits: range


@dataclass(frozen=True)
class Preview:
    """One preview photo (a sheet of portraits, or a portrait alone)."""

    index: int
    jpeg: bytes
    portraits: range


def plan_albums(count: int, size: int = ALBUM_MAX) -> list[range]:
    """Split `count` items into albums of 2-`size` items, as even as possible (stable)."""
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


def previews_of(
    portraits: Sequence[PortraitFile], sheets: Sequence[bytes] | None, per_sheet: int
) -> list[Preview]:
    """The preview photos: `sheets` of `per_sheet` portraits, or each album JPEG when None."""
    ordered = sorted(portraits, key=lambda p: p.index)
    if sheets is None:
        return [Preview(i, p.album_jpeg, range(i, i + 1)) for i, p in enumerate(ordered)]
    count = len(ordered)
    ranges = [range(s, min(s + per_sheet, count)) for s in range(0, count, per_sheet)]
    if len(ranges) != len(sheets):
        raise ValueError(f"{len(sheets)} sheets for {count} portraits of {per_sheet} each")
    return [Preview(k, jpeg, r) for k, (jpeg, r) in enumerate(zip(sheets, ranges, strict=True))]


def pack_archives(portraits: Sequence[PortraitFile], max_bytes: int) -> list[Archive]:
    """The PNGs in as few .zip parts as Telegram's upload limit allows, in portrait order.

    Stored, not deflated: a PNG is compressed already. Fixed timestamps keep a re-run's parts
    byte for byte the same. A part holds at least one portrait, however large.
    """
    ordered = sorted(portraits, key=lambda p: p.index)
    groups: list[list[PortraitFile]] = []
    size = 0
    for portrait in ordered:
        entry = len(portrait.full_png) + ZIP_ENTRY_OVERHEAD
        if groups and size + entry <= max_bytes - ZIP_END_OVERHEAD:
            groups[-1].append(portrait)
            size += entry
        else:
            groups.append([portrait])
            size = entry
    out = []
    for part, group in enumerate(groups):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as archive:
            for portrait in group:
                info = zipfile.ZipInfo(_png_name(portrait), date_time=ZIP_TIMESTAMP)
                archive.writestr(info, portrait.full_png)
        first, last = group[0].index, group[-1].index
        out.append(Archive(part, buf.getvalue(), range(first, last + 1)))
    return out


ZIP_TIMESTAMP = (2025, 1, 1, 0, 0, 0)
ZIP_ENTRY_OVERHEAD = 30 + 46 + 2 * 20  # local header + central directory entry + two names
ZIP_END_OVERHEAD = 22


class DeliveryLog:
    """The per-order delivery records: "preview:<k>" / "archive:<k>" -> JSON record."""

    def __init__(self, redis: Redis, order_id: str) -> None:
        self._redis = redis
        self._order_id = order_id
        self._key = keys.order_deliveries(order_id)

    async def load(self) -> dict[str, dict[str, object]]:
        raw = await self._redis.hgetall(self._key)  # type: ignore[misc]
        counts = {f.encode() for f in _COUNT_FIELDS}
        return {
            k.decode(): json.loads(v)
            for k, v in raw.items()
            if k not in counts and not k.startswith(FILE_PREFIX.encode())
        }

    async def plan(self, total: int) -> None:
        await self._redis.hset(self._key, TOTAL_FIELD, str(total))  # type: ignore[misc]

    async def plan_layout(self, previews: int, archives: int) -> None:
        """How many sheets and archive parts this delivery sends (fixed on its first run)."""
        await self._redis.hset(  # type: ignore[misc]
            self._key, mapping={PREVIEWS_FIELD: str(previews), ARCHIVES_FIELD: str(archives)}
        )

    async def total(self) -> int | None:
        raw = await self._redis.hget(self._key, TOTAL_FIELD)  # type: ignore[misc]
        return None if raw is None else int(raw)

    async def _counts(self) -> tuple[int, int, int] | None:
        raw = await self._redis.hmget(self._key, list(_COUNT_FIELDS))  # type: ignore[misc]
        if any(v is None for v in raw):
            return None
        total, previews, archives = (int(v) for v in raw)
        return total, previews, archives

    async def fully_sent(self) -> int | None:
        """The portrait count when Telegram confirmed every preview and every archive part."""
        counts = await self._counts()
        if counts is None:
            return None
        total, previews, archives = counts
        records = await self.load()
        wanted = [f"preview:{k}" for k in range(previews)] + [
            f"archive:{k}" for k in range(archives)
        ]
        for name in wanted:
            record = records.get(name)
            if record is None or record.get("state") != Sent.SENT:
                return None
        return total

    async def mark(
        self,
        fields: Sequence[str],
        state: Sent,
        message_ids: Sequence[int] = (),
        portraits: int = 0,
    ) -> None:
        """`portraits`: how many originals an archive record carries (what /mydata counts)."""
        record: dict[str, object] = {"state": str(state), "message_ids": list(message_ids)}
        if portraits:
            record["portraits"] = portraits
        mapping = {name: json.dumps(record) for name in fields}
        await self._redis.hset(self._key, mapping=mapping)  # type: ignore[misc]

    async def keep_files(self, key: UserKey, files: dict[int, str]) -> None:
        """The archives' file ids (personal: sealed), for "send the originals again"."""
        mapping = {
            f"{FILE_PREFIX}{part}": key.seal(self._file_aad(part), file_id.encode())
            for part, file_id in files.items()
        }
        if mapping:
            await self._redis.hset(self._key, mapping=mapping)  # type: ignore[misc]

    async def files(self, key: UserKey) -> list[str]:
        """The archive parts' file ids in order ([] when none are kept)."""
        counts = await self._counts()
        fields = [f"{FILE_PREFIX}{k}" for k in range(counts[2] if counts else 0)]
        if not fields:
            return []
        blobs = await self._redis.hmget(self._key, fields)  # type: ignore[misc]
        if any(b is None for b in blobs):
            return []
        return [key.open(self._file_aad(k), b).decode() for k, b in enumerate(blobs)]

    def _file_aad(self, part: int) -> str:
        return f"delivery:{self._order_id}:archive:{part}"


async def deliver_portraits(
    redis: Redis,
    bot: Bot,
    order: Order,
    portraits: Sequence[PortraitFile],
    still_wanted: Callable[[], Awaitable[bool]],
    *,
    sheets: Sequence[bytes] | None = None,
    per_sheet: int = 1,
    key: UserKey | None = None,
    album_size: int = ALBUM_MAX,
    archive_max_bytes: int = 48_000_000,
    bulk: bool = True,
) -> DeliveryReport:
    """Send what Telegram has not confirmed yet; stop quietly when `still_wanted()` turns False.

    `sheets` are the preview photos of `per_sheet` portraits each (None: one album JPEG per
    portrait). Rate limits are the transport's business (an album costs one slot per item, and
    these are bulk sends; `bulk=False` books them like replies, which only the benchmark's
    "before" wants). `key` seals the archives' file ids for a later resend.
    """
    log = DeliveryLog(redis, order.id)
    previews = previews_of(portraits, sheets, per_sheet)
    archives = pack_archives(portraits, archive_max_bytes)
    await log.plan(len(portraits))
    await log.plan_layout(len(previews), len(archives))
    records = await log.load()
    report = DeliveryReport()
    total = len(portraits)

    async def due(fields: Sequence[str]) -> bool:
        """Whether these records still need sending; False also when the order was withdrawn."""
        states = [records.get(name, {}).get("state") for name in fields]
        if all(state == Sent.SENT for state in states):
            report.skipped += 1
            return False
        if not await still_wanted():
            report.stopped = True
            return False
        if any(state == Sent.SENDING for state in states):
            report.resent += 1
            logger.warning("order %s: resending an unconfirmed %s", order.id, fields[0])
        return True

    with bulk_sends() if bulk else contextlib.nullcontext():
        for group in plan_albums(len(previews), album_size):
            items = [previews[i] for i in group]
            fields = [f"preview:{p.index}" for p in items]
            if not await due(fields):
                if report.stopped:
                    return report
                continue
            await _chat_action(bot, order.chat_id, ChatAction.UPLOAD_PHOTO)
            first, last = items[0].portraits.start + 1, items[-1].portraits.stop
            caption = text(order.lang, "album_caption", first=first, last=last, total=total)
            await _send_once(log, fields, partial(_send_album, bot, order, items, caption))
            report.albums_sent += 1
        for archive in archives:
            fields = [f"archive:{archive.part}"]
            if not await due(fields):
                if report.stopped:
                    return report
                continue
            await _chat_action(bot, order.chat_id, ChatAction.UPLOAD_DOCUMENT)
            first, last = archive.portraits.start + 1, archive.portraits.stop
            caption = text(order.lang, "documents_caption", first=first, last=last, total=total)
            call = partial(_send_archive, bot, order, archive, caption, len(archives))
            messages = await _send_once(log, fields, call, portraits=len(archive.portraits))
            report.documents_sent += 1
            document = messages[0].document if messages else None
            if key is not None and document is not None:
                await log.keep_files(key, {archive.part: document.file_id})
    return report


async def _chat_action(bot: Bot, chat_id: int, action: ChatAction) -> None:
    # "sending a photo…" while the album uploads; best effort, it is only a hint.
    try:
        await bot.send_chat_action(chat_id=chat_id, action=action)
    except TelegramError as error:
        logger.info("chat action not sent: %s", type(error).__name__)


async def _send_album(
    bot: Bot, order: Order, items: Sequence[Preview], caption: str
) -> list[Message]:
    if len(items) == 1:  # an album needs two items; a lone preview goes as a photo
        return [await bot.send_photo(chat_id=order.chat_id, photo=items[0].jpeg, caption=caption)]
    media = [
        InputMediaPhoto(
            media=p.jpeg,
            caption=caption if i == 0 else None,
            filename=f"preview-{p.index + 1:02d}.jpg",
        )
        for i, p in enumerate(items)
    ]
    return list(await bot.send_media_group(chat_id=order.chat_id, media=media))


async def _send_archive(
    bot: Bot, order: Order, archive: Archive, caption: str, parts: int
) -> list[Message]:
    suffix = f"-part{archive.part + 1}" if parts > 1 else ""
    message = await bot.send_document(
        chat_id=order.chat_id,
        document=archive.data,
        filename=f"portraits{suffix}.zip",
        caption=caption,
        disable_content_type_detection=True,
    )
    return [message]


def _png_name(portrait: PortraitFile) -> str:
    return f"portrait-{portrait.index + 1:02d}.png"


async def resend_originals(bot: Bot, chat_id: int, file_ids: Sequence[str]) -> int:
    """The archives again, by file id (no bytes kept); documents sent."""
    with bulk_sends():
        for file_id in file_ids:
            await _chat_action(bot, chat_id, ChatAction.UPLOAD_DOCUMENT)
            await bot.send_document(chat_id=chat_id, document=file_id)
    return len(file_ids)


async def _send_once(
    log: DeliveryLog,
    fields: Sequence[str],
    call: Callable[[], Awaitable[list[Message]]],
    portraits: int = 0,
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
        await log.mark(fields, Sent.SENT, [m.message_id for m in messages], portraits)
        return messages
    raise AssertionError("unreachable")
