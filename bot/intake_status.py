"""The one intake status message per order: its text and its Done button."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.keyboards import done_keyboard
from bot.texts import CATALOGUES, text
from studio.orders import PhotoSummary


def reason_text(lang: str, reason: str) -> str:
    """A refusal reason code (decoding or face check) in the user's words."""
    key = f"reason_{reason}"
    return text(lang, key if key in CATALOGUES["en"] else "reason_other")


def status_message(
    lang: str, order_id: str, summary: PhotoSummary, needed: int, *, done: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Accepted N / needed M, rejected counts grouped by reason, and Done once N >= M."""
    lines = [
        text(lang, "status_title"),
        text(lang, "status_accepted", accepted=summary.accepted, needed=needed),
    ]
    if summary.pending:
        lines.append(text(lang, "status_pending", pending=summary.pending))
    if summary.rejected:
        lines.append(text(lang, "status_rejected_title"))
        for reason, count in sorted(summary.rejected.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(
                text(lang, "status_rejected_line", reason=reason_text(lang, reason), count=count)
            )
    if done:
        lines.append(text(lang, "status_done", accepted=summary.accepted))
        return "\n".join(lines), None
    if summary.accepted >= needed:
        lines.append(text(lang, "status_ready"))
        return "\n".join(lines), done_keyboard(lang, order_id)
    lines.append(text(lang, "status_more", missing=needed - summary.accepted))
    return "\n".join(lines), None
