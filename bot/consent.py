"""The consent screen, and the record of agreeing to it: both from the same text.

The screen includes the "only your own face, only adults" statements, and one agrees by
pressing an adult age group; the record's hash covers the screen and the label pressed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from telegram import Bot, InlineKeyboardMarkup, Message

from bot.keyboards import AGE_BUTTON_KEYS, consent_keyboard
from bot.texts import LANGUAGES, text
from studio.sessions import AgeBracket, ConsentRecord
from studio.settings import Settings

# Hex digits of the screen digest carried in the buttons' callback data.
SHOWN_DIGEST_CHARS = 12


def consent_text(settings: Settings, lang: str) -> str:
    """The consent screen exactly as shown."""
    return text(lang, "consent", intake_hours=f"{settings.intake_ttl_hours:g}")


def screen_digest(settings: Settings, lang: str) -> str:
    """A short digest of the policy version and the screen's text, put into its buttons."""
    shown = f"{settings.policy_version}\n{consent_text(settings, lang)}"
    return hashlib.sha256(shown.encode()).hexdigest()[:SHOWN_DIGEST_CHARS]


def consent_screen(
    settings: Settings, lang: str, *, intro: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    """The screen's text (after `intro`, e.g. the welcome, in the same message) and its buttons.

    The buttons' digest covers the consent text alone: the intro may change from one /start to
    the next (the current wait) without making the screen a different one to agree to.
    """
    body = consent_text(settings, lang)
    if intro:
        body = f"{intro}\n\n{body}"
    return body, consent_keyboard(lang, screen_digest(settings, lang))


async def send_consent_screen(
    bot: Bot, settings: Settings, chat_id: int, lang: str, *, renewal: bool, intro: str = ""
) -> Message:
    """The consent screen as one message; with `renewal`, a word on why it is asked again."""
    if renewal:
        renew = text(lang, "consent_renew", version=settings.policy_version)
        intro = f"{intro}\n\n{renew}" if intro else renew
    body, keyboard = consent_screen(settings, lang, intro=intro)
    return await bot.send_message(chat_id, body, reply_markup=keyboard)


def answered_date(at: float) -> str:
    """The day of an answer as the edited screen states it (UTC, ISO, in every language)."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def agreed_note(settings: Settings, lang: str, age_bracket: AgeBracket, agreed_at: float) -> str:
    """What the consent screen is edited to once agreed: the choice, the version and the day."""
    return text(
        lang,
        "consent_given",
        version=settings.policy_version,
        date=answered_date(agreed_at),
        age=age_bracket.replace("-", "–"),
    )


def shown_language(settings: Settings, shown: str) -> str | None:
    """The language of the current screen a press came from; None for an outdated screen."""
    for lang in LANGUAGES:
        if shown == screen_digest(settings, lang):
            return lang
    return None


def agreed_text(settings: Settings, lang: str, age_bracket: AgeBracket) -> str:
    """What the user agreed to: the screen, and the label of the button they pressed."""
    return f"{consent_text(settings, lang)}\n\n{text(lang, AGE_BUTTON_KEYS[age_bracket])}"


def consent_record(
    settings: Settings, lang: str, age_bracket: AgeBracket, agreed_at: float
) -> ConsentRecord:
    """The policy version, a hash of the exact screen and answer, and the user's statements."""
    return ConsentRecord(
        policy_version=settings.policy_version,
        text_sha256=hashlib.sha256(agreed_text(settings, lang, age_bracket).encode()).hexdigest(),
        agreed_at=agreed_at,
        own_face=True,
        age_bracket=age_bracket,
    )


def erase_confirmation(settings: Settings, lang: str) -> str:
    """The /delete confirmation (also shown when consent is withdrawn), with the ledger period."""
    return text(lang, "delete_confirm", ledger_days=f"{settings.ledger_retention_days:g}")
