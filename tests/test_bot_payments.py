"""Stars checkout: pre-checkout verification, idempotent successful_payment, refunds."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.texts import text
from emulator.client import latest_text
from studio import keys
from studio.orders import OrderState
from studio.payments import Outcome, PayloadRef, sign_payload
from tests.fixtures.bot import BotEnv

USER = 7201


async def _ledger_size(env: BotEnv) -> int:
    return int(await env.studio.redis.zcard(keys.LEDGER_INDEX))


async def _render_jobs(env: BotEnv) -> list[bytes]:
    return list(await env.studio.redis.zrange(keys.RENDER_QUEUE, 0, -1))


async def test_a_forged_payload_is_refused_at_pre_checkout(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    forged = sign_payload(
        PayloadRef(order.invoice_ref, USER, 1), b"not-our-secret-not-our-secret!!"
    )
    result = await env.pay(USER, invoice, payload=forged)
    assert not result["ok"]
    assert (
        result["error_message"]
        == "This invoice is not valid. Please use the latest invoice in the chat."
    )
    tampered = invoice["invoice"]["payload"].replace(".150.", ".1.")
    result = await env.pay(USER, invoice, payload=tampered, total_amount=1)
    assert not result["ok"] and "not valid" in result["error_message"]
    assert (await env.current_order(USER)).state is OrderState.PAYMENT
    assert await _ledger_size(env) == 0 and await _render_jobs(env) == []


async def test_a_wrong_amount_is_refused_at_pre_checkout(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    result = await env.pay(USER, invoice, total_amount=1)
    assert not result["ok"] and "price of this invoice changed" in result["error_message"]


async def test_a_replayed_invoice_of_a_paid_order_is_refused(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    assert (await env.pay(USER, invoice))["ok"]
    again = await env.pay(USER, invoice)
    assert not again["ok"]
    assert "can't be paid any more" in again["error_message"]
    assert await _ledger_size(env) == 1
    assert len(await _render_jobs(env)) == 1


async def test_pre_checkout_for_a_cancelled_order_is_refused(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    await env.client.send_text(USER, "/cancel")
    await env.wait_text(USER, "Cancelled.")
    result = await env.pay(USER, invoice)
    assert not result["ok"] and "can't be paid any more" in result["error_message"]
    assert await _ledger_size(env) == 0 and await _render_jobs(env) == []


async def test_a_refusal_is_translated(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/language")
    choose = await env.wait_for(USER, lambda m: "lang:zh" in str(m.get("reply_markup")))
    await env.press(USER, choose, "lang:zh")
    await env.wait_text(USER, "语言：简体中文。")
    await env.consent(USER, language_code="zh")
    await env.send_headshot(USER)
    await env.send_selfies(USER, 3)
    status = await env.wait_for_done(USER)
    assert "已通过：3/3" in latest_text(status)
    await env.press(USER, status, "done:")
    packs = await env.wait_for(USER, lambda m: "pack:" in str(m.get("reply_markup")))
    assert "第 3 步" in latest_text(packs)
    await env.press(USER, packs, "pack:")
    invoice = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    assert invoice["invoice"]["title"] == "肖像套装"
    result = await env.pay(USER, invoice, total_amount=1)
    assert result["error_message"] == "这张付款单的价格已变更。请使用最新的付款单。"


async def test_a_duplicate_successful_payment_changes_nothing(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    paid = await env.pay(USER, invoice)
    assert paid["ok"]
    await env.wait_text(USER, "Your place in the queue: 1")
    before = await env.messages(USER)
    order = await env.current_order(USER)

    # The same update again (Telegram re-delivery), then a copy with a new update_id.
    await env.client.replay(paid["update_id"])
    messages = await env.client.messages(USER, include_user=True)
    payment_message = next(m for m in messages if m["message_id"] == paid["message_id"])
    await env.client.inject_update(
        {
            "message": {
                "message_id": payment_message["message_id"] + 1000,
                "date": 1,
                "chat": {"id": USER, "type": "private", "first_name": "U"},
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "successful_payment": payment_message["extra"]["successful_payment"],
            }
        }
    )
    await asyncio.sleep(0.5)
    assert await env.messages(USER) == before
    assert await _ledger_size(env) == 1
    assert await _render_jobs(env) == [order.id.encode()]
    after = await env.current_order(USER)
    assert after.state is OrderState.PAID and after.paid_at == order.paid_at


async def test_a_payment_for_an_order_cancelled_meanwhile_is_refunded(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    # The pre-checkout answer is slow, and the order is cancelled before the payment message
    # arrives: by another replica or the abandoned-intake purge. (This user's own /cancel would
    # queue behind their pre-checkout and then behind the payment, which goes first.)
    await env.client.inject_fault("answerPreCheckoutQuery", count=1, status=None, delay=0.5)
    # Not env.pay: this answer is slowed on purpose and must not count in the p50/p99.
    paying = asyncio.create_task(env.client.pay(USER, invoice["message_id"]))
    await asyncio.sleep(0.2)
    assert await env.studio.orders.cancel(order.id, "cancelled meanwhile") is not None
    result = await paying
    assert result["ok"], result
    await env.wait_text(USER, "are being refunded automatically")
    refunded = await env.studio.orders.get(order.id)
    assert refunded is not None and refunded.state is OrderState.REFUNDED and refunded.refunded
    entry = await env.studio.ledger.get(result["charge_id"])
    assert entry is not None and entry.outcome is Outcome.REFUNDED
    payments = await env.client.payments()
    assert [p["refunded"] for p in payments] == [True]
    assert await _render_jobs(env) == []


async def test_a_payment_whose_handler_fails_is_handled_again_on_redelivery(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    # The place-in-queue message fails with a non-retried error mid-way through the handler.
    await env.client.inject_fault("sendMessage", count=1, status=400, description="Bad Request")
    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    await env.wait_text(USER, text("en", "error_generic"))
    # The failed update is no longer marked seen, so a redelivery is not dropped.
    seen = keys.update_seen(paid["update_id"])
    for _ in range(100):
        if not await env.studio.redis.exists(seen):
            break
        await asyncio.sleep(0.02)
    assert not await env.studio.redis.exists(seen)

    # Telegram delivers the very same update (same update_id) again.
    messages = await env.client.messages(USER, include_user=True)
    payment_message = next(m for m in messages if m["message_id"] == paid["message_id"])
    redelivered = Update.de_json(
        {
            "update_id": paid["update_id"],
            "message": {
                "message_id": payment_message["message_id"],
                "date": 1,
                "chat": {"id": USER, "type": "private", "first_name": "U"},
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "successful_payment": payment_message["extra"]["successful_payment"],
            },
        },
        env.bots[0].application.bot,
    )
    await env.bots[0].application.update_queue.put(redelivered)
    await env.wait_text(USER, "Your place in the queue: 1")
    after = await env.current_order(USER)
    assert after.id == order.id and after.state is OrderState.PAID and after.queue_message_id
    assert await env.studio.redis.exists(seen)
    assert await _ledger_size(env) == 1
    assert await _render_jobs(env) == [order.id.encode()]
    assert await env.studio.redis.zscore(keys.PAID_ORDERS, order.id) is not None
    assert await env.studio.redis.zscore(keys.OPEN_ORDERS, order.id) is None
