"""The bot's public face on Telegram: command menus, description and short description (en, zh).

Published in the background at start with retries: a Bot API that answers 5xx or 429 here
must never stop the bot from answering its users. A failure is logged and tried again later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, BotCommand
from telegram.error import TelegramError

from bot.texts import LANGUAGES, text

logger = logging.getLogger(__name__)

ATTEMPTS = 8
BACKOFF_S = 1.0
BACKOFF_MAX_S = 60.0


async def publish_profile(bot: Bot, commands: Sequence[str]) -> bool:
    """Every menu and description, each retried with backoff; True once all are set."""
    ok = True
    for lang in LANGUAGES:
        ok = await _publish_language(bot, commands, lang) and ok
    return ok


async def _publish_language(bot: Bot, commands: Sequence[str], lang: str) -> bool:
    code = None if lang == "en" else lang
    menu = [BotCommand(name, text(lang, f"cmd_{name}")) for name in commands]
    description, short = text(lang, "bot_description"), text(lang, "bot_short_description")
    steps: tuple[tuple[str, Callable[[], Awaitable[bool]]], ...] = (
        ("commands", lambda: bot.set_my_commands(menu, language_code=code)),
        ("description", lambda: bot.set_my_description(description, language_code=code)),
        ("short description", lambda: bot.set_my_short_description(short, language_code=code)),
    )
    ok = True
    for what, call in steps:
        ok = await _with_retries(f"{what} ({lang})", call) and ok
    return ok


async def _with_retries(what: str, call: Callable[[], Awaitable[bool]]) -> bool:
    delay = BACKOFF_S
    for attempt in range(1, ATTEMPTS + 1):
        try:
            await call()
            return True
        except TelegramError as error:
            logger.warning(
                "bot profile: %s not set (try %d): %s", what, attempt, type(error).__name__
            )
        await asyncio.sleep(delay)
        delay = min(BACKOFF_MAX_S, delay * 2)
    logger.error("bot profile: %s not set after %d tries", what, ATTEMPTS)
    return False
