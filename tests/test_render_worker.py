"""The render worker end to end: real arq worker, real Redis, the emulator and tiny models.

Random-weight tiny SDXL draws no faces, so review is permissive here (tiny_model_settings in
tests/render_support.py); the identity path itself is covered by the pipeline's tests.
"""

from __future__ import annotations

import time

from bot.delivery import SEND_ATTEMPTS
from bot.payments import refund_order
from bot.queue_notices import notify_queue_positions
from emulator.client import latest_text
from studio import keys
from studio.export import export_user
from studio.orders import OrderState
from studio.payments import Outcome
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import (
    PACK,
    RenderLive,
    bot_media,
    delivered_originals,
    make_paid_order,
    wait_for_state,
)


async def test_paid_order_is_delivered(render_live: RenderLive, emulator: RunningEmulator) -> None:
    studio, _, start_worker = render_live
    order = await make_paid_order(studio, emulator, 1001, pack=PACK)
    paid = time.monotonic()
    await start_worker()

    done = await wait_for_state(studio, order.id, {OrderState.DELIVERED})
    seconds = time.monotonic() - paid

    photos, documents = await bot_media(emulator, 1001)
    # The 4 previews are one sheet (PREVIEW_PER_SHEET 4), the 4 originals one .zip: 2 units.
    assert len(photos) == 1 and photos[0]["caption"] == "Your portraits 1–4 of 4"
    assert [d["files"][0]["filename"] for d in documents] == ["portraits.zip"]
    assert documents[0]["caption"] == "Portraits 1–4 of 4 at full resolution: PNG files in a .zip"
    originals = await delivered_originals(emulator, 1001)
    assert [name for name, _ in originals] == [f"portrait-0{i}.png" for i in range(1, 5)]
    assert all(png.startswith(b"\x89PNG") for _, png in originals)
    # Inputs purged, ledger closed, order off the reconciler's list, the outbox gone.
    assert done.delivered_at > 0
    assert not await studio.redis.exists(keys.order_photos(order.id))
    assert not await studio.redis.exists(keys.order_outbox(order.id))
    assert not await studio.redis.hexists(keys.DELIVERY_BUFFER, order.id)  # type: ignore[misc]
    entry = await studio.ledger.get(order.charge_id)
    assert entry is not None and entry.outcome is Outcome.DELIVERED
    assert await studio.redis.zscore(keys.PAID_ORDERS, order.id) is None
    # The progress message went through "rendering k/4" and "sending"; the final message is
    # a new one (it notifies), after every portrait, with its two buttons.
    messages = [m for m in await emulator.client.messages(1001) if m["from_bot"]]
    status = next(m for m in messages if m["message_id"] == order.queue_message_id)
    history = [e.get("text", "") for e in status["edits"]] + [status["text"]]
    assert any("Rendering your portraits: 4/4" in t for t in history), history
    assert status["text"].startswith("Your 4 portraits are ready. Sending")
    final = messages[-1]
    assert final["text"].startswith("All 4 portraits are here")
    assert final["message_id"] > max(m["message_id"] for m in documents)
    buttons = [b["callback_data"] for row in final["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [f"after:style:{order.id}", f"after:originals:{order.id}"]
    # /mydata counts portraits (not record fields) and shows ISO dates.
    exported = await export_user(studio, 1001)
    (mine,) = [o for o in exported["orders"] if o["order"]["id"] == order.id]
    assert mine["portraits_delivered"] == 4
    assert mine["order"]["delivered_at"].endswith("+00:00") and "T" in mine["order"]["delivered_at"]
    print(f"\npayment to last portrait: {seconds:.2f} s (worker start included)")


async def test_three_users_are_served_first_in_first_out(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    studio, bot, start_worker = render_live
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
        assert len(photos) == 1  # one sheet of the 4 previews
        first_photo_dates.append(min(p["date"] for p in photos))
    assert started == sorted(started)
    assert first_photo_dates == sorted(first_photo_dates)


async def test_model_error_on_every_try_ends_in_one_refund(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    studio, bot, start_worker = render_live
    # A pack the generator does not know fails on every try, like a broken model would.
    order = await make_paid_order(studio, emulator, 1201, pack="no-such-pack")
    await start_worker()

    failed = await wait_for_state(studio, order.id, {OrderState.REFUNDED})

    assert failed.refunded and "after 2 tries" in failed.failure
    assert len(await emulator.client.calls("refundStarPayment")) == 1
    # The apology follows the refund's record: the worker may still be sending it.
    await emulator.client.wait_for(1201, lambda message: "refunded" in latest_text(message))
    assert sum("refunded" in t for t in await emulator.client.texts(1201)) == 1
    photos, documents = await bot_media(emulator, 1201)
    assert (photos, documents) == ([], [])

    assert not await refund_order(studio, bot, failed)
    assert len(await emulator.client.calls("refundStarPayment")) == 1
    assert sum("refunded" in t for t in await emulator.client.texts(1201)) == 1


async def test_delivery_errors_retry_the_job_and_each_portrait_arrives_once(
    render_live: RenderLive, emulator: RunningEmulator
) -> None:
    studio, _, start_worker = render_live
    order = await make_paid_order(studio, emulator, 1202, pack=PACK)
    # The preview fails more often than delivery retries it in one try: the delivery job's
    # first try gives up, and its next try sends everything, once.
    await emulator.client.inject_fault("sendPhoto", count=SEND_ATTEMPTS + 1, status=500)
    await start_worker()

    done = await wait_for_state(studio, order.id, {OrderState.DELIVERED, OrderState.REFUNDED})

    assert done.state is OrderState.DELIVERED and not done.refunded
    photos, documents = await bot_media(emulator, 1202)
    assert len(photos) == 1 and len(documents) == 1
    originals = await delivered_originals(emulator, 1202)
    assert [name for name, _ in originals] == [f"portrait-0{i}.png" for i in range(1, 5)]
    statuses = [c["status"] for c in await emulator.client.calls("sendPhoto")]
    assert statuses == [500] * (SEND_ATTEMPTS + 1) + [200]
    assert await emulator.client.calls("refundStarPayment") == []
    entry = await studio.ledger.get(order.charge_id)
    assert entry is not None and entry.outcome is Outcome.DELIVERED
