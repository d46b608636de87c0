"""The periods /privacy and /delete state are the ones the settings enforce."""

from __future__ import annotations

from bot.texts import LANGUAGES, text
from studio.settings import Settings


def test_privacy_and_delete_state_the_ledger_and_idle_periods_retention_enforces() -> None:
    # The texts carry these numbers as words; if a default moves, the texts must move with it
    # (the handlers that format /privacy pass only its older placeholders).
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    ledger_days = f"{settings.ledger_retention_days:g}"
    idle_days = f"{settings.idle_user_days:g}"
    for lang in LANGUAGES:
        policy = text(
            lang, "privacy", version="v", intake_hours="24", order_days="30", support="@s"
        )
        assert f"{ledger_days} " in policy and f"{idle_days} " in policy, lang
        assert f"{ledger_days} " in text(lang, "delete_confirm"), lang
