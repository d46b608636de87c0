"""The whole conversation over HTTP: consent → headshot → selfies → style → Stars → queue."""

from __future__ import annotations

from arq.constants import job_key_prefix

from emulator.client import latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio import keys
from studio.orders import OrderState
from studio.payments import Outcome
from studio.photos import PhotoRole, PhotoStatus
from studio.queue import RENDER_ORDER, deserialize
from tests.fixtures.bot import BotEnv, UpdateRouter, button, is_status_message

USER = 7001


async def test_happy_path_twenty_selfies_album_and_document_to_a_queued_paid_order(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    env.settings.min_selfies = 20
    env.settings.max_selfies = 40

    await env.client.send_text(USER, "/start")
    welcome = await env.wait_text(USER, "Price: 150")
    assert "AI portraits" in latest_text(welcome)
    screen = await env.wait_for(USER, lambda m: button(m, "consent:yes") is not None)
    assert button(screen, "consent:no") is not None
    for fact in ("Purpose", "never used to train", "hours", "/delete"):
        assert fact in latest_text(screen)
    await env.press(USER, screen, "consent:yes")
    await env.wait_text(USER, "Step 1 of 3: send one front-facing headshot")

    status = await env.send_headshot(USER)
    assert "Accepted: 0 of 20" in latest_text(status)
    order = await env.current_order(USER)
    assert order.state is OrderState.SELFIES

    # 20 selfies: one album of 10, one image file, 9 single photos.
    await env.client.send_album(USER, [synthetic_face_photo(1, v) for v in range(1, 11)])
    await env.client.send_document(USER, synthetic_face_photo(1, 11), "IMG_0011.jpg", "image/jpeg")
    await env.send_selfies(USER, 9, first=12)
    status = await env.wait_for_done(USER, timeout=60)
    assert "Accepted: 20 of 20" in latest_text(status)
    # One status message, edited in place: never one message per photo.
    assert sum(is_status_message(m) for m in await env.messages(USER)) == 1

    await env.press(USER, status, "done:")
    packs = await env.wait_for(USER, lambda m: button(m, "pack:") is not None)
    pack_buttons = [b for row in packs["reply_markup"]["inline_keyboard"] for b in row]
    assert len(pack_buttons) >= 4
    await env.press(USER, packs, "pack:")
    invoice = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    assert invoice["invoice"]["currency"] == "XTR"
    assert invoice["invoice"]["total_amount"] == env.settings.price_stars
    assert len(invoice["invoice"]["payload"].encode()) <= 128

    result = await env.pay(USER, invoice)
    assert result["ok"], result
    told = await env.wait_text(USER, "Your place in the queue: 1")
    assert "Estimated time" in latest_text(told)

    order = await env.current_order(USER)
    assert order.state is OrderState.PAID
    assert order.charge_id == result["charge_id"]
    assert order.queue_message_id == told["message_id"]
    entry = await env.studio.ledger.get(result["charge_id"])
    assert entry is not None and entry.outcome is Outcome.PAID and entry.order_id == order.id
    jobs = await env.studio.redis.zrange(keys.RENDER_QUEUE, 0, -1)
    assert jobs == [order.id.encode()]
    job = deserialize(await env.studio.redis.get(job_key_prefix + order.id))
    assert job["f"] == RENDER_ORDER and job["a"] == [order.id]
    assert await env.studio.redis.zscore(keys.PAID_ORDERS, order.id) is not None
    assert await env.studio.redis.zscore(keys.OPEN_ORDERS, order.id) is None
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    selfies = [p for p in photos.values() if p.role is PhotoRole.SELFIE]
    assert sum(p.status is PhotoStatus.ACCEPTED for p in selfies) == 20


async def test_a_bot_restart_in_the_middle_of_the_selfies_keeps_the_accepted_count(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.send_selfies(USER, 2)
    await env.wait_for(USER, lambda m: "Accepted: 2 of 3" in latest_text(m))

    await env.stop_bot(env.bots[0])  # the process dies; only Redis remembers
    await env.start_bot()

    await env.client.send_text(USER, "/status")
    status = await env.wait_text(USER, "Selfies: 2 accepted")
    assert "collecting selfies" in latest_text(status)
    await env.send_selfies(USER, 1, first=3)
    done = await env.wait_for_done(USER)
    assert "Accepted: 3 of 3" in latest_text(done)
    await env.press(USER, done, "done:")
    await env.wait_for(USER, lambda m: button(m, "pack:") is not None)


async def test_two_bot_replicas_with_updates_alternating_finish_the_flow(bot_env: BotEnv) -> None:
    env = bot_env
    await env.stop_bot(env.bots[0])
    first = await env.start_bot(polling=False)
    second = await env.start_bot(polling=False)
    async with UpdateRouter(env.emulator, [first, second]) as router:
        invoice = await env.reach_invoice(USER)
        result = await env.pay(USER, invoice)
        assert result["ok"], result
        await env.wait_text(USER, "Your place in the queue: 1")
    served = {replica for _, replica in router.routed}
    assert served == {0, 1}
    assert len(router.routed) >= 8
    order = await env.current_order(USER)
    assert order.state is OrderState.PAID
    assert await env.studio.redis.zrange(keys.RENDER_QUEUE, 0, -1) == [order.id.encode()]
