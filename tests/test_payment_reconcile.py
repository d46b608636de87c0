"""Lost successful_payment updates: the payments reconciler completes them from Telegram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
from telegram.ext import ExtBot

from bot.client import make_bot
from bot.payments import confirmed_by_telegram
from emulator.client import latest_text
from emulator.keys import STATE_KEY
from emulator.state import StarTransaction
from jobs.payments_ledger import confirm_ledger
from jobs.reconcile import GRACE_S, reconcile_payments
from jobs.resources import RESOURCES, WorkerResources
from studio import keys
from studio.checkout import Charge
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


# Payments checked against Telegram -------------------------------------------------------

UNCONFIRMED = "Telegram has not confirmed this payment to us yet"


async def _forge_successful_payment(env: BotEnv, user: int, invoice: Message, charge: str) -> int:
    """A successful_payment update Telegram never sent (anyone holding the webhook secret can)."""
    who = {"id": user, "is_bot": False, "first_name": "Mallory"}
    return await env.client.inject_update(
        {
            "message": {
                "message_id": invoice["message_id"] + 1,
                "date": int(time.time()),
                "chat": {"id": user, "type": "private", "first_name": "Mallory"},
                "from": who,
                "successful_payment": {
                    "currency": "XTR",
                    "total_amount": invoice["invoice"]["total_amount"],
                    "invoice_payload": invoice["invoice"]["payload"],
                    "telegram_payment_charge_id": charge,
                    "provider_payment_charge_id": "forged",
                },
            }
        }
    )


async def test_a_successful_payment_telegram_does_not_list_is_not_fulfilled(
    bot_env: BotEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env, user = bot_env, 2104
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)

    await _forge_successful_payment(env, user, invoice, "stxt-made-up-charge")

    await env.wait_text(user, UNCONFIRMED)
    after = await env.studio.orders.get(order.id)
    assert after is not None and after.state is OrderState.PAYMENT and not after.charge_id
    assert await env.studio.ledger.get("stxt-made-up-charge") is None
    assert await env.studio.redis.zcard(keys.RENDER_QUEUE) == 0
    assert not await _received_texts(env, user, RECEIVED)
    assert any(
        "ALERT" in r.getMessage() and "does not list" in r.getMessage() for r in caplog.records
    )


async def test_a_real_payment_that_cannot_be_checked_yet_is_completed_by_the_reconciler(
    bot_env: BotEnv, worker_bot: ExtBot[None]
) -> None:
    """Telegram's history fails while the handler checks: nothing lost, completed later."""
    env, user = bot_env, 2105
    _catch_up(env)
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    await env.client.inject_fault("getStarTransactions", count=1, status=500)

    receipt = await env.pay(user, invoice)
    await env.wait_text(user, UNCONFIRMED)
    held = await env.studio.orders.get(order.id)
    assert held is not None and held.state is OrderState.PAYMENT
    env.clock.advance(GRACE_S + 120)
    report = await reconcile_payments({RESOURCES: WorkerResources(env.studio, worker_bot)})

    assert report.completed == 1
    paid = await env.studio.orders.get(order.id)
    assert paid is not None and paid.state is OrderState.PAID
    assert paid.charge_id == receipt["charge_id"]
    await env.wait_text(user, RECEIVED)
    assert not await env.emulator.client.calls("refundStarPayment")


def _others_paid(env: BotEnv, count: int, first_user: int) -> list[str]:
    """`count` earlier payments by other users in Telegram's Stars history; their charge ids."""
    history = env.emulator.app[STATE_KEY].star_transactions
    charges = [f"stxt-earlier-{first_user + n}" for n in range(count)]
    for n, charge in enumerate(charges):
        history.append(StarTransaction(charge, first_user + n, 50, int(time.time()), "elsewhere"))
    return charges


async def _pages_read_while(env: BotEnv, step: Awaitable[Any]) -> int:
    before = len(await env.emulator.client.calls("getStarTransactions"))
    await step
    return len(await env.emulator.client.calls("getStarTransactions")) - before


async def test_a_payment_is_checked_from_where_the_last_one_was_found(
    bot_env: BotEnv,
) -> None:
    """Not every page since the reconciler's checkpoint on every payment (bench/load.py)."""
    env = bot_env
    _others_paid(env, 350, first_user=700_000)  # the reconciler has not run: checkpoint 0
    first, second = await env.reach_invoice(2110), await env.reach_invoice(2111)

    async def paid(user: int, invoice: Message) -> None:
        assert (await env.pay(user, invoice))["ok"]
        await env.wait_text(user, RECEIVED)

    assert await _pages_read_while(env, paid(2110, first)) == 4  # offsets 0 to 300, found
    assert await _seen(env) == 350  # its place: the next check reads only what came after
    assert await _pages_read_while(env, paid(2111, second)) == 1  # offset 350: 2 transactions
    assert await _seen(env) == 351


async def _seen(env: BotEnv) -> int:
    return int(await env.studio.redis.get(keys.STAR_TRANSACTIONS_SEEN) or 0)


async def test_a_charge_older_than_the_page_last_seen_is_still_found(
    bot_env: BotEnv, worker_bot: ExtBot[None]
) -> None:
    """A check that raced a later one (which moved the starting page past its charge)."""
    env = bot_env
    charges = _others_paid(env, 350, first_user=710_000)
    await env.studio.redis.set(keys.STAR_TRANSACTIONS_SEEN, 300)
    older = Charge(charges[120], "elsewhere", 50, "XTR", 710_120)
    forged = Charge("stxt-made-up", "elsewhere", 50, "XTR", 710_120)

    pages = await _pages_read_while(env, _check(env, worker_bot, older, expected=True))
    assert pages == 3  # offset 300 to the end, then 0 and 100, found
    pages = await _pages_read_while(env, _check(env, worker_bot, forged, expected=False))
    assert pages == 4  # offset 300 to the end, then 0 up to 300: not listed
    assert await _seen(env) == 300


async def _check(env: BotEnv, bot: ExtBot[None], charge: Charge, *, expected: bool) -> None:
    assert await confirmed_by_telegram(env.studio, bot, charge) is expected


async def test_a_lost_ledger_refunds_no_delivered_order(
    bot_env: BotEnv, worker_bot: ExtBot[None], caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 7: Redis loses everything (no persistence, restarted); the user has portraits."""
    env, user = bot_env, 2106
    _catch_up(env)
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    await env.pay(user, invoice)
    await env.wait_text(user, RECEIVED)
    now = env.clock.now()
    assert await env.studio.orders.claim(order.id, now)
    assert await env.studio.orders.deliver(order.id, now)  # every portrait sent
    await env.studio.redis.flushall()  # what a restart without persistence leaves
    env.clock.advance(GRACE_S + 120)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(env.studio, worker_bot)}

    runs = [await reconcile_payments(ctx) for _ in range(2)]

    assert all(r.held and r.completed == r.refunded == 0 for r in runs)
    assert not await env.emulator.client.calls("refundStarPayment")
    assert not [c for c in await env.emulator.client.payments() if c["refunded"]]
    assert any("ALERT" in r.getMessage() for r in caplog.records)

    # The operator looks and confirms: the history so far was settled (the user was delivered).
    status = await confirm_ledger(env.studio, worker_bot, "end")
    after = await reconcile_payments(ctx)

    assert (status.listed, status.unknown) == (1, 1)
    assert not after.held and after.refunded == after.completed == 0
    assert not await env.emulator.client.calls("refundStarPayment")


async def test_a_payment_after_the_operator_confirmed_is_reconciled_as_usual(
    bot_env: BotEnv, worker_bot: ExtBot[None]
) -> None:
    env = bot_env
    _catch_up(env)
    first = await env.reach_invoice(2107)
    await env.pay(2107, first)
    await env.wait_text(2107, RECEIVED)
    await env.studio.redis.flushall()
    env.clock.advance(GRACE_S + 120)
    ctx: dict[str, Any] = {RESOURCES: WorkerResources(env.studio, worker_bot)}
    assert (await reconcile_payments(ctx)).held
    await confirm_ledger(env.studio, worker_bot, "end")

    invoice = await env.reach_invoice(2108)  # a new user pays; the update is lost
    order = await env.current_order(2108)
    await pay_with_update_lost(env, 2108, invoice)
    _catch_up(env)
    env.clock.advance(GRACE_S + 120)
    report = await reconcile_payments(ctx)

    assert not report.held and report.completed == 1
    paid = await env.studio.orders.get(order.id)
    assert paid is not None and paid.state is OrderState.PAID
