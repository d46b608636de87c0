"""/status while an order renders: progress in the user's language, read from the live order.

The render is held at a known point without sleeping in the test: either the emulator delays
the getFile calls the render makes for its inputs (nothing generated yet), or the render is
made of two batches of four with many steps, so that after the first batch the progress sits
at 4 of 8 for as long as the second batch takes.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from bot.texts import text
from emulator.client import latest_text
from studio.orders import Order, OrderState
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, reach_invoice_in
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

# Several generator batches (its batch size is 4); steps and size chosen so that each batch
# takes seconds on a laptop CPU, far longer than one /status round trip.
SLOW_RENDER = {
    "portraits_per_order": 8,
    "render_steps": 30,
    "render_width": 192,
    "render_height": 240,
}


@pytest.fixture
def bot_settings(
    request: pytest.FixtureRequest,
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    tiny_models_dir: Path,
) -> Settings:
    """The conversation's settings plus the tiny models; a test may override some by param."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return render_bot_settings(make_settings, emulator, tiny_models_dir, **overrides)


async def ask_status(env: BotEnv, user: int, language_code: str) -> str:
    """Send /status and return the bot's answer (the first new message that names the order)."""
    before = len(await env.messages(user))
    await env.client.send_text(user, "/status", language_code=language_code)
    lang = "zh" if language_code.startswith("zh") else "en"
    marker = text(lang, "status_order", order_id="\x00", state="\x00").split("\x00")[0]
    messages = await env.wait_count(user, before + 1)
    deadline = time.monotonic() + 10
    while not any(latest_text(m).startswith(marker) for m in messages[before:]):
        assert time.monotonic() < deadline, [latest_text(m) for m in messages[before:]]
        await asyncio.sleep(0.02)
        messages = await env.messages(user)
    return next(latest_text(m) for m in messages[before:] if latest_text(m).startswith(marker))


async def wait_for_order(env: BotEnv, order_id: str, ready: Any, timeout: float = 60.0) -> Order:
    deadline = time.monotonic() + timeout
    while True:
        order = await env.studio.orders.get(order_id)
        assert order is not None
        if ready(order):
            return order
        assert time.monotonic() < deadline, f"order {order.state} {order.progress_done}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("bot_settings", [SLOW_RENDER], indirect=True)
async def test_status_mid_render_shows_the_images_done_in_chinese(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, bot_settings: Settings
) -> None:
    env, user = bot_env, 5201
    invoice = await reach_invoice_in(env, user, "zh-hans")
    order = await env.current_order(user)
    await render_workers()
    assert (await env.pay(user, invoice))["ok"]

    # A batch done, the next running: the progress holds (8 portraits and their spares, made in
    # batches, told as a share of the 8) until that batch finishes.
    first = await wait_for_order(env, order.id, lambda o: 0 < o.progress_done < 8)
    done = first.progress_done
    began = time.monotonic()
    answer = await ask_status(env, user, "zh-hans")
    asked_in = time.monotonic() - began

    mid = await env.studio.orders.get(order.id)
    assert mid is not None
    # /status reads the live order somewhere between the ask and the answer; on a loaded
    # machine the next batch may land in between, so the count shown lies in that range.
    shown = re.search(r"进度：(\d+)/8", answer)
    assert shown is not None, answer
    told = int(shown.group(1))
    assert done <= told <= mid.progress_done, (done, told, mid.progress_done)
    assert answer == "\n".join(
        [
            text("zh", "status_order", order_id=order.id, state=text("zh", "state_rendering")),
            text("zh", "status_progress", done=told, total=8),
        ]
    )
    await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=90)
    rest = time.monotonic() - began
    print(f"\n/status answered in {asked_in * 1000:.0f} ms; the render went on for {rest:.1f} s")


async def test_status_while_inputs_download_shows_none_of_the_set_done(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, bot_settings: Settings
) -> None:
    env, user = bot_env, 5202
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    # The render's first Bot API calls fetch its inputs: hold them while the user asks.
    await env.client.inject_fault("getFile", count=4, status=None, delay=3.0)
    await render_workers()
    assert (await env.pay(user, invoice))["ok"]

    await wait_for_order(env, order.id, lambda o: o.state is OrderState.RENDERING)
    answer = await ask_status(env, user, "en")

    assert answer == (
        f"Order {order.id}: your portraits are being made.\nProgress: 0 of 4 portraits."
    )
    await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=60)
    assert text("en", "state_delivered") in await ask_status(env, user, "en")
