"""One 20-portrait order in Chinese, /start to the final message, on Telegram's real limits.

Prints the chat as the emulator recorded it, with timestamps (the issue's closing transcript),
and checks what a user would: every portrait once, in albums, and the final message last.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from bot.delivery import plan_albums
from studio.orders import OrderState
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, reach_invoice_in
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import (
    bot_media,
    delivered_originals,
    preview_photos,
    render_bot_settings,
    wait_for_state,
)
from tests.test_delivery_progress import REAL_LIMITS

PORTRAITS = 20


@pytest.fixture
async def emulator(emulator_factory: EmulatorFactory) -> RunningEmulator:
    return await emulator_factory(
        chat_rate=1.0, chat_burst=3.0, global_rate=30.0, global_burst=30.0
    )


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(
        make_settings, emulator, tiny_models_dir, portraits_per_order=PORTRAITS, **REAL_LIMITS
    )


def _line(message: dict[str, Any], start: float) -> str:
    when = dt.datetime.fromtimestamp(message["date"], dt.UTC).strftime("%H:%M:%S")
    who = "bot " if message["from_bot"] else "user"
    body = (message.get("text") or message.get("caption") or "").replace("\n", " / ")
    files = [f.get("filename") or "" for f in message.get("files") or []]
    kind = message["kind"] + (
        f" album {message['media_group_id'][-2:]}" if message.get("media_group_id") else ""
    )
    edits = [e.get("text", "") for e in message.get("edits") or []]
    extra = f" files={files}" if files else ""
    extra += f" edits={edits}" if edits else ""
    return f"{when} +{message['date'] - start:>3.0f}s {who} [{kind}] {body[:90]}{extra}"


async def test_a_twenty_portrait_order_in_chinese(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, bot_settings: Settings
) -> None:
    env, user = bot_env, 6401
    invoice = await reach_invoice_in(env, user, "zh-hans")
    order = await env.current_order(user)
    await render_workers()
    assert (await env.pay(user, invoice))["ok"]
    await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=240)
    await env.wait_text(user, f"全部 {PORTRAITS} 张肖像已送达", timeout=30)

    photos, documents = await bot_media(env.emulator, user)
    sheets = preview_photos(bot_settings, PORTRAITS)
    albums = len(plan_albums(sheets, bot_settings.delivery_album_size))
    assert len(photos) == sheets and len({m["media_group_id"] for m in photos}) == albums
    assert [d["files"][0]["filename"] for d in documents] == ["portraits.zip"]
    assert documents[0]["caption"].startswith(f"肖像 1–{PORTRAITS}，共 {PORTRAITS} 张，高清原图")
    originals = await delivered_originals(env.emulator, user)
    assert len(originals) == PORTRAITS
    messages = await env.client.messages(user, include_user=True)
    assert (messages[-1].get("text") or "").startswith(f"全部 {PORTRAITS} 张肖像已送达")
    start = messages[0]["date"]
    print("\n" + "\n".join(_line(m, start) for m in messages))
