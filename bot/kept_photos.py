"""What the chat shows about keeping photos for another style (the rules: studio/reuse.py)."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.keyboards import keep_photos_keyboard
from bot.texts import text
from studio.reuse import until_text
from studio.settings import Settings


def reuse_days_text(settings: Settings) -> str:
    return f"{settings.reuse_days:g}"


def keep_offer(
    settings: Settings, lang: str, order_id: str, *, keeping: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The opt-in offered from the pack choice until delivery: a paragraph and its button.

    Empty, with no button, when REUSE_DAYS is 0.
    """
    if settings.reuse_days <= 0:
        return "", None
    days = reuse_days_text(settings)
    return (
        "\n\n" + text(lang, "keep_offer", days=days),
        keep_photos_keyboard(lang, order_id, days, keeping=keeping),
    )


def kept_line(lang: str, until: float | None) -> str:
    """The paragraph the final delivery message adds while the user's photos are kept."""
    if until is None:
        return ""
    return "\n\n" + text(lang, "kept_after_delivery", until=until_text(until))
