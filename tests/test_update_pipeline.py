"""The update pipeline: payments first, users in turn, per-user limits, nothing taken dropped.

The queue's order is checked on real Update objects; everything else through the real bot
polling the emulator (bot_env), with the emulator's faults to hold a handler in flight.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from telegram import Update

from bot.fairness import Lane, LimitKind, classify
from bot.texts import text
from bot.update_queue import FairUpdateQueue, QueuedUpdate
from bot.webhook import stop_application
from emulator.client import latest_text
from studio import keys
from studio.settings import Settings, generate_master_key
from tests.fixtures.bot import BotEnv
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 3
HINT = text("en", "text_no_order")
SLOW_DOWN = text("en", "slow_down", seconds=60)


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_face_root: Any
) -> Settings:
    from tests.fixtures.models import TINY_FACE_PACK

    return make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        face_dir=tiny_face_root,
        face_pack=TINY_FACE_PACK,
        bot_concurrency=4,
        user_messages_per_window=LIMIT,
        user_limit_window_s=60.0,
    )


def _update(update_id: int, user: int, kind: str = "text") -> Update:
    sender = {"id": user, "is_bot": False, "first_name": "U"}
    if kind == "pre_checkout":
        body: dict[str, Any] = {
            "pre_checkout_query": {
                "id": str(update_id),
                "from": sender,
                "currency": "XTR",
                "total_amount": 1,
                "invoice_payload": "p",
            }
        }
    else:
        chat = {"id": user, "type": "private"}
        message = {"message_id": update_id, "date": 0, "chat": chat, "from": sender, "text": "hi"}
        body = {"message": message}
    return Update.de_json({"update_id": update_id, **body}, None)


def _queued(update: Update) -> QueuedUpdate:
    kind = classify(update)
    return QueuedUpdate(update, kind.lane, kind.user_id)


async def test_payments_go_first_users_take_turns_and_a_waiting_update_holds_no_worker() -> None:
    queue = FairUpdateQueue(max_queued=4)
    for update_id, user in ((1, 10), (2, 10), (3, 10), (4, 20)):
        queue.put(_queued(_update(update_id, user)))
    assert queue.full() and not queue.reserve()  # 4 waiting: no room for a fifth
    queue.put(_queued(_update(5, 30, "pre_checkout")))  # payments are never refused
    first = await queue.take()
    assert (first.update.update_id, first.lane) == (5, Lane.PAYMENT)
    second = await queue.take()
    assert second.update.update_id == 1
    # User 10's next update waits for update 1; a second worker gets user 20's, not a block.
    third = await asyncio.wait_for(queue.take(), 1)
    assert third.update.update_id == 4
    queue.done(second)
    queue.done(third)
    queue.done(first)
    assert [(await queue.take()).update.update_id for _ in range(1)] == [2]
    assert classify(_update(9, 10)).limit is LimitKind.MESSAGE


async def test_one_flooding_user_gets_one_polite_answer_and_others_are_served(
    bot_env: BotEnv,
) -> None:
    env, spammer, other = bot_env, 9_101, 9_102
    for n in range(LIMIT + 7):
        await env.client.send_text(spammer, f"message {n}")
    await env.client.send_text(other, "/start")
    await env.wait_for(other, lambda m: "consent:yes" in str(m))
    await env.wait_text(spammer, SLOW_DOWN)
    await asyncio.sleep(0.3)  # time for a second answer to show up, were there one
    texts = [latest_text(m) for m in await env.messages(spammer)]
    assert texts.count(HINT) == LIMIT and texts.count(SLOW_DOWN) == 1, texts


async def test_the_dedupe_mark_is_set_when_handling_completes(
    bot_env: BotEnv, redis: Redis
) -> None:
    env, user = bot_env, 9_201
    await env.client.inject_fault("sendMessage", count=1, status=None, delay=1.0)
    sent = await env.client.send_text(user, "hello")
    seen = keys.update_seen(sent["update_id"])
    for _ in range(100):
        if await redis.get(seen) is not None:
            break
        await asyncio.sleep(0.01)
    assert (await redis.get(seen) or b"").startswith(b"run:")  # taken, handler in flight
    assert await redis.hexists(keys.UPDATES_PENDING, str(sent["update_id"]))  # type: ignore[misc]
    await env.wait_text(user, HINT)
    await asyncio.sleep(0.1)
    assert await redis.get(seen) == b"done"
    assert not await redis.hexists(keys.UPDATES_PENDING, str(sent["update_id"]))  # type: ignore[misc]
    ttl = await redis.pttl(seen)
    assert 0 < ttl <= keys.UPDATE_DEDUPE_TTL.total_seconds() * 1000


async def test_a_failed_update_is_released_for_a_redelivery(bot_env: BotEnv, redis: Redis) -> None:
    env, user = bot_env, 9_301
    await env.client.inject_fault("sendMessage", count=1, status=500)
    sent = await env.client.send_text(user, "hello")
    await env.wait_text(user, text("en", "error_generic"))
    await asyncio.sleep(0.1)
    assert not await redis.exists(keys.update_seen(sent["update_id"]))
    assert not await redis.hexists(keys.UPDATES_PENDING, str(sent["update_id"]))  # type: ignore[misc]


async def test_a_stop_gives_back_the_backlog_and_the_next_start_handles_it_once(
    bot_env: BotEnv, redis: Redis
) -> None:
    env = bot_env
    running = env.bots[0]
    assert running.pipeline is not None and running.poller is not None
    users = list(range(9_401, 9_411))
    # Every reply hangs for a while: the bot takes all ten (confirming them) but finishes few.
    await env.client.inject_fault("sendMessage", count=4, status=None, delay=2.0)
    for user in users:
        await env.client.send_text(user, "hello")
    for _ in range(200):
        if running.pipeline.queue.held_ids() and running.poller.offset == len(users) + 1:
            break
        await asyncio.sleep(0.01)
    env.bots.remove(running)
    await running.poller.stop()
    given_back = await running.pipeline.stop(grace_s=0.2)
    await stop_application(running.application)
    await running.studio.close()
    assert given_back > 0
    assert await redis.hlen(keys.UPDATES_PENDING) == given_back  # type: ignore[misc]
    # Telegram was told about all ten: it has nothing left to send again.
    assert (await env.client.webhook())["info"]["pending_update_count"] == 0

    await env.start_bot()
    for user in users:
        await env.wait_text(user, HINT, timeout=20)
    await asyncio.sleep(0.3)
    assert await redis.hlen(keys.UPDATES_PENDING) == 0  # type: ignore[misc]
    for user in users:
        texts = [latest_text(m) for m in await env.messages(user)]
        # Never lost; a reply cut off mid-send may come twice (a duplicate over a loss).
        assert 1 <= texts.count(HINT) <= 2, (user, texts)


async def test_a_sigkilled_polling_bot_loses_nothing_it_took(
    emulator: RunningEmulator, redis: Redis, redis_url: str
) -> None:
    """Killed with ten updates taken and none answered: the next process answers all ten."""
    users = list(range(9_501, 9_511))
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "BOT_API_BASE_URL": emulator.base_url,
        "BOT_API_BASE_FILE_URL": emulator.base_file_url,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        "UPDATE_CLAIM_S": "1.5",  # a dead process's claims lapse quickly here
        # Both processes share the keys, as production's replicas do (dev makes one each).
        "MASTER_KEY": generate_master_key(),
        "PAYLOAD_SECRET": generate_master_key(),
        "HEALTH_PORT": "0",
    }

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=environ, stderr=asyncio.subprocess.DEVNULL
        )

    first = await start()
    try:
        await emulator.client.send_text(users[0], "hello")
        await emulator.client.wait_for(users[0], lambda m: latest_text(m) == HINT, timeout=30)
        await emulator.client.inject_fault("sendMessage", count=100, status=None, delay=30)
        for user in users[1:]:
            await emulator.client.send_text(user, "hello")
        deadline = time.monotonic() + 20
        while await redis.hlen(keys.UPDATES_PENDING) < len(users) - 1:  # type: ignore[misc]
            assert time.monotonic() < deadline, "the bot did not take the updates"
            await asyncio.sleep(0.02)
    finally:
        first.kill()
        await first.wait()
    await emulator.client.clear_faults()
    second = await start()
    try:
        for user in users[1:]:
            await emulator.client.wait_for(user, lambda m: latest_text(m) == HINT, timeout=30)
        deadline = time.monotonic() + 10
        while await redis.hlen(keys.UPDATES_PENDING):  # type: ignore[misc]
            assert time.monotonic() < deadline, "pending updates left"
            await asyncio.sleep(0.05)
    finally:
        second.terminate()
        await second.wait()


async def test_a_cancelled_poller_stop_is_cancelled_not_swallowed(bot_env: BotEnv) -> None:
    """A shutdown that gives up on stop() must hear that it did: the cancellation propagates."""
    poller = bot_env.bots[0].poller
    assert poller is not None and poller._task is not None
    fetching = poller._task

    async def slow_to_stop() -> None:
        fetching.cancel()
        await asyncio.wait([fetching])
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)  # e.g. a batch still being offered to the pipeline
            raise

    slow = poller._task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(poller.stop())
    await asyncio.sleep(0.1)  # stop() is waiting for the fetch task to wind down
    stopping.cancel()
    await asyncio.wait([stopping], timeout=5)
    assert stopping.cancelled()
    await asyncio.wait([slow], timeout=5)
