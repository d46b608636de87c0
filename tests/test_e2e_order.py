"""Whole orders through the real conversation: the bot, intake and render workers, tiny models.

Everything is real except Telegram (the emulator) and the model weights (tiny random ones):
the user consents, uploads, presses Done, picks a pack and pays in Stars; the render worker
delivers albums and PNG documents. Tiny SDXL draws no faces, so review is permissive here
(see tiny_model_settings in tests/render_support.py).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.texts import text
from emulator.client import latest_text
from pipeline.labels import mark_present, read_label
from studio import keys
from studio.orders import OrderState
from studio.payments import Outcome
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, Message, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import (
    bot_media,
    delivered_originals,
    delivery_counts,
    render_bot_settings,
    wait_for_state,
)


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    """The conversation's settings plus the tiny models, shared by bot and both workers."""
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


async def wait_media(env: BotEnv, user: int, photos: int, documents: int, timeout: float) -> None:
    """Until the user has received `photos` album photos and `documents` documents."""
    deadline = time.monotonic() + timeout
    while True:
        got_photos, got_documents = await bot_media(env.emulator, user)
        if len(got_photos) >= photos and len(got_documents) >= documents:
            return
        assert time.monotonic() < deadline, (
            f"got {len(got_photos)} photos, {len(got_documents)} documents"
        )
        await asyncio.sleep(0.02)


async def received_bytes(env: BotEnv, message: Message) -> bytes:
    return await env.client.file_bytes(message["files"][0]["file_id"])


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


async def test_an_order_through_the_conversation_is_delivered_labelled_and_purged(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user = bot_env, 5001
    await render_workers()  # up and loaded before the payment: the figure is the render's
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)

    paid = await env.pay(user, invoice)
    assert paid["ok"], paid
    paid_at = time.monotonic()
    await wait_media(env, user, photos=1, documents=1, timeout=60)
    seconds = time.monotonic() - paid_at

    done = await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=30)
    photos, documents = await bot_media(env.emulator, user)
    # The 4 previews on one sheet (PREVIEW_PER_SHEET 4), the 4 originals in one .zip.
    assert len(photos) == 1 and [d["files"][0]["filename"] for d in documents] == ["portraits.zip"]
    originals = await delivered_originals(env.emulator, user)
    assert [name for name, _ in originals] == [f"portrait-0{i}.png" for i in range(1, 5)]
    # Every image the user got shows the mark and carries the provenance metadata: the sheet
    # as a whole (real Telegram recompresses photos and drops it: hence the PNGs) and each PNG.
    sheet = await received_bytes(env, photos[0])
    images = [("sheet", sheet), *originals]
    content_ids = set()
    for name, data in images:
        assert mark_present(pixels(data)), name
        label = read_label(data)
        assert label["ai_generated"] == "true" and label["provider"] == "Portrait Studio", name
        content_ids.add(label["content_id"])
    assert len(content_ids) == 5  # four portraits and the sheet that previews them

    # The one status message went from the queue place to "all here"; the order is closed.
    texts = await env.client.texts(user)
    assert text("en", "render_delivered", total=4) in texts
    assert done.delivered_at > 0 and done.charge_id
    entry = await env.studio.ledger.get(done.charge_id)
    assert entry is not None and entry.outcome is Outcome.DELIVERED
    assert not await env.studio.redis.exists(keys.order_photos(order.id))
    assert await env.studio.redis.zscore(keys.PAID_ORDERS, order.id) is None
    print(f"\npayment to last portrait through the conversation: {seconds:.2f} s")


async def test_three_payers_are_told_places_one_two_three_and_served_in_that_order(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env = bot_env
    users = [5101, 5102, 5103]
    invoices = [await env.reach_invoice(user) for user in users]
    orders = [await env.current_order(user) for user in users]
    # No render worker yet: nobody's render can start between two payments.
    for place, (user, invoice) in enumerate(zip(users, invoices, strict=True), start=1):
        assert (await env.pay(user, invoice))["ok"]
        notice = await env.wait_text(user, "Payment received")
        assert f"Your place in the queue: {place}." in latest_text(notice), latest_text(notice)

    await render_workers()
    done = [
        await wait_for_state(env.studio, o.id, {OrderState.DELIVERED}, timeout=90) for o in orders
    ]

    assert all(o.delivered_at > 0 for o in done)
    spans = []  # (first album sent, last document sent) per user, in payment order
    for user in users:
        assert await delivery_counts(env.emulator, user) == (1, 4)
        sends = [
            c["time"]
            for c in await env.client.calls(chat_id=user)
            if c["method"] in {"sendPhoto", "sendMediaGroup", "sendDocument"} and c["status"] == 200
        ]
        spans.append((min(sends), max(sends)))
    # One render worker, first in first out: each delivery ends before the next one starts.
    for earlier, later in itertools.pairwise(spans):
        assert earlier[1] < later[0], spans
