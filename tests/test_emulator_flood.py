"""Flood control answers 429 with retry_after like Telegram; injected faults fail or delay calls."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
from telegram import Bot
from telegram.error import RetryAfter

from tests.fixtures.emulator import EmulatorFactory, RunningEmulator


async def test_per_chat_flood_gives_429_with_retry_after(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = await emulator_factory(chat_rate=1.0, chat_burst=3.0)
    await emu.client.send_text(1, "hi")
    await emu.client.send_text(2, "hi")
    statuses = [(await emu.api("sendMessage", chat_id=1, text=f"n{i}"))[0] for i in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    status, body = await emu.api("sendMessage", chat_id=1, text="again")
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    # Another chat has its own bucket.
    assert (await emu.api("sendMessage", chat_id=2, text="fine"))[0] == 200
    limited = await emu.client.rate_limited()
    assert [(r["method"], r["chat_id"], r["retry_after"]) for r in limited] == [
        ("sendMessage", 1, 1)
    ] * 3
    calls = await emu.client.calls(method="sendMessage", chat_id=1)
    assert [c["status"] for c in calls] == [200, 200, 200, 429, 429, 429]


async def test_bucket_refills_at_chat_rate(emulator_factory: EmulatorFactory) -> None:
    emu = await emulator_factory(chat_rate=10.0, chat_burst=1.0)
    await emu.client.send_text(1, "hi")
    assert (await emu.api("sendMessage", chat_id=1, text="a"))[0] == 200
    assert (await emu.api("sendMessage", chat_id=1, text="b"))[0] == 429
    await asyncio.sleep(0.15)
    assert (await emu.api("sendMessage", chat_id=1, text="c"))[0] == 200


async def test_album_items_count_against_the_bucket(emulator_factory: EmulatorFactory) -> None:
    emu = await emulator_factory(chat_rate=1.0, chat_burst=3.0)
    await emu.client.send_text(1, "hi")
    form = aiohttp.FormData()
    form.add_field("chat_id", "1")
    form.add_field("media", json.dumps([{"type": "photo", "media": "attach://p"}] * 5))
    form.add_field("p", b"img", filename="p.jpg", content_type="image/jpeg")
    assert (await emu.api("sendMediaGroup", form))[0] == 200
    # Five items from a burst of three leave the chat two seconds in debt.
    status, body = await emu.api("sendMessage", chat_id=1, text="after album")
    assert status == 429
    assert body["parameters"]["retry_after"] == 3


async def test_global_bucket_spans_chats(emulator_factory: EmulatorFactory) -> None:
    emu = await emulator_factory(global_rate=5.0, global_burst=5.0)
    for chat in range(1, 8):
        await emu.client.send_text(chat, "hi")
    statuses = [(await emu.api("sendMessage", chat_id=c, text="x"))[0] for c in range(1, 8)]
    assert statuses == [200] * 5 + [429] * 2


async def test_ptb_sees_retry_after(emulator_factory: EmulatorFactory) -> None:
    emu = await emulator_factory(chat_rate=0.5, chat_burst=1.0)
    await emu.client.send_text(1, "hi")
    async with Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url) as bot:
        await bot.send_message(1, "one")
        try:
            await bot.send_message(1, "two")
        except RetryAfter as error:
            # PTB 22 gives int seconds, or a timedelta when PTB_TIMEDELTA is set.
            wait = error.retry_after
            assert (wait if isinstance(wait, int) else wait.total_seconds()) == 2
        else:
            raise AssertionError("the second message should have been rate limited")


async def test_fault_fails_the_next_calls_then_clears(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(1, "hi")
    await emulator.client.inject_fault("sendMessage", count=2, status=500)
    statuses = [(await emulator.api("sendMessage", chat_id=1, text="x"))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert await emulator.client.texts(1) == ["x"]

    await emulator.client.inject_fault("sendMessage", count=5, status=502)
    await emulator.client.clear_faults()
    assert (await emulator.api("sendMessage", chat_id=1, text="y"))[0] == 200


async def test_injected_429_carries_retry_after(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(1, "hi")
    await emulator.client.inject_fault("sendPhoto", count=1, status=429, retry_after=7)
    status, body = await emulator.api("sendPhoto", chat_id=1, photo="nope")
    assert (status, body["parameters"]) == (429, {"retry_after": 7})
    assert body["description"] == "Too Many Requests: retry after 7"
    assert [r["retry_after"] for r in await emulator.client.rate_limited()] == [7]


async def test_blocked_user_fault_with_custom_description(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(1, "hi")
    await emulator.client.inject_fault(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )
    status, body = await emulator.api("sendMessage", chat_id=1, text="x")
    assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


async def test_delay_fault_slows_but_processes_the_call(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(1, "hi")
    await emulator.client.inject_fault("sendMessage", count=1, status=None, delay=0.3)
    started = time.monotonic()
    status, _ = await emulator.api("sendMessage", chat_id=1, text="late")
    assert status == 200
    assert time.monotonic() - started >= 0.3
    assert await emulator.client.texts(1) == ["late"]
