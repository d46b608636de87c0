"""The Telegram side of an erasure: stop and refund the user's orders, then erase them.

Shared by the /delete handler (bot/handlers/data_rights.py) and the intake worker's cron that
finishes an erasure whose process died (jobs/retention.py::finish_pending_erasures).
"""

from __future__ import annotations

from telegram import Bot

from bot.payments import refund_order
from studio.domain import Studio
from studio.orders import PAID_STATES, PRE_PAYMENT_STATES
from studio.queue import abort_render


async def stop_orders(studio: Studio, bot: Bot, user_id: int) -> int:
    """Cancel every live order, stop its render, refund what was paid; the Stars refunded."""
    refunded = 0
    for order in await studio.orders.get_many(await studio.sessions.order_ids(user_id)):
        if order is None:
            continue
        if order.state in PRE_PAYMENT_STATES | PAID_STATES:
            # Cancel first: a render that slips past the abort finds nothing to deliver.
            withdrawn = await studio.orders.withdraw(order.id, "erased at the user's request")
            await abort_render(studio.redis, order.id)
            # None: it moved on meanwhile (delivered, say); read what it is now.
            order = withdrawn or await studio.orders.get(order.id)
        if (
            order is not None
            and order.charge_id
            and await refund_order(studio, bot, order, notify=False)
        ):
            refunded += order.price
    return refunded
