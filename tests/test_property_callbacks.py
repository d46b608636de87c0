"""Property-based tests (hypothesis) of callback_data parsing (bot/keyboards.py).

A press carries whatever a client sends (up to Telegram's 64 bytes): parsing never raises, and
accepts only data that our own buttons would carry.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.keyboards import (
    MAX_CALLBACK_BYTES,
    ConsentAnswer,
    DonePress,
    EraseAnswer,
    LanguageChoice,
    PackChoice,
)
from bot.texts import LANGUAGES
from studio.sessions import AGE_BRACKETS

PARSERS: tuple[Any, ...] = (ConsentAnswer, LanguageChoice, DonePress, PackChoice, EraseAnswer)
IDS = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=16)


def _fits(data: str) -> bool:
    return len(data.encode()) <= MAX_CALLBACK_BYTES


callback_data = st.one_of(
    st.text(max_size=64),
    # Near misses: a real prefix with any tail.
    st.builds(
        lambda prefix, tail: f"{prefix}{tail}",
        st.sampled_from([f"{p.PREFIX}:" for p in PARSERS] + [p.PREFIX for p in PARSERS]),
        st.text(max_size=40),
    ),
).filter(_fits)


@settings(max_examples=1000)
@given(callback_data)
def test_parsing_any_data_never_raises_and_accepts_only_canonical_data(data: str) -> None:
    for parser in PARSERS:
        parsed = parser.parse(data)
        assert parsed is None or parsed.data == data


buttons = st.one_of(
    st.builds(ConsentAnswer, st.just("yes"), st.sampled_from(AGE_BRACKETS), IDS),
    st.builds(ConsentAnswer, st.just("minor"), st.none(), IDS),
    st.just(ConsentAnswer("no")),
    st.builds(LanguageChoice, st.sampled_from(LANGUAGES)),
    st.builds(DonePress, IDS),
    st.builds(PackChoice, IDS, IDS),
    st.builds(EraseAnswer, st.sampled_from(["ask", "yes", "no"])),
)


@given(buttons)
def test_every_button_parses_back_to_itself_and_only_as_its_own_kind(button: Any) -> None:
    data = button.data
    assert _fits(data)
    for parser in PARSERS:
        parsed = parser.parse(data)
        assert parsed == (button if parser is type(button) else None)
