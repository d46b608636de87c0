"""The README stays true: every setting is documented with its default."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from studio.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    text = README.read_text()
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = default.get_secret_value() if isinstance(default, SecretStr) else str(default)
        row = f"| `{name.upper()}` | " + (f"`{shown}`" if shown else "(empty)")
        assert row in text, f"README settings table lacks {row!r}"


def test_readme_names_the_two_commands_ci_runs() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
