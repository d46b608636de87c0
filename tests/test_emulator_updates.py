"""Updates reach the bot by long polling (offsets, promptness) or by webhook (secret, retries)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.fixtures.emulator import RunningEmulator


async def test_long_poll_returns_promptly_when_an_update_arrives(
    emulator: RunningEmulator,
) -> None:
    poll = asyncio.create_task(emulator.api("getUpdates", timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    sent_at = time.monotonic()
    await emulator.client.send_text(11, "/start")
    status, body = await asyncio.wait_for(poll, 2)
    latency = time.monotonic() - sent_at
    assert status == 200
    (update,) = body["result"]
    assert update["message"]["text"] == "/start"
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert update["message"]["from"] == {
        "id": 11,
        "is_bot": False,
        "first_name": "User11",
        "language_code": "en",
    }
    assert latency < 0.5


async def test_long_poll_times_out_empty(emulator: RunningEmulator) -> None:
    started = time.monotonic()
    status, body = await emulator.api("getUpdates", timeout=0.3)
    assert (status, body["result"]) == (200, [])
    assert 0.25 < time.monotonic() - started < 2


async def test_offset_confirms_earlier_updates(emulator: RunningEmulator) -> None:
    ids = [(await emulator.client.send_text(1, f"m{i}"))["update_id"] for i in range(3)]
    _, body = await emulator.api("getUpdates", limit=2)
    assert [u["update_id"] for u in body["result"]] == ids[:2]
    _, body = await emulator.api("getUpdates", offset=ids[1] + 1)
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    # Confirmed updates are gone for good.
    _, body = await emulator.api("getUpdates", offset=ids[0])
    assert [u["update_id"] for u in body["result"]] == ids[2:]


async def test_allowed_updates_filters_types(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(1, "text")
    sent = await emulator.api(
        "sendMessage",
        chat_id=1,
        text="pick",
        reply_markup={"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]},
    )
    await emulator.client.press(1, sent[1]["result"]["message_id"], "a")
    _, body = await emulator.api("getUpdates", allowed_updates=["callback_query"])
    assert [list(u)[1] for u in body["result"]] == ["callback_query"]


async def test_second_poller_terminates_the_first(emulator: RunningEmulator) -> None:
    first = asyncio.create_task(emulator.api("getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(emulator.api("getUpdates", timeout=0.2))
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409 and body["description"].startswith("Conflict: terminated by other")
    assert (await second)[0] == 200


async def test_replay_and_inject_deliver_new_update_ids(emulator: RunningEmulator) -> None:
    sent = await emulator.client.send_text(4, "hello")
    replayed = await emulator.client.replay(sent["update_id"])
    injected = await emulator.client.inject_update(
        {
            "message": {
                "message_id": 99,
                "date": 0,
                "chat": {"id": 4, "type": "private"},
                "text": "raw",
            }
        }
    )
    _, body = await emulator.api("getUpdates")
    updates = body["result"]
    assert [u["update_id"] for u in updates] == [sent["update_id"], replayed, injected]
    assert updates[0]["message"] == updates[1]["message"]
    assert updates[2]["message"]["text"] == "raw"


@dataclass
class Receiver:
    """A real HTTP endpoint standing in for the bot's webhook server."""

    url: str
    fail_first: int = 0
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    attempts: int = 0
    got_one: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        box.attempts += 1
        if box.attempts <= box.fail_first:
            return web.Response(status=500)
        box.received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        box.got_one.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    box.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield box
    await runner.cleanup()


async def test_webhook_delivers_with_secret_and_retries(
    emulator: RunningEmulator, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    status, _ = await emulator.api("setWebhook", url=receiver.url, secret_token="s3cr3t-token")
    assert status == 200
    sent = await emulator.client.send_text(21, "/start")
    await asyncio.wait_for(receiver.got_one.wait(), 5)
    ((secret, update),) = receiver.received
    assert secret == "s3cr3t-token"
    assert update["update_id"] == sent["update_id"]
    assert receiver.attempts == 3
    _, info = await emulator.api("getWebhookInfo")
    assert info["result"]["url"] == receiver.url
    assert info["result"]["pending_update_count"] == 0
    assert "500" in info["result"]["last_error_message"]
    deliveries = (await emulator.client.webhook())["deliveries"]
    assert [d["status"] for d in deliveries] == [500, 500, 200]


async def test_get_updates_conflicts_while_webhook_is_set(
    emulator: RunningEmulator, receiver: Receiver
) -> None:
    await emulator.api("setWebhook", url=receiver.url)
    status, body = await emulator.api("getUpdates")
    assert status == 409
    assert body["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    await emulator.api("deleteWebhook", drop_pending_updates=True)
    status, _ = await emulator.api("getUpdates")
    assert status == 200


async def test_delete_webhook_can_drop_pending_updates(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(1, "old")
    await emulator.api("deleteWebhook", drop_pending_updates=True)
    await emulator.client.send_text(1, "new")
    _, body = await emulator.api("getUpdates")
    assert [u["message"]["text"] for u in body["result"]] == ["new"]
