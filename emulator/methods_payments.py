"""Bot API payment methods for Telegram Stars: invoices, pre-checkout answers, refunds, history."""

from __future__ import annotations

import time
from typing import Any

from emulator.errors import bad_request, missing
from emulator.params import Params
from emulator.state import EmulatorState, StarTransaction
from emulator.validation import reply_markup

STARS = "XTR"
MAX_PAYLOAD_BYTES = 128
MAX_TRANSACTIONS_PAGE = 100


async def send_invoice(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    title = params.get_str("title")
    description = params.get_str("description")
    payload = params.get_str("payload")
    currency = params.get_str("currency")
    for name, value in (("title", title), ("description", description), ("currency", currency)):
        if not value:
            raise missing(name)
    assert title is not None and description is not None and currency is not None
    if payload is None or not 1 <= len(payload.encode("utf-8")) <= MAX_PAYLOAD_BYTES:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if not 1 <= len(title) <= 32:
        raise bad_request("INVOICE_TITLE_INVALID")
    if not 1 <= len(description) <= 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    prices = params.get_json("prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("can't parse prices JSON object")
    for price in prices:
        if (
            not isinstance(price, dict)
            or not isinstance(price.get("label"), str)
            or not isinstance(price.get("amount"), int)
        ):
            raise bad_request("can't parse prices JSON object")
    provider_token = params.get_str("provider_token") or ""
    if currency == STARS and (len(prices) != 1 or provider_token):
        raise bad_request("STARS_INVOICE_INVALID")
    total = sum(int(price["amount"]) for price in prices)
    if total <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    markup = reply_markup(params)
    rows = (markup or {}).get("inline_keyboard") or []
    if rows and not (rows[0] and rows[0][0].get("pay")):
        # An invoice's own keyboard must start with its Pay button (Bot API, sendInvoice).
        raise bad_request("REPLY_MARKUP_BUY_EMPTY")
    invoice = {
        "title": title,
        "description": description,
        "start_parameter": params.get_str("start_parameter") or "",
        "currency": currency,
        "total_amount": total,
    }
    message = state.add_message(
        chat,
        from_bot=True,
        kind="invoice",
        invoice=invoice,
        invoice_private={"payload": payload, "prices": prices},
        reply_markup=markup,
    )
    return message.api_json()


async def answer_pre_checkout_query(state: EmulatorState, params: Params) -> Any:
    query_id = params.get_str("pre_checkout_query_id")
    if not query_id:
        raise missing("pre_checkout_query_id")
    pending = state.pre_checkouts.pop(query_id, None)
    if pending is None or pending.answer.done():
        raise bad_request("QUERY_ID_INVALID")
    ok = params.get_bool("ok")
    error_message = params.get_str("error_message")
    if not ok and not error_message:
        state.pre_checkouts[query_id] = pending
        raise bad_request("error_message is required if ok is False")
    pending.answer.set_result((ok, error_message))
    return True


async def refund_star_payment(state: EmulatorState, params: Params) -> Any:
    user_id = params.get_int("user_id")
    if user_id is None:
        raise missing("user_id")
    charge_id = params.get_str("telegram_payment_charge_id")
    if not charge_id:
        raise missing("telegram_payment_charge_id")
    charge = state.charges.get(charge_id)
    if charge is None or charge.user_id != user_id:
        raise bad_request("CHARGE_NOT_FOUND")
    if charge.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    charge.refunded = True
    state.star_transactions.append(
        StarTransaction(
            charge_id,
            user_id,
            charge.total_amount,
            int(time.time()),
            charge.payload,
            refund=True,
        )
    )
    return True


async def get_star_transactions(state: EmulatorState, params: Params) -> Any:
    """The bot's Stars history, oldest first; `offset` skips that many transactions."""
    offset = params.get_int("offset") or 0
    limit = params.get_int("limit")
    if limit is None:
        limit = MAX_TRANSACTIONS_PAGE
    if offset < 0:
        raise bad_request("OFFSET_INVALID")
    if not 1 <= limit <= MAX_TRANSACTIONS_PAGE:
        raise bad_request("LIMIT_INVALID")
    page = state.star_transactions[offset : offset + limit]
    return {"transactions": [_transaction_json(state, t) for t in page]}


def _transaction_json(state: EmulatorState, transaction: StarTransaction) -> dict[str, Any]:
    partner: dict[str, Any] = {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": state.user(transaction.user_id).api_json(),
        "invoice_payload": transaction.payload,
    }
    # A refund keeps the payment's id and names the user as its receiver.
    side = "receiver" if transaction.refund else "source"
    return {
        "id": transaction.charge_id,
        "amount": transaction.amount,
        "date": transaction.date,
        side: partner,
    }
