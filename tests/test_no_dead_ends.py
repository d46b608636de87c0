"""No dead ends: after a send that failed, /start and /status send the missing step again.

Each test makes the emulator answer one Bot API method with 500s at the step that needs it
(the pack list, the invoice, the status message's edits), checks the user is stuck without the
resend, then takes the way /start or /status shows to a paid order or the next step.
"""

from __future__ import annotations

import asyncio

from emulator.client import latest_text
from studio.orders import Order, OrderState
from tests.fixtures.bot import BotEnv, Message, button, is_status_message

USER = 7_401


async def _until_state(env: BotEnv, user: int, *states: OrderState) -> Order:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15.0
    while True:
        order = await env.current_order(user)
        if order.state in states:
            return order
        assert loop.time() < deadline, f"order stayed {order.state}, expected {states}"
        await asyncio.sleep(0.02)


async def _last_id(env: BotEnv, user: int) -> int:
    return max((m["message_id"] for m in await env.messages(user)), default=0)


async def _newer(env: BotEnv, user: int, after: int, prefix: str) -> Message:
    """A message sent after message `after` that carries a `prefix` button."""
    return await env.wait_for(
        user, lambda m: m["message_id"] > after and button(m, prefix) is not None
    )


async def test_a_pack_list_that_failed_to_send_comes_again_with_start_and_status(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.send_selfies(USER, env.settings.min_selfies)
    status = await env.wait_for_done(USER)
    await env.client.inject_fault("sendMessage", count=1, status=500)
    await env.press(USER, status, "done:")
    order = await _until_state(env, USER, OrderState.STYLE)
    await asyncio.sleep(0.3)
    assert not any(button(m, "pack:") for m in await env.messages(USER)), "the list arrived"

    before = await _last_id(env, USER)
    await env.client.send_text(USER, "/start")
    await env.wait_text(USER, "choose a style pack from the list below")
    packs = await _newer(env, USER, before, "pack:")
    assert f"pack:{order.id}" in str(button(packs, "pack:"))

    before = await _last_id(env, USER)
    await env.client.send_text(USER, "/status")
    packs = await _newer(env, USER, before, "pack:")
    await env.press(USER, packs, "pack:")
    invoice = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    assert (await env.pay(USER, invoice))["ok"]
    await _until_state(env, USER, OrderState.PAID, OrderState.RENDERING)


async def test_an_invoice_that_failed_to_send_is_sent_again_and_pays_the_order_once(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    packs = await env.reach_style(USER)
    await env.client.inject_fault("sendInvoice", count=1, status=500)
    await env.press(USER, packs, "pack:")
    await env.wait_text(USER, "Here is your invoice")  # "style_chosen" went out, the invoice not
    order = await _until_state(env, USER, OrderState.PAYMENT)
    await asyncio.sleep(0.3)
    assert not any(m["kind"] == "invoice" for m in await env.messages(USER))

    await env.client.send_text(USER, "/status")
    first = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    assert first["invoice"]["total_amount"] == order.price
    await env.client.send_text(USER, "/start")
    await env.wait_text(USER, "Here is your invoice again")
    second = await env.wait_for(
        USER, lambda m: m["kind"] == "invoice" and m["message_id"] > first["message_id"]
    )
    assert (await env.pay(USER, second))["ok"]
    paid = await _until_state(env, USER, OrderState.PAID, OrderState.RENDERING)
    assert paid.id == order.id
    # The other copy cannot charge the order a second time: pre-checkout refuses it.
    assert not (await env.pay(USER, first))["ok"]
    assert len([p for p in await env.client.payments() if p.get("user_id") == USER]) == 1


async def test_a_status_message_stuck_by_failed_edits_is_sent_afresh_with_its_done_button(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    # Every edit fails: the status message is never updated after it is sent.
    await env.client.inject_fault("editMessageText", count=10_000, status=500)
    stuck = await env.send_headshot(USER)
    assert "Accepted: 0 of 3" in latest_text(stuck)
    await env.send_selfies(USER, env.settings.min_selfies)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30.0
    while (await env.current_order(USER)).photos.accepted < env.settings.min_selfies:
        assert loop.time() < deadline, "the selfies were never accepted"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert not any(button(m, "done:") for m in await env.messages(USER)), "an edit went through"

    before = await _last_id(env, USER)
    await env.client.send_text(USER, "/status")
    fresh = await _newer(env, USER, before, "done:")
    assert is_status_message(fresh) and "Accepted: 3 of 3" in latest_text(fresh)
    # The new message is the one later refreshes edit.
    assert (await env.current_order(USER)).status_message_id == fresh["message_id"]

    before = fresh["message_id"]
    await env.client.send_text(USER, "/start")
    again = await _newer(env, USER, before, "done:")
    assert (await env.current_order(USER)).status_message_id == again["message_id"]

    await env.client.clear_faults()
    await env.press(USER, again, "done:")
    await env.wait_for(USER, lambda m: button(m, "pack:") is not None)
    assert (await env.current_order(USER)).state is OrderState.STYLE
