"""The buttons around the style choice: "See samples" under the packs, "Change style" on invoices.

Their callback_data follow `bot.keyboards`' wire format (prefix and fields joined by ":").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.keyboards import MAX_CALLBACK_BYTES, SEPARATOR
from bot.texts import text


def _encode(prefix: str, *fields: str) -> str:
    data = SEPARATOR.join((prefix, *fields))
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback_data {data!r} is over {MAX_CALLBACK_BYTES} bytes")
    return data


def _fields(prefix: str, data: str | None, count: int) -> list[str] | None:
    head, *fields = (data or "").split(SEPARATOR)
    if head != prefix or len(fields) != count or not all(fields):
        return None
    return fields


@dataclass(frozen=True)
class SamplesPress:
    """ "See samples" under the style packs: an album of one sample per pack."""

    PREFIX: ClassVar[str] = "samples"
    order_id: str

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.order_id)

    @classmethod
    def parse(cls, data: str | None) -> SamplesPress | None:
        fields = _fields(cls.PREFIX, data, 1)
        return None if fields is None else cls(fields[0])


@dataclass(frozen=True)
class ChangeStylePress:
    """ "Change style" on an invoice; it names the invoice, so only the current one acts."""

    PREFIX: ClassVar[str] = "restyle"
    order_id: str
    invoice_ref: str

    @property
    def data(self) -> str:
        return _encode(self.PREFIX, self.order_id, self.invoice_ref)

    @classmethod
    def parse(cls, data: str | None) -> ChangeStylePress | None:
        fields = _fields(cls.PREFIX, data, 2)
        return None if fields is None else cls(fields[0], fields[1])


def with_samples_button(
    keyboard: InlineKeyboardMarkup, lang: str, order_id: str
) -> InlineKeyboardMarkup:
    """The packs' keyboard with a last row that asks for the samples (sent on request only)."""
    samples = InlineKeyboardButton(
        text(lang, "samples_button"), callback_data=SamplesPress(order_id).data
    )
    return InlineKeyboardMarkup([*keyboard.inline_keyboard, [samples]])


def invoice_keyboard(
    lang: str, price: int, order_id: str, invoice_ref: str | None
) -> InlineKeyboardMarkup:
    """Pay first (Telegram requires it), then "Change style"; without a ref, Pay alone."""
    rows = [[InlineKeyboardButton(text(lang, "pay_button", price=price), pay=True)]]
    if invoice_ref:
        change = ChangeStylePress(order_id, invoice_ref)
        rows.append(
            [InlineKeyboardButton(text(lang, "change_style_button"), callback_data=change.data)]
        )
    return InlineKeyboardMarkup(rows)
