"""Onboarding in few message units: /start to the headshot request is one message and one edit.

Before (issue 11.10): welcome, consent screen, "thank you", the headshot request: 4 messages and
1 edit (the screen's buttons removed), the last ones held back by the chat's ~1 message/s limit.
Now the welcome and the screen are one message, and agreeing edits it to the choice and step 1.
"""

from __future__ import annotations

import asyncio

from bot.texts import text
from emulator.client import latest_text
from tests.fixtures.bot import BotEnv, button
from tests.test_order_budget import message_units

USER = 8_301
# Issue 11.10: at most 2 messages before the user sends the headshot.
ONBOARDING_MESSAGES_MAX = 2


async def test_a_new_user_gets_one_message_and_one_edit_before_the_headshot(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start")
    screen = await env.wait_for(USER, lambda m: button(m, "consent:yes") is not None)
    assert "Price: " in latest_text(screen)  # the welcome is in the same message
    assert await message_units(env, USER) == (1, 0)

    await env.press(USER, screen, "consent:yes:18-29")
    await env.wait_text(USER, text("en", "ask_headshot"))
    await asyncio.sleep(0.3)  # nothing else is on its way
    sent, edits = await message_units(env, USER)
    print(f"onboarding message units: {sent + edits} ({sent} messages, {edits} edits)")
    assert (sent, edits) == (1, 1)
    assert sent <= ONBOARDING_MESSAGES_MAX
    assert (await env.current_order(USER)).state == "headshot"

    # The headshot request is the edited screen itself: the headshot is taken next.
    status = await env.send_headshot(USER)
    assert "Accepted: 0 of" in latest_text(status)


async def test_a_second_tap_on_the_screen_sends_nothing_more(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start")
    screen = await env.wait_for(USER, lambda m: button(m, "consent:yes") is not None)
    first = await env.client.press(
        USER, screen["message_id"], str(button(screen, "consent:yes:30"))
    )
    second = await env.client.press(USER, screen["message_id"], str(button(screen, "consent:no")))
    await env.answer_of(first["callback_query_id"])
    assert (await env.answer_of(second["callback_query_id"]))["text"] == text(
        "en", "button_already_done"
    )
    await env.wait_text(USER, text("en", "ask_headshot"))
    await asyncio.sleep(0.3)
    assert await message_units(env, USER) == (1, 1)
    session = await env.studio.sessions.get(USER)
    assert session.consent is not None and session.declined_at == 0


async def test_no_thanks_is_the_same_message_edited_to_the_decline(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start", language_code="zh")
    screen = await env.wait_for(USER, lambda m: button(m, "consent:no") is not None)
    await env.press(USER, screen, "consent:no", language_code="zh")
    declined = await env.wait_text(USER, text("zh", "consent_declined"))
    assert declined["message_id"] == screen["message_id"]
    assert latest_text(declined).startswith("✖ 你已于 ")
    await asyncio.sleep(0.3)
    assert await message_units(env, USER) == (1, 1)
