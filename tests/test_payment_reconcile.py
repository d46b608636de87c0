"""Lost successful_payment updates: the payments reconciler completes them from Telegram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import ExtBot

from bot.client import make_bot
from emulator.client import latest_text
from jobs.reconcile import GRACE_S, reconcile_payments
from jobs.resources import RESOURCES, WorkerResources
from studio import keys
from studio.orders import OrderState
from studio.payments import Outcome
from tests.fixtures.bot import BotEnv, Message

RECEIVED = "Payment received, thank you!"
REFUNDED = "This order was cancelled before your payment arrived"


@pytest.fixture
async def worker_bot(bot_env: BotEnv) -> AsyncIterator[ExtBot[None]]:
    """The Bot API client a worker's resources hold (built as jobs/resources.py builds it)."""
    bot = make_bot(bot_env.settings, bot_env.studio)
    await bot.initialize()
    yield bot
    await bot.shutdown()


async def pay_with_update_lost(env: BotEnv, user: int, invoice: Message) -> dict[str, Any]:
    """The bot approves the pre-checkout, then dies before it sees successful_payment.

    The test answers the pre-checkout itself (as the dying bot did), and the pending updates
    are dropped, so no bot ever handles the payment message. Returns the emulator's receipt
    (charge_id, and update_id of the lost successful_payment update).
    """
    for running in list(env.bots):
        await env.stop_bot(running)
    paying = asyncio.create_task(env.pay(user, invoice))
    query_id = await _pre_checkout_query_id(env)
    status, body = await env.emulator.api(
        "answerPreCheckoutQuery", pre_checkout_query_id=query_id, ok=True
    )
    assert status == 200, body
    paid = await paying
    assert paid["ok"], paid
    status, body = await env.emulator.api("deleteWebhook", drop_pending_updates=True)
    assert status == 200, body
    return paid


async def _pre_checkout_query_id(env: BotEnv) -> str:
    offset = 0
    for _ in range(20):
        status, body = await env.emulator.api("getUpdates", offset=offset, timeout=1)
        assert status == 200, body
        for update in body["result"]:
            offset = update["update_id"] + 1
            if "pre_checkout_query" in update:
                return str(update["pre_checkout_query"]["id"])
    raise AssertionError("no pre_checkout_query arrived")


def _catch_up(env: BotEnv) -> None:
    """The test clock to the emulator's wall clock, which dates the Stars transactions."""
    env.clock.advance(time.time() - env.clock.now())


async def _received_texts(env: BotEnv, user: int, fragment: str) -> list[str]:
    return [t for t in map(latest_text, await env.messages(user)) if fragment in t]


async def test_lost_payment_is_completed_once(bot_env: BotEnv, worker_bot: ExtBot[None]) -> None:
    env, user = bot_env, 2101
    _catch_up(env)
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    charge_id = (await pay_with_update_lost(env, user, invoice))["charge_id"]
    lost = await env.studio.orders.get(order.id)
    assert lost is not None and lost.state is OrderState.PAYMENT
    assert await env.studio.ledger.get(charge_id) is None
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(env.studio, worker_bot)}

    too_soon = await reconcile_payments(ctx)  # within the grace the handler normally has
    env.clock.advance(GRACE_S + 120)
    first = await reconcile_payments(ctx)
    second = await reconcile_payments(ctx)

    assert (too_soon.completed, first.completed, second.completed) == (0, 1, 0)
    assert (first.offset, second.offset) == (1, 1)
    paid = await env.studio.orders.get(order.id)
    assert paid is not None and paid.state is OrderState.PAID and paid.charge_id == charge_id
    entry = await env.studio.ledger.get(charge_id)
    assert entry is not None and entry.order_id == order.id and entry.outcome is Outcome.PAID
    assert await env.studio.redis.zcard(keys.LEDGER_INDEX) == 1
    queued = [m.decode() for m in await env.studio.redis.zrange(keys.RENDER_QUEUE, 0, -1)]
    assert queued == [order.id]  # the render job's id is the order id
    assert await env.studio.redis.zscore(keys.PAID_ORDERS, order.id) is not None
    assert await env.studio.redis.zscore(keys.OPEN_ORDERS, order.id) is None
    (told,) = await _received_texts(env, user, RECEIVED)
    assert "Your place in the queue: 1." in told
    assert not [c for c in await env.emulator.client.payments() if c["refunded"]]


async def test_lost_payment_for_a_cancelled_order_is_refunded_once(
    bot_env: BotEnv, worker_bot: ExtBot[None]
) -> None:
    env, user = bot_env, 2102
    _catch_up(env)
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    charge_id = (await pay_with_update_lost(env, user, invoice))["charge_id"]
    # Meanwhile the order was cancelled (retention, or /delete on another replica).
    assert await env.studio.orders.cancel(order.id)
    env.clock.advance(GRACE_S + 120)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(env.studio, worker_bot)}

    runs = await asyncio.gather(reconcile_payments(ctx), reconcile_payments(ctx))
    again = await reconcile_payments(ctx)  # now also sees the refund transaction, and skips it

    assert sum(r.refunded for r in runs) >= 1 and again.refunded == 0
    assert again.offset == 2  # the payment and its refund
    refunds = await env.emulator.client.calls("refundStarPayment")
    assert [c["status"] for c in refunds] == [200]
    (charge,) = await env.emulator.client.payments()
    assert charge["charge_id"] == charge_id and charge["refunded"]
    after = await env.studio.orders.get(order.id)
    assert after is not None and after.state is OrderState.REFUNDED and after.refunded
    entry = await env.studio.ledger.get(charge_id)
    assert entry is not None and entry.outcome is Outcome.REFUNDED
    assert len(await _received_texts(env, user, REFUNDED)) == 1
    assert not await _received_texts(env, user, RECEIVED)
    assert await env.studio.redis.zcard(keys.RENDER_QUEUE) == 0


async def test_reconciler_racing_a_late_successful_payment_completes_once(
    bot_env: BotEnv, worker_bot: ExtBot[None]
) -> None:
    env, user = bot_env, 2103
    _catch_up(env)
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    receipt = await pay_with_update_lost(env, user, invoice)
    await env.start_bot()
    env.clock.advance(GRACE_S + 120)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(env.studio, worker_bot)}

    # Telegram delivers the payment message after all, while the reconciler runs.
    await asyncio.gather(
        env.client.replay(receipt["update_id"]),
        reconcile_payments(ctx),
        reconcile_payments(ctx),
    )
    await env.wait_text(user, RECEIVED)
    await reconcile_payments(ctx)

    paid = await env.studio.orders.get(order.id)
    assert paid is not None and paid.state is OrderState.PAID
    assert paid.charge_id == receipt["charge_id"]
    assert await env.studio.redis.zcard(keys.LEDGER_INDEX) == 1
    queued = [m.decode() for m in await env.studio.redis.zrange(keys.RENDER_QUEUE, 0, -1)]
    assert queued == [order.id]
    assert not await env.emulator.client.calls("refundStarPayment")
