"""The Bot API client every process uses (ExtBot on our aiohttp transport), and shared calls."""

from __future__ import annotations

import datetime as dt

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, RetryAfter
from telegram.ext import ExtBot

from bot.transport import AiohttpRequest
from studio.domain import Studio
from studio.settings import Settings

# getUpdates holds its connection for the long-poll timeout; it gets its own session so a
# slow poll never queues behind sends.
POLL_READ_TIMEOUT_S = 30.0


def make_bot(settings: Settings, studio: Studio) -> ExtBot[None]:
    """An ExtBot pointed at settings' Bot API URLs; sends wait on the shared rate limiter."""
    return ExtBot(
        token=settings.telegram_bot_token.get_secret_value(),
        base_url=settings.bot_api_base_url,
        base_file_url=settings.bot_api_base_file_url,
        request=AiohttpRequest(limiter=studio.limiter),
        get_updates_request=AiohttpRequest(read_timeout=POLL_READ_TIMEOUT_S, connection_limit=2),
    )


async def download(bot: Bot, file_id: str) -> bytes:
    """A file's bytes, downloaded into memory (never to disk); Telegram's errors propagate."""
    telegram_file = await bot.get_file(file_id)
    return bytes(await telegram_file.download_as_bytearray())


async def edit_text(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> bool:
    """Edit a message's text; False when it already showed exactly this ("not modified")."""
    try:
        await bot.edit_message_text(
            text, chat_id=chat_id, message_id=message_id, reply_markup=reply_markup
        )
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            raise
        return False
    return True


def retry_after_seconds(error: RetryAfter) -> float:
    """How long flood control asks us to wait (PTB gives an int or a timedelta)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
