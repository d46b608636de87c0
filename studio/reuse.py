"""Reuse, opt-in: a user may keep a delivered order's checked photos to order another style.

The offer stands from the pack choice until delivery (`OrderStore.ask_to_keep_photos`); the
delivered transition itself always drops the order's photos, so without the opt-in nothing
changes. With it, just before that transition the accepted headshot and selfies are copied,
sealed under the user's key, into the user's kept set (`keys.kept_photos`) for REUSE_DAYS.
"Another style" then starts an order on a copy of them, at the pack choice. The kept set goes
at its expiry (its own TTL, and the retention cron through `keys.KEPT_PHOTOS`, by the
project's clock), on "stop keeping" (/mydata), and with /delete or withdrawn consent.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from studio.crypto import KeyShredded
from studio.domain import Studio
from studio.orders import TERMINAL_STATES, Order, OrderState, new_order_id
from studio.photos import KeptPhotos, PhotoCounts, PhotoStatus

logger = logging.getLogger(__name__)


async def keep_if_asked(studio: Studio, order_id: str) -> KeptPhotos | None:
    """Before the delivered transition: keep the order's checked photos if the user asked."""
    days = studio.settings.reuse_days
    order = await studio.orders.get(order_id)
    if days <= 0 or order is None or not order.keep_photos:
        return None
    try:
        key = await studio.vault.existing_key(order.user_id)
    except KeyShredded:
        return None  # erased meanwhile: nothing may be kept
    until = studio.clock.now() + days * 86400
    kept = await studio.photos.keep(
        order.id,
        order.user_id,
        key,
        until=until,
        ttl_s=math.ceil(days * 86400),
        while_state=OrderState.RENDERING,
    )
    if kept is not None:
        logger.info("order %s: %d checked photos kept for reuse", order.id, len(kept.records))
    return kept


async def start_from_kept(studio: Studio, user_id: int, chat_id: int, lang: str) -> Order | None:
    """A new order on the user's kept photos, choosing a style; None when none are kept."""
    try:
        key = await studio.vault.existing_key(user_id)
    except KeyShredded:
        return None
    kept = await studio.photos.kept(user_id, key, studio.clock.now())
    if kept is None or kept.selfies < studio.settings.min_selfies:
        return None
    order_id = new_order_id()
    order = await studio.orders.create_from_kept(
        user_id,
        chat_id,
        lang,
        studio.clock.now(),
        studio.photos.reseal(kept, order_id, key),
        PhotoCounts(headshot=PhotoStatus.ACCEPTED, accepted=kept.selfies),
        kept.until,
        order_id,
    )
    await studio.sessions.set_order(user_id, order.id)
    logger.info("order %s: started on kept photos", order.id)
    return order


async def stop_keeping(studio: Studio, user_id: int) -> int:
    """Delete the kept set, and no live order keeps photos at its delivery any more."""
    for order in await studio.orders.get_many(await studio.sessions.order_ids(user_id)):
        if order is not None and order.keep_photos and order.state not in TERMINAL_STATES:
            await studio.orders.ask_to_keep_photos(order.id, False)
    return await studio.photos.forget_kept(user_id)


async def expire_kept(studio: Studio) -> int:
    """The retention cron: delete every kept set whose period is over; how many went."""
    users = await studio.photos.kept_expired(studio.clock.now())
    for user_id in users:
        await studio.photos.forget_kept(user_id)
    return len(users)


def until_text(until: float) -> str:
    """An expiry as users read it: ISO 8601 date and time, in UTC."""
    return dt.datetime.fromtimestamp(until, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
