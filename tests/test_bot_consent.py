"""Consent through the real bot: own face and an adult age group, under 18, and re-consent.

A policy version change is a new deployment: the bot restarts with other Settings, while the
workers already running keep theirs. A paid order under the old policy still renders and is
delivered; no new photo is taken before the user agrees to the new policy.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest

from bot.consent import agreed_note, agreed_text, consent_text
from bot.texts import text
from emulator.client import latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio import keys
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, Message, RenderWorkerStarter, button, is_status_message
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

USER = 7601
OTHER = 7602
POLICY_B = "2099-01-01"


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    """bot_env's settings plus the tiny models: the paid order under the old policy renders."""
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


def is_consent_screen(message: Message) -> bool:
    return button(message, "consent:yes:") is not None


async def consent_screens(env: BotEnv, user: int) -> list[Message]:
    return [m for m in await env.messages(user) if is_consent_screen(m)]


async def wait_for_screens(env: BotEnv, user: int, count: int) -> list[Message]:
    """Until the user has been shown `count` consent screens (with their buttons)."""
    screens: list[Message] = []
    for _ in range(300):
        screens = await consent_screens(env, user)
        if len(screens) >= count:
            return screens
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} consent screens, got {len(screens)}")


async def redeploy_with_policy(env: BotEnv, version: str) -> None:
    """Stop the bot and start it again with POLICY_VERSION moved (the workers keep running)."""
    for running in list(env.bots):
        await env.stop_bot(running)
    env.settings = env.settings.model_copy(update={"policy_version": version})
    await env.start_bot()


async def test_agreeing_states_own_face_and_age_group_and_hashes_what_was_agreed(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start")
    screen = await env.wait_for(USER, is_consent_screen)
    body = latest_text(screen)
    # One message: the welcome, then the screen exactly as its digest and hash cover it.
    assert body.startswith("Hi! I make") and "Price: " in body
    assert body.endswith("\n\n" + consent_text(env.settings, "en"))
    assert len(await env.messages(USER)) == 1
    assert "Only your own face, and only adults" in body
    labels = [row[0]["text"] for row in screen["reply_markup"]["inline_keyboard"]]
    assert labels == [
        text("en", "consent_yes_18_29"),
        text("en", "consent_yes_30_49"),
        text("en", "consent_yes_50_plus"),
        text("en", "consent_under_18"),
        text("en", "consent_no"),
    ]
    await env.press(USER, screen, "consent:yes:30-49")
    await env.wait_text(USER, text("en", "ask_headshot"))
    # The screen itself now shows the choice, its day and step 1, without buttons.
    [answered] = await env.messages(USER)
    assert answered["message_id"] == screen["message_id"] and answered["reply_markup"] is None
    day = time.strftime("%Y-%m-%d", time.gmtime(env.clock.now()))
    assert latest_text(answered) == (
        f"✅ You agreed to the photo policy (version {env.settings.policy_version}) on {day}: "
        "the photos you send show you, and you are 30–49. /privacy shows the policy again; "
        "/delete erases everything.\n\n" + text("en", "ask_headshot")
    )
    session = await env.studio.sessions.get(USER)
    record = session.consent
    assert record is not None
    assert record.policy_version == env.settings.policy_version
    assert record.own_face and record.age_bracket == "30-49"
    # The hash covers the screen (with its own-face and adults statements) and the answer.
    expected = hashlib.sha256(agreed_text(env.settings, "en", "30-49").encode()).hexdigest()
    assert record.text_sha256 == expected
    assert session.consented_to(env.settings.policy_version)
    assert not session.consented_to(POLICY_B)


async def test_under_18_is_refused_politely_and_only_the_decision_is_stored(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start")
    screen = await env.wait_for(USER, is_consent_screen)
    await env.press(USER, screen, "consent:minor:")
    refused = await env.wait_text(USER, text("en", "consent_minor_refused"))
    # The screen is edited to the answer: no second message, no buttons left to press.
    day = time.strftime("%Y-%m-%d", time.gmtime(env.clock.now()))
    assert refused["message_id"] == screen["message_id"] and refused["reply_markup"] is None
    assert latest_text(refused).startswith(f"✖ You declined on {day}.")
    session = await env.studio.sessions.get(USER)
    assert session.consent is None and session.declined_at > 0 and not session.order_id
    stored = await env.studio.redis.hgetall(keys.session(USER))  # type: ignore[misc]
    assert set(stored) == {b"declined_at"}
    assert not await env.studio.redis.exists(keys.user_orders(USER))
    # A photo sent anyway is refused and not stored.
    await env.client.send_photo(USER, synthetic_face_photo(1, 0))
    await env.wait_text(USER, text("en", "consent_needed"))
    assert await env.studio.redis.hgetall(keys.session(USER)) == stored  # type: ignore[misc]
    assert not await env.studio.redis.exists(keys.user_orders(USER))


async def test_chinese_consent_screen_states_own_face_and_adults(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start", language_code="zh")
    screen = await env.wait_for(USER, is_consent_screen)
    assert latest_text(screen).endswith("\n\n" + consent_text(env.settings, "zh"))
    assert "只限本人，只限成年人" in latest_text(screen)
    assert text("zh", "consent_under_18") in str(screen["reply_markup"])


async def test_a_policy_change_asks_again_before_any_photo_and_paid_orders_finish(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env = bot_env
    policy_a = env.settings.policy_version
    # USER pays under policy A; OTHER only looks at A's consent screen.
    invoice = await env.reach_invoice(USER)
    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    order = await env.current_order(USER)
    await wait_for_state(env.studio, order.id, {OrderState.PAID})
    await env.client.send_text(OTHER, "/start")
    old_screen = await env.wait_for(OTHER, is_consent_screen)

    await redeploy_with_policy(env, POLICY_B)

    # A photo under the old consent: refused with the re-consent screen, nothing stored.
    before = await env.studio.redis.hgetall(keys.order_photos(order.id))  # type: ignore[misc]
    screens = len(await consent_screens(env, USER))
    await env.client.send_album(USER, [synthetic_face_photo(1, v) for v in (30, 31, 32)])
    await env.wait_text(USER, text("en", "consent_renew", version=POLICY_B))
    await wait_for_screens(env, USER, screens + 1)
    await env.wait_for(USER, lambda m: latest_text(m) == text("en", "consent_needed"))
    await asyncio.sleep(0.5)
    assert len(await consent_screens(env, USER)) == screens + 1  # one screen for the album
    assert await env.studio.redis.hgetall(keys.order_photos(order.id)) == before  # type: ignore[misc]
    assert (await env.current_order(USER)).photos == order.photos
    # /start asks again too.
    await env.client.send_text(USER, "/start")
    screens_now = await wait_for_screens(env, USER, screens + 2)
    session = await env.studio.sessions.get(USER)
    assert session.consent is not None and session.consent.policy_version == policy_a

    # The order paid under policy A renders and is delivered, untouched.
    await render_workers()
    await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=120)
    delivered = [m for m in await env.messages(USER) if m["kind"] in ("photo", "document")]
    assert delivered

    # A press on a screen shown under policy A is not consent to B: the new screen is sent.
    answer = await env.press(OTHER, old_screen, "consent:yes:18-29")
    assert answer["text"] == text("en", "consent_outdated")
    assert (await env.studio.sessions.get(OTHER)).consent is None
    new_screen = await env.wait_for(
        OTHER, lambda m: is_consent_screen(m) and m["message_id"] != old_screen["message_id"]
    )
    assert latest_text(new_screen) == consent_text(env.settings, "en")
    # The old screen lost its buttons: only the new one can be agreed to.
    assert [m["message_id"] for m in await consent_screens(env, OTHER)] == [
        new_screen["message_id"]
    ]

    # Agreeing to B: recorded under B, and the next photo is taken.
    await env.press(USER, screens_now[-1], "consent:yes:50+")
    await env.wait_text(USER, agreed_note(env.settings, "en", "50+", env.clock.now()))
    await env.wait_text(USER, text("en", "ask_headshot"))
    session = await env.studio.sessions.get(USER)
    assert session.consent is not None
    assert (session.consent.policy_version, session.consent.age_bracket) == (POLICY_B, "50+")
    last = max(m["message_id"] for m in await env.messages(USER))
    await env.client.send_photo(USER, synthetic_face_photo(1, 0))
    status = await env.wait_for(
        USER, lambda m: is_status_message(m) and m["message_id"] > last, timeout=20
    )
    assert "Accepted: 0 of" in latest_text(status)


@pytest.mark.parametrize(("language_code", "lang"), [("en", "en"), ("zh-hans", "zh")])
async def test_privacy_and_help_say_own_face_only_and_adults_only(
    bot_env: BotEnv, language_code: str, lang: str
) -> None:
    env = bot_env
    await env.client.send_text(USER, "/privacy", language_code=language_code)
    policy = await env.wait_text(USER, text(lang, "privacy_own_face"))
    # The policy itself, then these promises.
    assert latest_text(policy).endswith(text(lang, "privacy_own_face"))
    assert env.settings.policy_version in latest_text(policy)
    await env.client.send_text(USER, "/help", language_code=language_code)
    helped = await env.wait_text(
        USER, {"en": "Only photos of yourself", "zh": "只限本人照片"}[lang]
    )
    assert {"en": "under 18", "zh": "未满 18 岁"}[lang] in latest_text(helped)
    assert {"en": "adults only", "zh": "仅限成年人"}[lang] in latest_text(helped)


async def test_under_18_on_a_renewed_screen_leads_to_erasing_what_was_sent(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await redeploy_with_policy(env, POLICY_B)
    await env.client.send_text(USER, "/start")
    [screen] = await wait_for_screens(env, USER, 1)
    await env.press(USER, screen, "consent:minor:")
    ask = await env.wait_for(USER, lambda m: button(m, "erase:yes") is not None)
    assert latest_text(ask) == text("en", "consent_minor_has_data")
    await env.press(USER, ask, "erase:yes")
    await env.wait_text(
        USER, text("en", "delete_done", orders=1, photos=1, refunded=0, ledger=0)[:20]
    )
    session = await env.studio.sessions.get(USER)
    assert session.consent is None and not session.order_id
    assert not await env.studio.redis.exists(keys.user_orders(USER))
