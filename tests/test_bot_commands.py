"""/status, /cancel, /help, /privacy, /paysupport, /language and the command menus."""

from __future__ import annotations

import asyncio
import time

from emulator.client import latest_text
from studio import keys
from studio.orders import OrderState
from tests.fixtures.bot import BotEnv

USER = 7301


async def test_commands_are_registered_in_english_and_chinese(bot_env: BotEnv) -> None:
    # Published in the background after start (bot/profile.py): wait for both menus.
    deadline = time.monotonic() + 15
    while True:
        commands = await bot_env.client.commands()
        by_language = {entry.get("language_code") or "": entry["commands"] for entry in commands}
        if {"", "zh"} <= by_language.keys():
            break
        assert time.monotonic() < deadline, by_language
        await asyncio.sleep(0.05)
    assert {c["command"] for c in by_language[""]} >= {
        "start",
        "status",
        "cancel",
        "help",
        "privacy",
        "paysupport",
        "language",
    }
    zh = {c["command"]: c["description"] for c in by_language["zh"]}
    assert zh["status"] == "查看订单进度"


async def test_status_shows_state_counts_then_place_and_eta(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/status")
    await env.wait_text(USER, "You have no order yet")
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.send_selfies(USER, 2)
    await env.wait_for(USER, lambda m: "Accepted: 2 of 3" in latest_text(m))
    await env.client.send_text(USER, "/status")
    status = await env.wait_text(USER, "collecting selfies")
    assert "Headshot: accepted. Selfies: 2 accepted, 0 being checked, 0 not usable." in latest_text(
        status
    )
    await env.send_selfies(USER, 1, first=3)
    done = await env.wait_for_done(USER)
    await env.press(USER, done, "done:")
    packs = await env.wait_for(USER, lambda m: "pack:" in str(m.get("reply_markup")))
    await env.press(USER, packs, "pack:")
    invoice = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    assert (await env.pay(USER, invoice))["ok"]
    await env.wait_text(USER, "Your place in the queue: 1")
    await env.client.send_text(USER, "/status")
    paid = await env.wait_text(USER, "paid, in the queue")
    # No render worker runs in this test: the ETA says so instead of inventing a time.
    assert "Place in the queue: 1. Estimated time: unknown for now: no portrait renderer" in (
        latest_text(paid)
    )


async def test_cancel_starts_the_intake_over_and_keeps_consent(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.send_selfies(USER, 2)
    await env.wait_for(USER, lambda m: "Accepted: 2 of 3" in latest_text(m))
    old = await env.current_order(USER)
    await env.client.send_text(USER, "/cancel")
    await env.wait_text(USER, "your consent is kept")
    cancelled = await env.studio.orders.get(old.id)
    assert cancelled is not None and cancelled.state is OrderState.CANCELLED
    assert not await env.studio.redis.exists(keys.order_photos(old.id))
    assert await env.studio.redis.zscore(keys.OPEN_ORDERS, old.id) is None
    fresh = await env.current_order(USER)
    assert fresh.id != old.id and fresh.state is OrderState.HEADSHOT
    assert (await env.studio.sessions.get(USER)).consented
    # The new intake takes a headshot straight away, without asking for consent again.
    await env.send_headshot(USER)
    await env.wait_for(USER, lambda m: "Accepted: 0 of 3" in latest_text(m))


async def test_cancel_does_not_touch_a_paid_order(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    assert (await env.pay(USER, invoice))["ok"]
    await env.client.send_text(USER, "/cancel")
    await env.wait_text(USER, "already paid, so /cancel can't stop it")
    assert (await env.current_order(USER)).state is OrderState.PAID


async def test_help_privacy_and_paysupport(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/help")
    await env.wait_text(USER, "How it works")
    await env.client.send_text(USER, "/privacy")
    policy = latest_text(await env.wait_text(USER, "Privacy policy"))
    for promise in (
        "never written to disk",
        "encrypted",
        "24 hours",
        "never used to train",
        "/delete",
        "/mydata",
    ):
        assert promise in policy
    await env.client.send_text(USER, "/paysupport")
    refunds = latest_text(await env.wait_text(USER, "Payments and refunds"))
    assert "refunded automatically" in refunds and env.settings.support_contact in refunds


async def test_language_follows_language_code_then_the_users_choice(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/help", language_code="zh-hans")
    await env.wait_text(USER, "使用说明")
    await env.client.send_text(USER, "/language", language_code="zh-hans")
    choose = await env.wait_text(USER, "请选择语言")
    await env.press(USER, choose, "lang:en")
    await env.wait_text(USER, "Language: English.")
    await env.client.send_text(USER, "/help", language_code="zh-hans")
    await env.wait_for(USER, lambda m: latest_text(m).startswith("How it works"))
