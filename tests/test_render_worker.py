"""The render worker end to end: real arq worker, real Redis, the emulator and tiny models.

Random-weight tiny SDXL draws no faces, so review is permissive here
(review_require_one_face=False, review_min_identity=-1.0); the identity path itself is covered
by the pipeline's tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from telegram.ext import ExtBot

from bot.queue_notices import notify_queue_positions
from bot.refunds import refund_order
from bot.telegram import make_bot
from studio import keys
from studio.clock import ManualClock
from studio.orders import Order, OrderState
from studio.payments import Outcome
from studio.services import Studio
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import emulator_settings, make_paid_order
from worker import build_worker

PACK = "business"


def tiny_model_settings(models_dir: Path) -> dict[str, Any]:
    from pipeline.tiny_models import ADAPTER_WEIGHT_NAME

    return {
        "face_pack": "tiny_pack",
        "face_root": models_dir / "insightface",
        "sdxl_model": str(models_dir / "sdxl"),
        "ip_adapter_dir": str(models_dir / "faceid"),
        "ip_adapter_weight": ADAPTER_WEIGHT_NAME,
        "render_steps": 2,
        "render_width": 64,
        "render_height": 80,
        "render_device": "cpu",
        "render_dtype": "float32",
        "review_require_one_face": False,
        "review_min_identity": -1.0,
        "review_extra_attempts": 0,
        "render_max_tries": 2,
        "render_job_timeout_s": 60,
    }


Live = tuple[Studio, ExtBot[None], Callable[[], Awaitable[None]]]


@pytest.fixture
async def live(
    make_settings: Any,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> AsyncIterator[Live]:
    """Studio + bot for the test, and a function that starts an in-process render worker."""
    settings = emulator_settings(make_settings, emulator, **tiny_model_settings(tiny_models_dir))
    studio = await Studio.open(settings, clock=clock)
    bot = make_bot(settings, studio)
    await bot.initialize()
    workers: list[Any] = []
    tasks: list[asyncio.Task[Any]] = []

    async def start_worker() -> None:
        worker = build_worker("render", settings, burst=False, ctx={"clock": clock})
        workers.append(worker)
        tasks.append(asyncio.create_task(worker.async_run()))

    yield studio, bot, start_worker
    for worker in workers:
        await worker.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await bot.shutdown()
    await studio.close()


async def wait_for_state(
    studio: Studio, order_id: str, states: set[OrderState], timeout: float = 60.0
) -> Order:
    deadline = time.monotonic() + timeout
    while True:
        order = await studio.orders.get(order_id)
        assert order is not None
        if order.state in states:
            return order
        assert time.monotonic() < deadline, f"order stuck in {order.state}"
        await asyncio.sleep(0.05)


async def bot_media(emulator: RunningEmulator, chat_id: int) -> tuple[list[Any], list[Any]]:
    messages = [m for m in await emulator.client.messages(chat_id) if m["from_bot"]]
    return (
        [m for m in messages if m["kind"] == "photo"],
        [m for m in messages if m["kind"] == "document"],
    )


async def test_paid_order_is_delivered(live: Live, emulator: RunningEmulator) -> None:
    studio, _, start_worker = live
    order = await make_paid_order(studio, emulator, 1001, pack=PACK)
    paid = time.monotonic()
    await start_worker()

    done = await wait_for_state(studio, order.id, {OrderState.DELIVERED})
    seconds = time.monotonic() - paid

    photos, documents = await bot_media(emulator, 1001)
    assert len(photos) == 4 and len({m["media_group_id"] for m in photos}) == 1
    assert photos[0]["caption"] == "Your portraits 1–4 of 4"
    assert [d["files"][0]["filename"] for d in documents] == [
        f"portrait-0{i}.png" for i in range(1, 5)
    ]
    png = await emulator.client.file_bytes(documents[0]["files"][0]["file_id"])
    assert png.startswith(b"\x89PNG")
    # Inputs purged, ledger closed, order off the reconciler's list.
    assert done.delivered_at > 0
    assert not await studio.redis.exists(keys.order_photos(order.id))
    entry = await studio.ledger.get(order.charge_id)
    assert entry is not None and entry.outcome is Outcome.DELIVERED
    assert await studio.redis.zscore(keys.PAID_ORDERS, order.id) is None
    # The one progress message went through "rendering k/4" and now says delivered.
    status = next(
        m for m in await emulator.client.messages(1001) if m["message_id"] == order.queue_message_id
    )
    assert status["text"].startswith("All 4 portraits are here")
    history = [e.get("text", "") for e in status["edits"]]
    assert any("Rendering your portraits: 4/4" in t for t in history), history
    print(f"\npayment to last portrait: {seconds:.2f} s (worker start included)")


async def test_three_users_are_served_first_in_first_out(
    live: Live, emulator: RunningEmulator
) -> None:
    studio, bot, start_worker = live
    orders = [await make_paid_order(studio, emulator, 1100 + i, pack=PACK) for i in range(3)]
    await notify_queue_positions(studio, bot)
    for position, order in enumerate(orders, start=1):
        assert f"number {position} in the queue" in (await emulator.client.texts(order.chat_id))[-1]

    await start_worker()
    done = [await wait_for_state(studio, o.id, {OrderState.DELIVERED}) for o in orders]

    started = [o.render_started_at for o in done]
    first_photo_dates = []
    for order in orders:
        photos, _ = await bot_media(emulator, order.chat_id)
        assert len(photos) == 4
        first_photo_dates.append(min(p["date"] for p in photos))
    assert started == sorted(started)
    assert first_photo_dates == sorted(first_photo_dates)


async def test_model_error_on_every_try_ends_in_one_refund(
    live: Live, emulator: RunningEmulator
) -> None:
    studio, bot, start_worker = live
    # A pack the generator does not know fails on every try, like a broken model would.
    order = await make_paid_order(studio, emulator, 1201, pack="no-such-pack")
    await start_worker()

    failed = await wait_for_state(studio, order.id, {OrderState.REFUNDED})

    assert failed.refunded and "after 2 tries" in failed.failure
    assert len(await emulator.client.calls("refundStarPayment")) == 1
    assert sum("refunded" in t for t in await emulator.client.texts(1201)) == 1
    photos, documents = await bot_media(emulator, 1201)
    assert (photos, documents) == ([], [])

    assert not await refund_order(studio, bot, failed)
    assert len(await emulator.client.calls("refundStarPayment")) == 1
    assert sum("refunded" in t for t in await emulator.client.texts(1201)) == 1
