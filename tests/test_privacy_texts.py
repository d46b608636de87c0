"""The periods /privacy and /delete state are the ones the settings enforce."""

from __future__ import annotations

from bot.consent import erase_confirmation
from bot.texts import LANGUAGES, text
from studio.settings import Settings


def test_privacy_and_delete_state_the_ledger_and_idle_periods_retention_enforces() -> None:
    # Not the defaults: whatever an operator sets is what the user is told.
    settings = Settings(_env_file=None, ledger_retention_days=731, idle_user_days=181)  # type: ignore[call-arg]
    for lang in LANGUAGES:
        policy = text(
            lang,
            "privacy",
            version="v",
            intake_hours="24",
            order_days="30",
            ledger_days=f"{settings.ledger_retention_days:g}",
            idle_days=f"{settings.idle_user_days:g}",
            support="@s",
        )
        assert "731 " in policy and "181 " in policy, lang
        assert "731 " in erase_confirmation(settings, lang), lang
