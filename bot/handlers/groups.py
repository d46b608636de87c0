"""Groups, supergroups and channels: one short pointer to a private chat, and nothing stored."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot.context import StudioContext
from bot.texts import pick_language, text
from bot.update_pipeline import CLAIMED_UPDATE
from studio import keys

logger = logging.getLogger(__name__)


async def point_to_private_chat(update: Update, context: StudioContext) -> None:
    """Answer once with a link to the private chat; no session, order, consent or activity.

    Runs before every other handler (the dedupe guard included, which would record the
    user's activity), so the only key written is the update's own dedupe marker.
    """
    chat = update.effective_chat
    if chat is None:
        raise ApplicationHandlerStop
    if CLAIMED_UPDATE.get() != update.update_id:
        ttl_ms = int(keys.UPDATE_DEDUPE_TTL.total_seconds() * 1000)
        first = await context.studio.redis.set(
            keys.update_seen(update.update_id), b"1", nx=True, px=ttl_ms
        )
        if not first:
            raise ApplicationHandlerStop
    user = update.effective_user
    if user is not None and user.is_bot:
        raise ApplicationHandlerStop  # never answer another bot (no bot-to-bot loops)
    if chat.type == ChatType.CHANNEL and update.channel_post is None:
        raise ApplicationHandlerStop  # edits and the like: the one answer was already given
    lang = pick_language("", user.language_code if user is not None else None)
    link = f"https://t.me/{context.bot.username}"
    try:
        await context.bot.send_message(chat.id, text(lang, "group_private_only", link=link))
    except TelegramError:  # a muted group or a read-only channel: nothing more to do
        logger.info("could not answer in a %s chat", chat.type)
    raise ApplicationHandlerStop
