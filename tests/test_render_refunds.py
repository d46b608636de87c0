"""Refunds: one refundStarPayment per order whatever the callers do, and a translated apology."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.payments import fail_order, refund_order
from studio import keys
from studio.orders import OrderState
from studio.payments import Outcome
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import PACK, StudioBot, make_paid_order


async def _charge(emulator: RunningEmulator, charge_id: str) -> dict[str, Any]:
    return next(c for c in await emulator.client.payments() if c["charge_id"] == charge_id)


async def test_failed_order_is_refunded_once_with_an_apology(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_paid_order(studio, emulator, 501, pack=PACK, enqueue=False)
    assert await studio.redis.exists(keys.order_photos(order.id))

    assert await fail_order(studio, bot, order.id, "model error")

    after = await studio.orders.get(order.id)
    assert after is not None
    assert after.state is OrderState.REFUNDED and after.refunded
    assert after.failure == "model error"
    assert (await _charge(emulator, order.charge_id))["refunded"] is True
    entry = await studio.ledger.get(order.charge_id)
    assert entry is not None and entry.outcome is Outcome.REFUNDED
    assert await studio.redis.zscore(keys.PAID_ORDERS, order.id) is None
    assert await studio.redis.zscore(keys.CLOSED_ORDERS, order.id) is not None
    # Inputs are kept only until delivery, which a refunded order never reaches.
    assert not await studio.redis.exists(keys.order_photos(order.id))
    texts = await emulator.client.texts(501)
    assert sum("refunded" in t for t in texts) == 1

    # A second attempt, by any route, changes nothing.
    assert not await refund_order(studio, bot, after)
    assert not await fail_order(studio, bot, order.id, "again")
    assert len(await emulator.client.calls("refundStarPayment")) == 1
    assert await emulator.client.texts(501) == texts


async def test_concurrent_refunds_call_telegram_once(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_paid_order(studio, emulator, 502, pack=PACK, enqueue=False)

    results = await asyncio.gather(*(refund_order(studio, bot, order) for _ in range(5)))

    assert sorted(results) == [False] * 4 + [True]
    assert len(await emulator.client.calls("refundStarPayment")) == 1


async def test_charge_already_refunded_counts_as_done(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_paid_order(studio, emulator, 503, pack=PACK, lang="zh", enqueue=False)
    # The refund went through once already (say, just before a crash), unknown to us.
    status, _ = await emulator.api(
        "refundStarPayment", user_id=503, telegram_payment_charge_id=order.charge_id
    )
    assert status == 200

    assert await refund_order(studio, bot, order)

    after = await studio.orders.get(order.id)
    assert after is not None and after.refunded and after.state is OrderState.REFUNDED
    texts = await emulator.client.texts(503)
    assert any("已退还" in t for t in texts)  # the apology is in the user's language


async def test_refund_error_leaves_the_order_for_the_next_attempt(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_paid_order(studio, emulator, 504, pack=PACK, enqueue=False)
    await emulator.client.inject_fault(
        "refundStarPayment", count=10, status=400, description="Bad Request: CHARGE_NOT_FOUND"
    )

    with pytest.raises(Exception, match=r"(?i)charge_not_found"):
        await fail_order(studio, bot, order.id, "model error")

    stuck = await studio.orders.get(order.id)
    assert stuck is not None and stuck.state is OrderState.FAILED and not stuck.refunded
    await emulator.client.clear_faults()
    assert await refund_order(studio, bot, stuck)
    assert (await _charge(emulator, order.charge_id))["refunded"] is True
