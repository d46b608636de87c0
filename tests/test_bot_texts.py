"""Text catalogues, keyboards, and the bot's import boundary."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.keyboards import (
    MAX_CALLBACK_BYTES,
    ConsentAnswer,
    DonePress,
    EraseAnswer,
    LanguageChoice,
    PackChoice,
    packs_keyboard,
)
from bot.packs import style_packs
from bot.texts import CATALOGUES, format_wait, pick_language, placeholders, text


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, zh = CATALOGUES["en"], CATALOGUES["zh"]
    assert set(en) == set(zh)
    mismatched = {key for key in en if placeholders(en[key]) != placeholders(zh[key])}
    assert not mismatched


def test_language_is_the_users_choice_else_language_code() -> None:
    assert pick_language("", "zh-hans") == "zh"
    assert pick_language("", "zh-TW") == "zh"
    assert pick_language("", "de") == "en"
    assert pick_language("", None) == "en"
    assert pick_language("en", "zh-hans") == "en"
    assert pick_language("zh", "en") == "zh"


def test_wait_estimates_read_naturally() -> None:
    assert format_wait("en", 0) == "no wait"
    assert format_wait("en", 59) == "about 1 min"
    assert format_wait("en", 3 * 3600 + 600) == "about 3 h 10 min"
    assert format_wait("zh", 120) == "约 2 分钟"


def test_at_least_four_packs_with_names_and_descriptions_in_both_languages() -> None:
    packs = style_packs()
    assert len(packs) >= 4
    for pack in packs:
        for lang in ("en", "zh"):
            assert pack.name(lang) and pack.description(lang)
    assert packs[0].name("zh") != packs[0].name("en")
    keyboard = packs_keyboard("A" * 12, [(p.id, p.name("en")) for p in packs])
    for row in keyboard.inline_keyboard:
        data = row[0].callback_data
        assert isinstance(data, str) and len(data.encode()) <= MAX_CALLBACK_BYTES


def test_callback_data_keeps_its_wire_format_and_parses_back() -> None:
    buttons: list[tuple[Any, str]] = [
        (ConsentAnswer("yes", "18-29", "0123456789ab"), "consent:yes:18-29:0123456789ab"),
        (ConsentAnswer("yes", "50+", "0123456789ab"), "consent:yes:50+:0123456789ab"),
        (ConsentAnswer("minor", None, "0123456789ab"), "consent:minor:0123456789ab"),
        (ConsentAnswer("no"), "consent:no"),
        (LanguageChoice("zh"), "lang:zh"),
        (DonePress("A1b2"), "done:A1b2"),
        (PackChoice("A1b2", "studio"), "pack:A1b2:studio"),
        (EraseAnswer("ask"), "erase:ask"),
        (EraseAnswer("yes"), "erase:yes"),
        (EraseAnswer("no"), "erase:no"),
    ]
    for button, data in buttons:
        assert button.data == data
        assert type(button).parse(data) == button


@pytest.mark.parametrize(
    "kind, data",
    [
        (ConsentAnswer, "consent:maybe"),
        (ConsentAnswer, "consent:yes"),  # agreeing states an age group and the screen shown
        (ConsentAnswer, "consent:yes:17:0123456789ab"),
        (ConsentAnswer, "consent:minor"),
        (ConsentAnswer, "lang:zh"),
        (LanguageChoice, "lang:de"),
        (DonePress, "done:"),
        (PackChoice, "pack:A1b2"),
        (PackChoice, "pack:A1b2:studio:extra"),
        (EraseAnswer, "erase:all"),
        (EraseAnswer, None),
    ],
)
def test_malformed_callback_data_parses_to_none(kind: type[DonePress], data: str | None) -> None:
    assert kind.parse(data) is None


def test_callback_data_over_64_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        _ = PackChoice("A" * 60, "studio").data


def test_only_the_application_imports_the_handlers() -> None:
    root = Path(__file__).resolve().parent.parent
    folders = [
        p for p in root.iterdir() if p.is_dir() and p.name[0] not in "._" and p.name != "tests"
    ]
    importers = set()
    for path in [*root.glob("*.py"), *(p for folder in folders for p in folder.rglob("*.py"))]:
        relative = path.relative_to(root)
        if relative.parts[:2] == ("bot", "handlers"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name == "bot.handlers" or name.startswith("bot.handlers.") for name in names):
                importers.add(str(relative))
    assert importers == {"bot/app.py"}


def test_every_reason_code_of_the_checks_has_a_translation() -> None:
    from pipeline.checks import REASONS

    for reason in REASONS:
        if reason != "ok":
            assert text("zh", f"reason_{reason}") != text("en", f"reason_{reason}")


def test_importing_the_bot_does_not_import_torch_diffusers_or_insightface() -> None:
    code = (
        "import sys, bot.app, bot.__main__, bot.packs\n"
        "heavy = [m for m in ('torch', 'diffusers', 'insightface', 'onnxruntime') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
