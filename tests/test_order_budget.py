"""A whole order at production sizes: no keyspace walk anywhere, and its outgoing message units.

Real bot, intake, render and delivery workers on tiny models, 20 selfies and 20 portraits (the
production defaults). Redis's own INFO commandstats, reset before /start, shows that nothing
ran SCAN or KEYS; the emulator's record of what the chat received gives the message units: every
message (each album item is one) and every edit, /start to the last message after delivery.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jobs.render import PROGRESS_STEPS
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

USER = 8_101
KEYSPACE_WALKS = ("cmdstat_scan", "cmdstat_keys")
# Telegram counts edits against the chat's and the bot's limits like sends.
EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    return render_bot_settings(
        make_settings,
        emulator,
        tiny_models_dir,
        min_selfies=defaults.min_selfies,
        max_selfies=defaults.max_selfies,
        portraits_per_order=defaults.portraits_per_order,
    )


async def message_units(env: BotEnv, user: int) -> tuple[int, int]:
    """(messages the chat received from the bot, successful edits of them)."""
    messages = await env.client.messages(user)
    sent = len(messages)
    print("messages by kind:", Counter(m["kind"] for m in messages))
    calls = await env.client.calls(chat_id=user)
    edits = sum(1 for c in calls if c["method"] in EDIT_METHODS and c["status"] == 200)
    return sent, edits


async def run_order(env: BotEnv, redis: Redis) -> tuple[dict[str, int], int]:
    """One whole order to its delivery: (SCAN/KEYS calls seen by Redis, message units)."""
    await redis.config_resetstat()
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    assert (await env.pay(USER, invoice))["ok"]
    await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=300)
    await asyncio.sleep(1.0)  # the final message follows the delivered state
    await env.client.send_text(USER, "/status")
    await env.wait_count(USER, (await message_units(env, USER))[0] + 1)
    # The progress message: its edits are bounded by the steps shown, not by how long it took.
    done = await env.studio.orders.get(order.id)
    assert done is not None
    status = next(m for m in await env.messages(USER) if m["message_id"] == done.queue_message_id)
    shown = [e.get("text", "") for e in status["edits"]] + [status["text"]]
    print("progress message:", shown)
    assert sum("Rendering" in t for t in shown) <= PROGRESS_STEPS, shown
    stats = await redis.info("commandstats")
    walks = {name: int(stats[name]["calls"]) for name in KEYSPACE_WALKS if name in stats}
    sent, edits = await message_units(env, USER)
    units = sent + edits - 1  # the /status reply came after the order
    print(f"message units per order: {units} ({sent - 1} messages, {edits} edits)")
    return walks, units


async def test_a_whole_order_walks_no_keyspace(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, redis: Redis
) -> None:
    await render_workers()
    walks, _ = await run_order(bot_env, redis)
    assert walks == {}, f"keyspace walks during an order: {walks}"


async def test_a_whole_order_keeps_to_its_message_budget(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, redis: Redis
) -> None:
    await render_workers()
    _, units = await run_order(bot_env, redis)
    assert units <= bot_env.settings.message_budget_per_order
