"""Start-up survives Bot API errors: menus and descriptions are published in the background."""

from __future__ import annotations

import asyncio
import time

from bot.app import PROFILE_TASK
from bot.texts import text
from tests.fixtures.bot import BotEnv

PROFILE_METHODS = ("setMyCommands", "setMyDescription", "setMyShortDescription")


async def test_the_bot_answers_while_the_profile_calls_fail_and_publishes_them_later(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    for running in list(env.bots):
        await env.stop_bot(running)
    before = {m: len(await env.client.calls(m)) for m in PROFILE_METHODS}
    for method in PROFILE_METHODS:
        await env.client.inject_fault(method, count=2, status=500)

    await env.start_bot()  # does not raise, nor wait for the profile

    await env.client.send_text(7001, "/help")
    await env.wait_text(7001, "/status", timeout=15)
    deadline = time.monotonic() + 60
    while True:
        new = {
            m: [c["status"] for c in (await env.client.calls(m))[before[m] :]]
            for m in PROFILE_METHODS
        }
        if all(statuses.count(200) == 2 for statuses in new.values()):
            break
        assert time.monotonic() < deadline, new
        await asyncio.sleep(0.2)
    # Each failed twice, was tried again, and was set in both languages.
    assert all(statuses[:2] == [500, 500] for statuses in new.values()), new
    _, zh = await env.emulator.api("getMyDescription", language_code="zh")
    _, en_short = await env.emulator.api("getMyShortDescription")
    assert zh["result"]["description"] == text("zh", "bot_description")
    assert en_short["result"]["short_description"] == text("en", "bot_short_description")
    assert {(c["language_code"] or "") for c in await env.client.commands()} >= {"", "zh"}


async def test_a_stop_during_the_profile_retries_cancels_them(bot_env: BotEnv) -> None:
    """Telegram down for the menus: a deploy's stop must not wait out minutes of backoff."""
    env = bot_env
    for running in list(env.bots):
        await env.stop_bot(running)
    await env.client.inject_fault("setMyCommands", count=1000, status=500)
    running = await env.start_bot()
    deadline = time.monotonic() + 30
    while len([c for c in await env.client.calls("setMyCommands") if c["status"] == 500]) < 2:
        assert time.monotonic() < deadline, "the profile was never retried"
        await asyncio.sleep(0.1)
    task = running.application.bot_data[PROFILE_TASK]

    await env.stop_bot(running)  # fails the test (with every stack) if it waits for the retries

    assert task.cancelled()
    tried = len(await env.client.calls("setMyCommands"))
    await asyncio.sleep(3)  # past the next backoff step (2 s, then 4 s)
    assert len(await env.client.calls("setMyCommands")) == tried
