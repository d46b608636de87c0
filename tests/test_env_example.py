"""`.env.example` documents every setting with its default (scripts/env_example.py writes it)."""

from __future__ import annotations

import runpy
from pathlib import Path

from studio.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
HINT = "run: .venv/bin/python scripts/env_example.py > .env.example"


def test_every_setting_is_in_env_example_with_its_default() -> None:
    lines = {line.removeprefix("# ") for line in (ROOT / ".env.example").read_text().splitlines()}
    default_text = runpy.run_path(str(ROOT / "scripts" / "env_example.py"))["default_text"]
    for name, field in Settings.model_fields.items():
        row = f"{name.upper()}={default_text(field.default)}"
        assert row in lines, f".env.example lacks {row!r}; {HINT}"


def test_env_example_loads_as_settings(tmp_path: Path) -> None:
    """Copied to .env unchanged, it is a valid (dev) configuration."""
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text())
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://127.0.0.1:6379/0" and settings.health_port == 0
