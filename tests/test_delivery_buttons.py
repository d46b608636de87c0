"""The final delivery message's buttons, pressed through the real bot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, button
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import (
    bot_media,
    delivered_originals,
    render_bot_settings,
    wait_for_state,
)


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


async def test_originals_again_and_another_style(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user = bot_env, 6301
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    await render_workers()
    assert (await env.pay(user, invoice))["ok"]
    await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=90)
    final = await env.wait_text(user, "All 4 portraits are here", timeout=30)
    _, documents = await bot_media(env.emulator, user)
    assert len(documents) == 1  # the 4 originals in one .zip

    await env.press(user, final, "after:originals:")
    deadline = time.monotonic() + 30
    while len(documents) < 2:
        assert time.monotonic() < deadline, f"{len(documents)} documents"
        await asyncio.sleep(0.1)
        _, documents = await bot_media(env.emulator, user)
    # The same file, by file id: nothing was kept but the sealed id.
    assert documents[1]["files"][0]["file_id"] == documents[0]["files"][0]["file_id"]
    originals = await delivered_originals(env.emulator, user)
    assert [name for name, _ in originals] == [f"portrait-0{i}.png" for i in range(1, 5)] * 2

    seen = await env.message_ids(user)
    await env.press(user, final, "after:style:")
    await env.wait_new_text(user, "Step 1 of 3", seen)
    assert (await env.current_order(user)).id != order.id  # a new set, photos asked again
    assert button(final, "after:") is not None
