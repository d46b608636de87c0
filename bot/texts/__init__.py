"""Text lookup and language choice; the catalogues live in one module per language."""

from __future__ import annotations

import math
import string
from collections.abc import Mapping

from bot.texts import en, zh

LANGUAGES: tuple[str, ...] = ("en", "zh")
DEFAULT_LANGUAGE = "en"
CATALOGUES: Mapping[str, Mapping[str, str]] = {"en": en.TEXTS, "zh": zh.TEXTS}
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "zh": "简体中文"}


def pick_language(choice: str, language_code: str | None) -> str:
    """The user's explicit /language choice, else Telegram's language_code ("zh*" -> zh)."""
    if choice in CATALOGUES:
        return choice
    if language_code and language_code.lower().startswith("zh"):
        return "zh"
    return DEFAULT_LANGUAGE


def text(lang: str, key: str, **values: object) -> str:
    """The template `key` in `lang` (English if the language is unknown), filled with values."""
    catalogue = CATALOGUES.get(lang, CATALOGUES[DEFAULT_LANGUAGE])
    return catalogue[key].format(**values)


def placeholders(template: str) -> frozenset[str]:
    """The named fields a template expects, for the catalogue consistency test."""
    return frozenset(
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    )


def format_wait(lang: str, seconds: float) -> str:
    """A rough, human duration for ETAs; infinite means no renderer is online."""
    if math.isinf(seconds):
        return text(lang, "eta_offline")
    minutes = max(1, round(seconds / 60)) if seconds > 0 else 0
    if minutes == 0:
        return text(lang, "eta_none")
    if minutes < 60:
        return text(lang, "eta_minutes", minutes=minutes)
    return text(lang, "eta_hours", hours=minutes // 60, minutes=minutes % 60)
