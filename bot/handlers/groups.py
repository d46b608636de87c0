"""Groups and supergroups get one short pointer to a private chat; channels get silence.

Nothing is stored for either (bot/fairness.py::classify takes them without a user).
"""

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
    """Answer with a link to the private chat, once a window (not in a channel); nothing stored.

    Runs before every other handler (the dedupe guard included, which would record the
    user's activity), so the only key written is the update's own dedupe marker.
    """
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.CHANNEL:
        # Silence in channels: whatever the bot posts there is broadcast to every subscriber
        # under the channel's name, and each post is the admin's own, not a request to the bot.
        # A channel admin who added the bot expects it to post nothing unasked.
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
    # One pointer per group per limit window: the group's updates carry no per-user flood limit
    # (none may name the sender), so this marker, naming only the group, keeps a member who
    # repeats /start from filling the group's send budget. It expires by itself.
    window_ms = int(context.studio.settings.user_limit_window_s * 1000)
    if not await context.studio.redis.set(keys.group_pointed(chat.id), b"1", nx=True, px=window_ms):
        raise ApplicationHandlerStop
    lang = pick_language("", user.language_code if user is not None else None)
    link = f"https://t.me/{context.bot.username}"
    try:
        await context.bot.send_message(chat.id, text(lang, "group_private_only", link=link))
    except TelegramError:  # a muted group or a read-only channel: nothing more to do
        logger.info("could not answer in a %s chat", chat.type)
    raise ApplicationHandlerStop
