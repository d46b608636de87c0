"""The README stays true: every settings row it shows states the setting's real default.

Completeness is checked on `.env.example` (tests/test_env_example.py), which lists every
setting; the README's table is the tour, and a row it has must not go stale.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr

from studio.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_settings_row_in_the_readme_states_the_real_default() -> None:
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", README.read_text(), re.MULTILINE)
    assert rows, "the README has no settings table"
    fields = Settings.model_fields
    for env, shown in rows:
        name = env.lower()
        if name not in fields:
            assert env == "LOG_LEVEL", f"README documents {env}, which is no setting"
            continue
        default = fields[name].default
        text = default.get_secret_value() if isinstance(default, SecretStr) else str(default)
        if default is None:  # an optional path or address: unset
            text = ""
        if isinstance(default, tuple):
            text = ",".join(map(str, default))
        expected = f"`{text}`" if text else "(empty)"
        assert shown.strip() == expected, f"README row {env}: {shown.strip()} != {expected}"


def test_readme_names_the_two_commands_ci_runs() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
