"""Inline keyboards, and the callback_data of each kind of button as a small typed value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.texts import LANGUAGE_NAMES, LANGUAGES, text
from studio.sessions import AGE_BRACKETS, AgeBracket

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


ConsentChoice = Literal["yes", "minor", "no"]


@dataclass(frozen=True)
class ConsentAnswer:
    """A press on the consent screen: "I agree" with an adult age group, "under 18", or "No".

    "yes" and "minor" carry `shown`, a short digest of the screen they were pressed on (policy
    version and text, `bot.consent.screen_digest`), so a press on an outdated screen is known.
    """

    PREFIX: ClassVar[str] = "consent"
    choice: ConsentChoice
    age_bracket: AgeBracket | None = None
    shown: str = ""

    @property
    def agreed(self) -> bool:
        return self.choice == "yes"

    @property
    def data(self) -> str:
        if self.choice == "yes":
            assert self.age_bracket is not None
            return _encode(self.PREFIX, "yes", self.age_bracket, self.shown)
        if self.choice == "minor":
            return _encode(self.PREFIX, "minor", self.shown)
        return _encode(self.PREFIX, "no")

    @classmethod
    def parse(cls, data: str | None) -> ConsentAnswer | None:
        if (fields := _fields(cls.PREFIX, data, 3)) is not None and fields[0] == "yes":
            for bracket in AGE_BRACKETS:
                if fields[1] == bracket:
                    return cls("yes", bracket, fields[2])
            return None
        if (fields := _fields(cls.PREFIX, data, 2)) is not None and fields[0] == "minor":
            return cls("minor", None, fields[1])
        if (fields := _fields(cls.PREFIX, data, 1)) is not None and fields[0] == "no":
            return cls("no")
        return None


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


AfterChoice = Literal["style", "originals"]
AFTER_CHOICES: tuple[AfterChoice, ...] = ("style", "originals")


@dataclass(frozen=True)
class AfterDelivery:
    """A button under the final delivery message: another style, or the originals again."""

    PREFIX: ClassVar[str] = "after"
    choice: AfterChoice
    order_id: str

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.choice, self.order_id)

    @classmethod
    def parse(cls, data: str | None) -> AfterDelivery | None:
        fields = _fields(cls.PREFIX, data, 2)
        if fields is None:
            return None
        for choice in AFTER_CHOICES:
            if fields[0] == choice:
                return cls(choice, fields[1])
        return None


KeepChoice = Literal["yes", "no", "stop"]
KEEP_CHOICES: tuple[KeepChoice, ...] = ("yes", "no", "stop")
KEEP_ALL = "all"  # the order field of "stop", which is about every kept photo of the user


@dataclass(frozen=True)
class KeepPhotos:
    """Keeping photos for another style: opt in ("yes") or undo ("no") for an order before its
    delivery, or "stop" keeping what is kept (under /mydata)."""

    PREFIX: ClassVar[str] = "keep"
    choice: KeepChoice
    order_id: str = KEEP_ALL

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.choice, self.order_id)

    @classmethod
    def parse(cls, data: str | None) -> KeepPhotos | None:
        fields = _fields(cls.PREFIX, data, 2)
        if fields is None:
            return None
        for choice in KEEP_CHOICES:
            if fields[0] == choice:
                return cls(choice, fields[1])
        return None


# The button label of each adult age group on the consent screen.
AGE_BUTTON_KEYS: dict[AgeBracket, str] = {
    "18-29": "consent_yes_18_29",
    "30-49": "consent_yes_30_49",
    "50+": "consent_yes_50_plus",
}


def consent_keyboard(lang: str, shown: str) -> InlineKeyboardMarkup:
    """Agree by stating an adult age group, "I'm under 18", or "No thanks"; none pre-selected.

    `shown` is the digest of the screen the keyboard goes under (`bot.consent.screen_digest`).
    """
    rows = [
        [
            InlineKeyboardButton(
                text(lang, AGE_BUTTON_KEYS[bracket]),
                callback_data=ConsentAnswer("yes", bracket, shown).data,
            )
        ]
        for bracket in AGE_BRACKETS
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text(lang, "consent_under_18"),
                callback_data=ConsentAnswer("minor", None, shown).data,
            )
        ]
    )
    rows.append(
        [InlineKeyboardButton(text(lang, "consent_no"), callback_data=ConsentAnswer("no").data)]
    )
    return InlineKeyboardMarkup(rows)


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


def delivered_keyboard(lang: str, order_id: str) -> InlineKeyboardMarkup:
    """Under the final delivery message."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "button_another_style"),
                    callback_data=AfterDelivery("style", order_id).data,
                )
            ],
            [
                InlineKeyboardButton(
                    text(lang, "button_originals_again"),
                    callback_data=AfterDelivery("originals", order_id).data,
                )
            ],
        ]
    )


def keep_photos_keyboard(
    lang: str, order_id: str, days: str, *, keeping: bool
) -> InlineKeyboardMarkup:
    """The opt-in to keep the checked photos after delivery, or (once pressed) its undo."""
    choice: KeepChoice = "no" if keeping else "yes"
    label = "keep_button_undo" if keeping else "keep_button"
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, label, days=days),
                    callback_data=KeepPhotos(choice, order_id).data,
                )
            ]
        ]
    )


def stop_keeping_keyboard(lang: str) -> InlineKeyboardMarkup:
    """Under /mydata while photos are kept: delete them now."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    text(lang, "kept_stop_button"), callback_data=KeepPhotos("stop").data
                )
            ]
        ]
    )
