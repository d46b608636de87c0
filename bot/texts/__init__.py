"""Text lookup and language choice; the catalogues live in one module per language."""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Mapping
from typing import Any

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


# Plural forms: a count field may carry its forms as a format spec, "{orders:# order|# orders}",
# one form per category of its language's rule ("#" is the number). Chinese has no plural, so
# its texts use the plain field with a measure word ("{orders} 个订单").
PLURAL_RULES: Mapping[str, Callable[[int], int]] = {
    "en": lambda n: 0 if n == 1 else 1,  # one | other
    "zh": lambda n: 0,  # other
}


class _PluralFormatter(string.Formatter):
    def __init__(self, rule: Callable[[int], int]) -> None:
        self._rule = rule

    def format_field(self, value: Any, format_spec: str) -> str:
        if "#" not in format_spec:
            return super().format_field(value, format_spec)
        if not isinstance(value, int):
            raise TypeError(f"a plural form needs an int count, not {type(value).__name__}")
        forms = format_spec.split("|")
        return forms[min(self._rule(value), len(forms) - 1)].replace("#", str(value))


_FORMATTERS: Mapping[str, _PluralFormatter] = {
    lang: _PluralFormatter(rule) for lang, rule in PLURAL_RULES.items()
}


def text(lang: str, key: str, **values: object) -> str:
    """The template `key` in `lang` (English if the language is unknown), filled with values."""
    if lang not in CATALOGUES:
        lang = DEFAULT_LANGUAGE
    return _FORMATTERS[lang].format(CATALOGUES[lang][key], **values)


def plural_specs(template: str) -> list[str]:
    """The plural format specs of a template, for the catalogue consistency test."""
    return [spec for _, _, spec, _ in string.Formatter().parse(template) if spec and "#" in spec]


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
