"""The domain against a real Redis: orders, photos, payments, queue position, crypto, limits."""

from __future__ import annotations

import pytest
from arq.constants import in_progress_key_prefix

from studio import keys
from studio.crypto import KeyShredded
from studio.domain import Studio
from studio.durations import record_render_duration
from studio.orders import OrderState
from studio.payments import (
    LedgerEntry,
    Outcome,
    PayloadRef,
    _mac,
    invoice_order_id,
    link_invoice,
    new_invoice_ref,
    sign_payload,
    verify_payload,
)
from studio.photos import PhotoRecord, PhotoRole, PhotoStatus
from studio.queue import eta_seconds, queue_position
from studio.ratelimit import Booking, Rate, RedisRateLimiter
from studio.settings import Mode, Settings


async def test_order_transitions_are_compare_and_set(studio: Studio) -> None:
    order = await studio.orders.create(user_id=7, chat_id=7, lang="en", now=studio.clock.now())
    selfies = await studio.orders.accept_headshot(order.id)
    assert selfies is not None and selfies.state is OrderState.SELFIES
    # A second, stale transition from the old state is refused.
    assert await studio.orders.accept_headshot(order.id) is None
    assert await studio.orders.finish_selfies(order.id)
    chosen = await studio.orders.choose_pack(order.id, "film", 150)
    assert chosen is not None and chosen.state is OrderState.PAYMENT and chosen.pack == "film"
    assert await studio.orders.get(order.id) == chosen  # what a transition returns is stored
    assert await studio.orders.pay("missing", "charge", 1.0) is None


async def test_photos_are_sealed_and_deduplicated(studio: Studio) -> None:
    order = await studio.orders.create(user_id=8, chat_id=8, lang="zh", now=1.0)
    key = await studio.vault.key_for(8)
    record = PhotoRecord(file_id="FILE-ID-SECRET", file_unique_id="UNIQ-1", role=PhotoRole.SELFIE)
    token = await studio.photos.add(order.id, key, record)
    assert token is not None
    assert await studio.photos.add(order.id, key, record) is None  # same photo counts once
    raw = await studio.redis.hgetall(keys.order_photos(order.id))  # type: ignore[misc]
    assert all(b"FILE-ID-SECRET" not in v and b"UNIQ-1" not in k for k, v in raw.items())

    record.status, record.reason = PhotoStatus.REJECTED, "blurry"
    assert await studio.photos.record_verdict(order.id, key, token, record)
    counted = await studio.orders.get(order.id)
    assert counted is not None
    assert counted.photos.rejected == {"blurry": 1} and counted.photos.accepted == 0
    assert counted.photos.pending == 0


async def test_shredded_key_makes_sealed_copies_unreadable(studio: Studio) -> None:
    key = await studio.vault.key_for(9)
    blob = key.seal("photo:x", b"file-id")
    await studio.vault.shred(9)
    with pytest.raises(KeyShredded):
        await studio.vault.existing_key(9)
    fresh = await studio.vault.key_for(9)  # a new key cannot open the old blob
    with pytest.raises(ValueError):
        fresh.open("photo:x", blob)


def test_payload_signature_refuses_tampering() -> None:
    secret = b"s" * 32
    payload = sign_payload(PayloadRef("abcDEF123456", 42, 150), secret)
    assert len(payload.encode()) <= 128
    assert verify_payload(payload, secret) == PayloadRef("abcDEF123456", 42, 150)
    assert verify_payload(payload.replace(".150.", ".1."), secret) is None
    assert verify_payload(payload, b"t" * 32) is None
    assert verify_payload("garbage", secret) is None
    assert payload.startswith("v2.abcDEF123456.42.150.")
    # v1 carried the order id itself: refused even when its signature holds.
    v1 = payload.replace("v2.", "v1.", 1)
    v1 = v1.rpartition(".")[0]
    assert verify_payload(f"{v1}.{_mac(v1, secret)}", secret) is None
    # The reference may not hold the separator (it would shift the fields).
    with pytest.raises(ValueError):
        sign_payload(PayloadRef("a.b", 42, 150), secret)


async def test_an_invoice_ref_maps_to_its_order_only_while_the_order_holds_it(
    studio: Studio,
) -> None:
    order = await studio.orders.create(user_id=7, chat_id=7, lang="en", now=studio.clock.now())
    assert await studio.orders.accept_headshot(order.id)
    assert await studio.orders.finish_selfies(order.id)
    ref = new_invoice_ref()
    assert len(ref) >= 22 and "." not in ref and ref != new_invoice_ref()
    assert await studio.orders.choose_pack(order.id, "film", 150, ref)
    assert not await link_invoice(studio.redis, order.id, new_invoice_ref())  # not its ref
    assert await link_invoice(studio.redis, order.id, ref)
    assert await invoice_order_id(studio.redis, PayloadRef(ref, 7, 150)) == order.id
    assert await invoice_order_id(studio.redis, PayloadRef(order.id, 7, 150)) is None
    assert await invoice_order_id(studio.redis, None) is None
    await studio.redis.delete(keys.order(order.id))  # erased before the link was written
    assert not await link_invoice(studio.redis, "gone", ref)
    assert not await link_invoice(studio.redis, order.id, ref)


async def test_ledger_first_writer_wins(studio: Studio) -> None:
    entry = LedgerEntry(
        charge_id="charge-1",
        order_id="order-1",
        user_id=5,
        amount=150,
        currency="XTR",
        paid_at=10.0,
        outcome=Outcome.PAID,
    )
    assert await studio.ledger.record_payment(entry)
    assert not await studio.ledger.record_payment(entry)
    await studio.ledger.close("charge-1", Outcome.REFUNDED, 20.0)
    stored = await studio.ledger.get("charge-1")
    assert stored is not None and stored.outcome is Outcome.REFUNDED


async def test_queue_position_skips_running_jobs(studio: Studio) -> None:
    for i, order_id in enumerate(["a", "b", "c", "d"]):
        await studio.redis.zadd(keys.RENDER_QUEUE, {order_id: 1000 + i})
    await studio.redis.set(in_progress_key_prefix + "a", b"1")  # "a" is rendering now
    assert await queue_position(studio.redis, "a", workers=1) is None
    assert await queue_position(studio.redis, "b", workers=1) == 1
    assert await queue_position(studio.redis, "d", workers=1) == 3
    assert await queue_position(studio.redis, "zzz", workers=1) is None


async def test_eta_uses_moving_average_and_worker_count(studio: Studio) -> None:
    assert await record_render_duration(studio.redis, 100.0) == 100.0
    assert await record_render_duration(studio.redis, 50.0) == pytest.approx(90.0)
    # Waves of renders, then the sending time (DELIVERY_SECONDS_DEFAULT until one is measured).
    sending = studio.settings.delivery_seconds_default
    assert await eta_seconds(studio.redis, 3, studio.settings, workers=1) == pytest.approx(
        270.0 + sending
    )
    assert await eta_seconds(studio.redis, 3, studio.settings, workers=2) == pytest.approx(
        180.0 + sending
    )


async def test_rate_limiter_books_slots_first_come_first_served(studio: Studio) -> None:
    # Test settings: 50/s per chat with a burst of 50; 500/s overall.
    waits = [(await studio.limiter.reserve(1, now=100.0)).wait for _ in range(52)]
    assert waits[:50] == [0.0] * 50
    assert waits[50] == pytest.approx(0.02) and waits[51] == pytest.approx(0.04)  # in order
    assert (await studio.limiter.reserve(2, now=100.0)).wait == 0.0  # another chat goes at once
    assert (await studio.limiter.reserve(1, now=102.0)).wait == 0.0  # refilled two seconds later


async def test_rate_limiter_counts_album_items(studio: Studio) -> None:
    # An album goes once one unit is free, then its items are owed (as Telegram counts them).
    assert (await studio.limiter.reserve(1, now=100.0, cost=60)).wait == 0.0
    assert (await studio.limiter.reserve(1, now=100.0)).wait == pytest.approx(0.22)  # 60-50+1


async def test_rate_limiter_global_limit_spans_chats(studio: Studio) -> None:
    # 500/s overall with a burst of 500: one message to each of 500 chats goes at once.
    waits = [(await studio.limiter.reserve(1000 + i, now=100.0)).wait for i in range(501)]
    assert waits[:500] == [0.0] * 500 and waits[500] == pytest.approx(0.002)


async def test_a_chat_with_a_backlog_does_not_hold_up_the_others(studio: Studio) -> None:
    """Telegram's real limits: ~1/s per chat with a burst of 3, 28/s for the bot.

    A flooder's replies are booked a second apart in its chat. Booking their global slots ahead
    moved the global bucket's arrival time to the last of them, and everyone else's reply waited
    for it (the abuse bench's 1 s outliers: 1.29 s here for a reply due now).
    """
    limiter = RedisRateLimiter(studio.redis, Rate(28.0, 28), Rate(0.9, 3))
    flooder = [await limiter.reserve(1, now=100.0) for _ in range(5)]
    assert [b.wait for b in flooder[:3]] == [0.0] * 3 and all(b.global_booked for b in flooder[:3])
    assert [round(b.wait, 2) for b in flooder[3:]] == [1.11, 2.22]
    assert not any(b.global_booked for b in flooder[3:])  # booked when their chat slot comes
    victim = await limiter.reserve(2, now=100.0)
    assert victim == Booking(0.0, True)
    # When the flooder's slots come, the global limit still holds: 28 due at once, burst 28.
    due = [await limiter.reserve_global(now=102.22) for _ in range(29)]
    assert due[:28] == [0.0] * 28 and due[28] == pytest.approx(1 / 28)


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValueError, match="MASTER_KEY"):
        Settings(_env_file=None, mode=Mode.PROD, telegram_bot_token="1:x")  # type: ignore[call-arg,arg-type]
    dev = Settings(_env_file=None)  # type: ignore[call-arg]
    assert len(dev.master_key_bytes) == 32
