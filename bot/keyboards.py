"""Inline keyboards, and the callback_data of each kind of button as a small typed value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import LANGUAGE_NAMES, LANGUAGES, text

MAX_CALLBACK_BYTES = 64
SEPARATOR = ":"

EraseChoice = Literal["ask", "yes", "no"]
ERASE_CHOICES: tuple[EraseChoice, ...] = ("ask", "yes", "no")


def _encode(prefix: str, *fields: str) -> str:
    data = SEPARATOR.join((prefix, *fields))
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data {data!r} is over {MAX_CALLBACK_BYTES} bytes")
    return data


def _fields(prefix: str, data: str | None, count: int) -> list[str] | None:
    """The `count` non-empty fields after `prefix`, or None when `data` is not of that shape."""
    head, *fields = (data or "").split(SEPARATOR)
    if head != prefix or len(fields) != count or not all(fields):
        return None
    return fields


@dataclass(frozen=True)
class ConsentAnswer:
    """ "I agree" or "No thanks" on the consent screen."""

    PREFIX: ClassVar[str] = "consent"
    agreed: bool

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, "yes" if self.agreed else "no")

    @classmethod
    def parse(cls, data: str | None) -> ConsentAnswer | None:
        fields = _fields(cls.PREFIX, data, 1)
        if fields is None or fields[0] not in ("yes", "no"):
            return None
        return cls(agreed=fields[0] == "yes")


@dataclass(frozen=True)
class LanguageChoice:
    """One of the /language buttons."""

    PREFIX: ClassVar[str] = "lang"
    lang: str

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.lang)

    @classmethod
    def parse(cls, data: str | None) -> LanguageChoice | None:
        fields = _fields(cls.PREFIX, data, 1)
        if fields is None or fields[0] not in LANGUAGES:
            return None
        return cls(lang=fields[0])


@dataclass(frozen=True)
class DonePress:
    """The Done button under an order's intake status message."""

    PREFIX: ClassVar[str] = "done"
    order_id: str

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.order_id)

    @classmethod
    def parse(cls, data: str | None) -> DonePress | None:
        fields = _fields(cls.PREFIX, data, 1)
        return None if fields is None else cls(order_id=fields[0])


@dataclass(frozen=True)
class PackChoice:
    """A style-pack button; it names its order so that a stale one is recognised."""

    PREFIX: ClassVar[str] = "pack"
    order_id: str
    pack_id: str

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.order_id, self.pack_id)

    @classmethod
    def parse(cls, data: str | None) -> PackChoice | None:
        fields = _fields(cls.PREFIX, data, 2)
        return None if fields is None else cls(order_id=fields[0], pack_id=fields[1])


@dataclass(frozen=True)
class EraseAnswer:
    """The /delete confirmation ("yes", "no"), or the withdraw-consent button asking for it."""

    PREFIX: ClassVar[str] = "erase"
    choice: EraseChoice

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.choice)

    @classmethod
    def parse(cls, data: str | None) -> EraseAnswer | None:
        fields = _fields(cls.PREFIX, data, 1)
        if fields is None:
            return None
        for choice in ERASE_CHOICES:
            if fields[0] == choice:
                return cls(choice)
        return None


def consent_keyboard(lang: str) -> InlineKeyboardMarkup:
    # Two equal buttons, neither pre-selected: consent must be an explicit choice.
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "consent_yes"), callback_data=ConsentAnswer(agreed=True).data
                ),
                InlineKeyboardButton(
                    text(lang, "consent_no"), callback_data=ConsentAnswer(agreed=False).data
                ),
            ]
        ]
    )


def done_keyboard(lang: str, order_id: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text(lang, "done_button"), callback_data=DonePress(order_id).data)]]
    )


def packs_keyboard(order_id: str, packs: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per (pack_id, label), one per row so long names stay readable."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=PackChoice(order_id, pack_id).data)]
            for pack_id, label in packs
        ]
    )


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(LANGUAGE_NAMES[lang], callback_data=LanguageChoice(lang).data)
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
                    text(lang, "delete_yes"), callback_data=EraseAnswer("yes").data
                ),
                InlineKeyboardButton(text(lang, "delete_no"), callback_data=EraseAnswer("no").data),
            ]
        ]
    )


def withdraw_keyboard(lang: str) -> InlineKeyboardMarkup:
    """Under /privacy: withdrawing consent, which is erasure (it asks for confirmation)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "withdraw_consent"), callback_data=EraseAnswer("ask").data
                )
            ]
        ]
    )
