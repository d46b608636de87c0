""" "Change style" on the invoice: back to the packs with the photos kept; the old invoice is dead.

Issue 11.9: the order goes from payment back to the style step by a named transition; the old
invoice (pack A) is refused at pre-checkout once the user switched to pack B, with a clear
message, and a double tap on the button does one thing.
"""

from __future__ import annotations

import asyncio

from bot.texts import text
from studio.orders import OrderState
from tests.fixtures.bot import BotEnv, Message, button
from tests.render_support import wait_for_state

USER = 8_501


def pack_ids(message: Message) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [
        b["callback_data"].split(":")[2]
        for row in rows
        for b in row
        if str(b.get("callback_data", "")).startswith("pack:")
    ]


async def invoices(env: BotEnv) -> list[Message]:
    return [m for m in await env.messages(USER) if m["kind"] == "invoice"]


async def test_change_style_keeps_the_photos_and_refuses_the_old_invoice(bot_env: BotEnv) -> None:
    env = bot_env
    packs = await env.reach_style(USER)
    first_pack, second_pack = pack_ids(packs)[:2]
    await env.press(USER, packs, "pack:")  # the first pack
    invoice_a = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    # Pay first, as Telegram requires of an invoice's own keyboard, then "Change style".
    rows = invoice_a["reply_markup"]["inline_keyboard"]
    assert rows[0][0]["pay"] is True and rows[0][0]["text"] == f"Pay {env.settings.price_stars} ⭐"
    assert rows[1][0]["text"] == text("en", "change_style_button")
    order_a = await env.current_order(USER)
    assert (order_a.state, order_a.pack) == (OrderState.PAYMENT, first_pack)
    payload_a = invoice_a["invoice"]["payload"]

    answer = await env.press(USER, invoice_a, "restyle:")
    assert answer["text"] == text("en", "style_change_open")
    repicked = await env.wait_for(
        USER, lambda m: button(m, "pack:") is not None and m["message_id"] > invoice_a["message_id"]
    )
    order = await env.current_order(USER)
    assert order.id == order_a.id and order.state is OrderState.STYLE
    assert (order.pack, order.price, order.invoice_ref) == ("", 0, "")
    assert order.photos == order_a.photos  # nothing to send again
    key = await env.studio.vault.key_for(USER)
    assert len(await env.studio.photos.records(order.id, key)) == 1 + env.settings.min_selfies
    assert await invoices(env) == []  # the old invoice is gone from the chat

    # A client still showing the old invoice pays nothing with it once pack B is chosen.
    replaced = text("en", "precheckout_replaced")
    await env.press(USER, repicked, f"pack:{order.id}:{second_pack}")
    invoice_b = await env.wait_for(
        USER, lambda m: m["kind"] == "invoice" and m["message_id"] > repicked["message_id"]
    )
    assert (await env.current_order(USER)).pack == second_pack
    old = await env.pay(USER, invoice_b, payload=payload_a)
    assert not old["ok"] and old["error_message"] == replaced
    assert (await env.current_order(USER)).state is OrderState.PAYMENT
    assert await env.client.payments() == []

    paid = await env.pay(USER, invoice_b)
    assert paid["ok"], paid
    order = await wait_for_state(env.studio, order.id, {OrderState.PAID})
    assert (order.state, order.pack, order.charge_id) == (
        OrderState.PAID,
        second_pack,
        paid["charge_id"],
    )


async def test_a_double_tap_on_change_style_does_one_thing(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    data = button(invoice, "restyle:")
    assert data is not None
    taps = await asyncio.gather(
        *(env.client.press(USER, invoice["message_id"], data) for _ in range(2))
    )
    answers = [await env.answer_of(t["callback_query_id"]) for t in taps]
    assert sorted(a["text"] for a in answers) == sorted(
        [text("en", "style_change_open"), text("en", "button_already_done")]
    )
    await asyncio.sleep(0.5)
    pack_lists = [m for m in await env.messages(USER) if button(m, "pack:")]
    assert len(pack_lists) == 1  # the first list lost its buttons at the first choice
    assert (await env.current_order(USER)).state is OrderState.STYLE
    # A later press of the same (deleted) invoice's button is answered and changes nothing.
    late = await env.client.press(USER, invoice["message_id"], data, force=True)
    assert (await env.answer_of(late["callback_query_id"]))["text"] in (
        text("en", "button_already_done"),
        text("en", "button_stale"),
    )
    await asyncio.sleep(0.3)
    assert (await env.current_order(USER)).state is OrderState.STYLE
    assert len([m for m in await env.messages(USER) if button(m, "pack:")]) == 1


async def test_only_the_current_invoice_changes_style_and_a_replaced_one_never_pays(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    payload = invoice["invoice"]["payload"]
    assert await env.studio.orders.change_style(order.id, "another-invoice") is None
    assert (await env.current_order(USER)).state is OrderState.PAYMENT
    assert await _refusal(env, payload, order.price) is None  # the current invoice pays

    changed = await env.studio.orders.change_style(order.id, order.invoice_ref)
    assert changed is not None and changed.state is OrderState.STYLE
    # Still choosing: the replaced invoice is refused as replaced, not as "cannot be paid".
    assert await _refusal(env, payload, order.price) == "precheckout_replaced"
    assert await env.studio.orders.change_style(order.id, order.invoice_ref) is None


async def _refusal(env: BotEnv, payload: str, amount: int) -> str | None:
    from bot.handlers.checkout import _pre_checkout_refusal

    return await _pre_checkout_refusal(env.studio, payload, USER, amount, "XTR")
