"""The consent screen, and the record of agreeing to it: both from the same text."""

from __future__ import annotations

import hashlib

from bot.texts import text
from studio.sessions import ConsentRecord
from studio.settings import Settings


def consent_text(settings: Settings, lang: str) -> str:
    """The consent screen exactly as shown."""
    return text(lang, "consent", intake_hours=f"{settings.intake_ttl_hours:g}")


def consent_record(settings: Settings, lang: str, agreed_at: float) -> ConsentRecord:
    """What the user agreed to: the policy version and a hash of the exact screen shown."""
    shown = consent_text(settings, lang)
    return ConsentRecord(
        policy_version=settings.policy_version,
        text_sha256=hashlib.sha256(shown.encode()).hexdigest(),
        agreed_at=agreed_at,
    )
