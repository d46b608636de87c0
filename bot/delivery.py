"""Sending finished portraits: albums of the JPEGs, then the full-resolution PNGs as documents.

Every album and every document has a delivery record in `keys.order_deliveries(order_id)`:
"sending" is written just before the Bot API call and "sent" (with the message ids) just after,
one HSET per album or document, so a re-run after a crash skips everything already sent.

When a crash lands between Telegram accepting a call and our "sent" record, the record still
says "sending" and we cannot know whether the user got it (the Bot API cannot read a chat's
history). We choose at-most-once: such an album or document is not sent again. The window is
one HTTP round trip, and each portrait reaches the user twice (in an album and as a document),
so at worst one of its two copies is missing, whereas a resend would show a duplicate. A call
that failed for sure (429, 5xx, 400) clears its record first, so it is retried; a timeout is
treated like a crash (Telegram may have accepted it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from redis.asyncio import Redis
from telegram import Bot, InputMediaPhoto, Message
from telegram.error import NetworkError, RetryAfter, TimedOut

from bot.client import retry_after_seconds
from bot.texts import text
from studio import keys
from studio.orders import Order

logger = logging.getLogger(__name__)

ALBUM_MIN = 2
ALBUM_MAX = 10
SEND_ATTEMPTS = 6
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0

TOTAL_FIELD = "total"


@dataclass(frozen=True)
class PortraitFile:
    """One finished portrait, as the bot sends it (no pipeline types cross into bot/)."""

    index: int  # 0-based place in the order's set; stable across re-runs
    album_jpeg: bytes
    full_png: bytes


class Sent(StrEnum):
    SENDING = "sending"
    SENT = "sent"


@dataclass
class DeliveryReport:
    albums_sent: int = 0
    documents_sent: int = 0
    skipped: int = 0  # albums/documents a previous run already sent (or may have sent)
    stopped: bool = False  # the order was withdrawn (/delete) midway


def plan_albums(count: int) -> list[range]:
    """Split `count` portraits into albums of 2-10 items, as even as possible (stable per count)."""
    if count < ALBUM_MIN:
        return [range(count)] if count else []
    albums = -(-count // ALBUM_MAX)
    base, extra = divmod(count, albums)
    out: list[range] = []
    start = 0
    for i in range(albums):
        size = base + (1 if i < extra else 0)
        out.append(range(start, start + size))
        start += size
    return out


class DeliveryLog:
    """The per-order delivery records: field "album:<index>" / "doc:<index>" -> JSON record."""

    def __init__(self, redis: Redis, order_id: str) -> None:
        self._redis = redis
        self._key = keys.order_deliveries(order_id)

    async def load(self) -> dict[str, dict[str, object]]:
        raw = await self._redis.hgetall(self._key)  # type: ignore[misc]
        return {k.decode(): json.loads(v) for k, v in raw.items() if k != TOTAL_FIELD.encode()}

    async def plan(self, total: int) -> None:
        await self._redis.hset(self._key, TOTAL_FIELD, str(total))  # type: ignore[misc]

    async def fully_recorded(self) -> int | None:
        """The portrait count when every album and document has a record (sent or maybe sent)."""
        raw = await self._redis.hgetall(self._key)  # type: ignore[misc]
        total = raw.get(TOTAL_FIELD.encode())
        if total is None:
            return None
        count = int(total)
        needed = {f"{kind}:{i}".encode() for kind in ("album", "doc") for i in range(count)}
        return count if needed <= raw.keys() else None

    async def mark(
        self, fields: Sequence[str], state: Sent, message_ids: Sequence[int] = ()
    ) -> None:
        mapping = {
            name: json.dumps({"state": str(state), "message_ids": list(message_ids)})
            for name in fields
        }
        await self._redis.hset(self._key, mapping=mapping)  # type: ignore[misc]

    async def clear(self, fields: Sequence[str]) -> None:
        await self._redis.hdel(self._key, *fields)  # type: ignore[misc]


async def deliver_portraits(
    redis: Redis,
    bot: Bot,
    order: Order,
    portraits: Sequence[PortraitFile],
    still_wanted: Callable[[], Awaitable[bool]],
) -> DeliveryReport:
    """Send what has not been sent yet; stop quietly when `still_wanted()` turns False.

    Rate limits are the transport's business (it books an album's slots per item).
    """
    log = DeliveryLog(redis, order.id)
    await log.plan(len(portraits))
    records = await log.load()
    report = DeliveryReport()
    total = len(portraits)
    ordered = sorted(portraits, key=lambda p: p.index)

    for group in plan_albums(total):
        items = [ordered[i] for i in group]
        fields = [f"album:{p.index}" for p in items]
        if any(name in records for name in fields):
            report.skipped += 1
            continue
        if not await still_wanted():
            report.stopped = True
            return report
        caption = text(
            order.lang, "album_caption", first=group.start + 1, last=group.stop, total=total
        )
        messages = await _send_once(log, fields, partial(_send_album, bot, order, items, caption))
        report.albums_sent += 1
        logger.info("order %s: album of %d sent", order.id, len(messages))

    for number, portrait in enumerate(ordered, start=1):
        name = f"doc:{portrait.index}"
        if name in records:
            report.skipped += 1
            continue
        if not await still_wanted():
            report.stopped = True
            return report
        caption = text(order.lang, "document_caption", number=number, total=total)
        await _send_once(log, [name], partial(_send_document, bot, order, portrait, caption))
        report.documents_sent += 1
    return report


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


async def _send_document(
    bot: Bot, order: Order, portrait: PortraitFile, caption: str
) -> list[Message]:
    message = await bot.send_document(
        chat_id=order.chat_id,
        document=portrait.full_png,
        filename=f"portrait-{portrait.index + 1:02d}.png",
        caption=caption,
        disable_content_type_detection=True,
    )
    return [message]


async def _send_once(
    log: DeliveryLog, fields: Sequence[str], call: Callable[[], Awaitable[list[Message]]]
) -> list[Message]:
    """One album or document, retried on failures that prove Telegram did not take it."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        await log.mark(fields, Sent.SENDING)
        try:
            messages = await call()
        except TimedOut:
            raise  # maybe delivered: the "sending" record stays, so it is never resent
        except RetryAfter as error:
            await log.clear(fields)
            wait = retry_after_seconds(error)
            if attempt == SEND_ATTEMPTS:
                raise
            logger.info("delivery flood-limited, waiting %.1fs", wait)
            await asyncio.sleep(wait)
            continue
        except NetworkError:
            # A 5xx or a refused connection: the call did not go through.
            await log.clear(fields)
            if attempt == SEND_ATTEMPTS:
                raise
            await asyncio.sleep(min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (attempt - 1)))
            continue
        except asyncio.CancelledError:
            raise  # aborted mid-call: as uncertain as a timeout
        except Exception:
            await log.clear(fields)
            raise
        await log.mark(fields, Sent.SENT, [m.message_id for m in messages])
        return messages
    raise AssertionError("unreachable")
