"""The one intake status message per order: its text and Done button, sending and refreshing it.

The message is sent when the headshot is accepted and then edited, at most about once a second
(Telegram allows ~1 edit/s/chat), as the selfie checks land; a digest of what it shows skips
edits that would change nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.client import edit_text
from bot.keyboards import done_keyboard
from bot.texts import CATALOGUES, text
from studio import keys
from studio.crypto import KeyShredded
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.photos import PhotoCounts, PhotoRecord, PhotoStatus
from studio.queue import schedule_status_refresh

logger = logging.getLogger(__name__)


# Each checked photo's verdict, as the bot's reaction on the user's own photo message: in an
# album of 10 the user sees which ones were taken. A reaction is not a message, so it costs
# nothing of the order's message budget; the status message lists the reasons.
ACCEPTED_MARK = "👍"
REJECTED_MARK = "👎"


async def mark_photo(bot: Bot, chat_id: int, record: PhotoRecord) -> None:
    """👍 on a photo taken, 👎 on one refused; a mark that cannot be set is only logged."""
    if not record.message_id or record.status is PhotoStatus.PENDING:
        return
    mark = ACCEPTED_MARK if record.status is PhotoStatus.ACCEPTED else REJECTED_MARK
    try:
        await bot.set_message_reaction(chat_id, record.message_id, mark)
    except TelegramError as error:
        # The verdict is counted in the status message all the same.
        logger.info("photo verdict not shown as a reaction: %s", error)


def reason_text(lang: str, reason: str) -> str:
    """A refusal reason code (decoding or face check) in the user's words."""
    key = f"reason_{reason}"
    return text(lang, key if key in CATALOGUES["en"] else "reason_other")


def status_message(
    lang: str, order_id: str, counts: PhotoCounts, needed: int, *, done: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Accepted N / needed M, rejected counts grouped by reason, and Done once N >= M."""
    lines = [
        text(lang, "status_title"),
        text(lang, "status_accepted", accepted=counts.accepted, needed=needed),
    ]
    if counts.pending:
        lines.append(text(lang, "status_pending", pending=counts.pending))
    if counts.rejected:
        lines.append(text(lang, "status_rejected_title"))
        for reason, count in sorted(counts.rejected.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(
                text(lang, "status_rejected_line", reason=reason_text(lang, reason), count=count)
            )
    if done:
        lines.append(text(lang, "status_done", accepted=counts.accepted))
        return "\n".join(lines), None
    if counts.accepted >= needed:
        lines.append(text(lang, "status_ready"))
        return "\n".join(lines), done_keyboard(lang, order_id)
    lines.append(text(lang, "status_more", missing=needed - counts.accepted))
    return "\n".join(lines), None


async def refuse_headshot(studio: Studio, bot: Bot, order: Order, reason: str) -> None:
    """Say why the headshot was refused, unless the order has moved on meanwhile."""
    if (await studio.orders.get(order.id) or order).state is OrderState.HEADSHOT:
        lang = order.lang
        await bot.send_message(
            order.chat_id, text(lang, "headshot_rejected", reason=reason_text(lang, reason))
        )


async def open_selfie_step(studio: Studio, bot: Bot, order: Order) -> None:
    """The headshot was accepted: ask for selfies and send the status message."""
    settings = studio.settings
    lang = order.lang
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
        counts = (await studio.orders.get(order.id) or order).photos
        body, markup = status_message(lang, order.id, counts, settings.min_selfies)
        await _send_status(studio, bot, order, body, markup)
    finally:
        # Selfies may have been sent together with the headshot and checked already; and if
        # the status message could not be sent, the refresh sends it (status_message_id is 0).
        await schedule_status_refresh(studio.redis, order.id)


async def refresh_status(studio: Studio, bot: Bot, order_id: str) -> None:
    """Edit the user's one status message to the current counts (skipped when unchanged)."""
    order = await studio.orders.get(order_id)
    if order is None or order.state is not OrderState.SELFIES:
        return
    try:
        await studio.vault.existing_key(order.user_id)
    except KeyShredded:
        return  # /delete is erasing this user: nothing more goes to the chat
    counts = order.photos
    body, markup = status_message(order.lang, order_id, counts, studio.settings.min_selfies)
    if not order.status_message_id:
        # The headshot's announcement could not send the status message: send it now (unless
        # that announcement has just sent it after all).
        fresh = await studio.orders.get(order_id)
        if fresh is not None and fresh.state is OrderState.SELFIES and not fresh.status_message_id:
            await _send_status(studio, bot, fresh, body, markup)
        return
    digest = _digest(body, markup)
    if (await studio.redis.get(keys.status_shown(order_id))) == digest.encode():
        return
    # Done may have been pressed while we counted; its edit must not be overwritten.
    fresh = await studio.orders.get(order_id)
    if fresh is None or fresh.state is not OrderState.SELFIES:
        return
    await edit_text(bot, order.chat_id, order.status_message_id, body, markup)
    await _remember_shown(studio, order_id, digest)
    # Done may have been pressed while this edit waited for its slot; then ours landed last and
    # shows a stale button, so put back the closing text the Done handler wrote.
    after = await studio.orders.get(order_id)
    if after is not None and after.state is not OrderState.SELFIES:
        closing, _ = status_message(
            order.lang, order_id, counts, studio.settings.min_selfies, done=True
        )
        await edit_text(bot, order.chat_id, order.status_message_id, closing)


async def resend_status(studio: Studio, bot: Bot, order: Order) -> None:
    """/start or /status while collecting selfies: a fresh status message, the one edited next.

    The message shown so far may be stuck (its edits failed) or far up the chat; the new one
    shows the current counts and, when enough selfies are in, the Done button. Later refreshes
    edit the new one (its id replaces the old); the old one's Done button still works.
    """
    body, markup = status_message(order.lang, order.id, order.photos, studio.settings.min_selfies)
    await _send_status(studio, bot, order, body, markup)


async def _send_status(
    studio: Studio, bot: Bot, order: Order, body: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Send a new intake status message and make it the one that later refreshes edit."""
    sent = await bot.send_message(order.chat_id, body, reply_markup=markup)
    await studio.orders.set_status_message(order.id, sent.message_id)
    await _remember_shown(studio, order.id, _digest(body, markup))


async def _remember_shown(studio: Studio, order_id: str, digest: str) -> None:
    ttl_ms = int(keys.STATUS_SHOWN_TTL.total_seconds() * 1000)
    await studio.redis.set(keys.status_shown(order_id), digest.encode(), px=ttl_ms)


def _digest(body: str, markup: InlineKeyboardMarkup | None) -> str:
    shown = json.dumps([body, markup.to_dict() if markup else None], sort_keys=True)
    return hashlib.sha256(shown.encode()).hexdigest()
