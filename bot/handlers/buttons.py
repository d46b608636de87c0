"""What the button handlers share: tap dedupe, and refusing foreign, stale or repeated presses."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from telegram import CallbackQuery, Update

from bot.context import StudioContext, UserView
from bot.texts import text
from studio import keys
from studio.domain import Studio
from studio.orders import Order, OrderState

logger = logging.getLogger(__name__)

T = TypeVar("T")


async def first_tap(studio: Studio, user_id: int, token: str) -> bool:
    """True for the first press of a button within a few seconds (double taps, replicas)."""
    ttl_ms = int(keys.TAP_DEDUPE_TTL.total_seconds() * 1000)
    return bool(await studio.redis.set(keys.tap(user_id, token), b"1", nx=True, px=ttl_ms))


async def refuse_foreign_press(query: CallbackQuery, lang: str) -> bool:
    """True (after saying so) when the pressed message is not in the presser's own chat."""
    if query.message is not None and query.message.chat.id == query.from_user.id:
        return False
    await query.answer(text(lang, "button_not_yours"), show_alert=True)
    return True


async def parse_press(
    query: CallbackQuery, lang: str, parse: Callable[[str | None], T | None]
) -> T | None:
    """The press's typed data; None after answering a press from another chat or malformed data."""
    if await refuse_foreign_press(query, lang):
        return None
    value = parse(query.data)
    if value is None:
        await query.answer()
    return value


async def button_order(
    context: StudioContext,
    query: CallbackQuery,
    view: UserView,
    order_id: str | None,
    expected: OrderState,
) -> Order | None:
    """The user's current order in the button's state, or None after saying why it is not."""
    if await refuse_foreign_press(query, view.lang):
        return None
    order = await context.studio.orders.get(order_id) if order_id else None
    if order is not None and order.user_id != query.from_user.id:
        await query.answer(text(view.lang, "button_not_yours"), show_alert=True)
        return None
    if order is None or order.id != view.session.order_id:
        await query.answer(text(view.lang, "button_stale"), show_alert=True)
        return None
    if order.state is not expected:
        key = "button_already_done" if _is_after(order.state, expected) else "button_stale"
        await query.answer(text(view.lang, key))
        return None
    return order


_FLOW = [
    OrderState.HEADSHOT,
    OrderState.SELFIES,
    OrderState.STYLE,
    OrderState.PAYMENT,
    OrderState.PAID,
    OrderState.RENDERING,
    OrderState.DELIVERED,
]


def _is_after(state: OrderState, expected: OrderState) -> bool:
    """The order already moved past the button's step (a double tap, not a stale button)."""
    return state in _FLOW and _FLOW.index(state) > _FLOW.index(expected)


async def answer_unknown_press(update: Update, context: StudioContext) -> None:
    """A press whose data names no button of ours (forged, or from an older release): said so.

    Telegram shows a spinner on the button until the press is answered, so every press is.
    """
    query = update.callback_query
    if query is None:
        return
    view = await context.view()
    await query.answer(text(view.lang, "button_stale"), show_alert=True)
