"""The Bot API client every process uses: PTB's ExtBot on our aiohttp transport."""

from __future__ import annotations

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
