"""Inline keyboards and their callback_data (≤ 64 bytes, carrying the order id when stale
buttons must be recognised)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import LANGUAGE_NAMES, LANGUAGES, text

MAX_CALLBACK_BYTES = 64

CONSENT = "consent"
DONE = "done"
PACK = "pack"
LANGUAGE = "lang"
ERASE = "erase"


@dataclass(frozen=True)
class Callback:
    """A parsed callback_data: the action, then its arguments (order id first when present)."""

    action: str
    args: tuple[str, ...]

    @property
    def order_id(self) -> str:
        return self.args[0] if self.args else ""


def callback_data(action: str, *args: str) -> str:
    data = ":".join((action, *args))
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data {data!r} is over {MAX_CALLBACK_BYTES} bytes")
    return data


def parse_callback(data: str | None) -> Callback:
    action, *args = (data or "").split(":")
    return Callback(action, tuple(args))


def consent_keyboard(lang: str) -> InlineKeyboardMarkup:
    # Two equal buttons, neither pre-selected: consent must be an explicit choice.
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "consent_yes"), callback_data=callback_data(CONSENT, "yes")
                ),
                InlineKeyboardButton(
                    text(lang, "consent_no"), callback_data=callback_data(CONSENT, "no")
                ),
            ]
        ]
    )


def done_keyboard(lang: str, order_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "done_button"), callback_data=callback_data(DONE, order_id)
                )
            ]
        ]
    )


def packs_keyboard(order_id: str, packs: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per (pack_id, label), one per row so long names stay readable."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=callback_data(PACK, order_id, pack_id))]
            for pack_id, label in packs
        ]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    LANGUAGE_NAMES[lang], callback_data=callback_data(LANGUAGE, lang)
                )
                for lang in LANGUAGES
            ]
        ]
    )


def erase_keyboard(lang: str) -> InlineKeyboardMarkup:
    """The /delete confirmation: two equal buttons, nothing pre-selected."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "delete_yes"), callback_data=callback_data(ERASE, "yes")
                ),
                InlineKeyboardButton(
                    text(lang, "delete_no"), callback_data=callback_data(ERASE, "no")
                ),
            ]
        ]
    )


def withdraw_keyboard(lang: str) -> InlineKeyboardMarkup:
    """Under /privacy: withdrawing consent, which is erasure (it asks for confirmation)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "withdraw_consent"), callback_data=callback_data(ERASE, "ask")
                )
            ]
        ]
    )
