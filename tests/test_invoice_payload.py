"""The Stars invoice payload names no order, and after /delete it resolves to nothing.

Telegram keeps every invoice payload in its transaction history (getStarTransactions returns it
to whoever holds the bot token), and the order id is the content id stamped into every delivered
portrait. So the payload carries only a random per-invoice reference, mapped to the order by a
Redis key that erasure deletes with the order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from bot.texts import text
from studio import keys
from studio.orders import OrderState
from studio.payments import invoice_order_id, verify_payload
from tests.fixtures.bot import BotEnv, button
from tests.privacy_scans import find_needles, linking_needles

USER = 7311
FORGED = "This invoice is not valid. Please use the latest invoice in the chat."
DONE_PREFIX = text("en", "delete_done", orders=0, photos=0, refunded=0, ledger=0).split(":")[0]


def _secret(env: BotEnv) -> bytes:
    return env.settings.payload_secret.get_secret_value().encode()


def _signed(body: str, secret: bytes) -> str:
    """A payload signed the way studio.payments signs, under the real secret."""
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


async def test_the_invoice_payload_names_no_order_and_still_pays(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    payload = invoice["invoice"]["payload"]
    assert payload.startswith("v2.") and len(payload.encode()) <= 128
    secrets = [_secret(env), env.settings.master_key_bytes]
    assert find_needles(payload.encode(), linking_needles([order.id], secrets)) == []
    ref = verify_payload(payload, _secret(env))
    assert ref is not None and ref.invoice_ref == order.invoice_ref and ref.user_id == USER
    assert await invoice_order_id(env.studio.redis, ref) == order.id

    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    await env.wait_text(USER, "Your place in the queue: 1")
    assert (await env.studio.orders.get(order.id)).state is OrderState.PAID  # type: ignore[union-attr]


async def test_a_v1_payload_naming_the_order_is_refused(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    v1 = _signed(f"v1.{order.id}.{USER}.{order.price}", _secret(env))
    result = await env.pay(USER, invoice, payload=v1)
    assert not result["ok"] and result["error_message"] == FORGED
    # A v2 payload whose reference is the order id (not the invoice's reference) resolves to no
    # order either.
    guessed = _signed(f"v2.{order.id}.{USER}.{order.price}", _secret(env))
    result = await env.pay(USER, invoice, payload=guessed)
    assert not result["ok"] and result["error_message"] == FORGED
    assert (await env.current_order(USER)).state is OrderState.PAYMENT
    assert await env.studio.redis.zcard(keys.LEDGER_INDEX) == 0


async def test_after_delete_the_payload_resolves_to_nothing(bot_env: BotEnv) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    order = await env.current_order(USER)
    payload = invoice["invoice"]["payload"]
    ref = verify_payload(payload, _secret(env))
    assert ref is not None
    assert await env.studio.redis.get(keys.invoice(ref.invoice_ref)) == order.id.encode()
    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    await env.wait_text(USER, "Your place in the queue: 1")

    await env.client.send_text(USER, "/delete")
    ask = await env.wait_for(USER, lambda m: button(m, "erase:yes") is not None)
    await env.press(USER, ask, "erase:yes")
    await env.wait_text(USER, DONE_PREFIX, timeout=30)

    # What Telegram kept (the same payload, signature intact) leads to no order any more.
    assert verify_payload(payload, _secret(env)) == ref
    assert not await env.studio.redis.exists(keys.invoice(ref.invoice_ref))
    assert await invoice_order_id(env.studio.redis, ref) is None
    assert await env.studio.orders.get(order.id) is None
    again = await env.pay(USER, invoice)
    assert not again["ok"] and again["error_message"] == FORGED
