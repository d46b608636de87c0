"""/admin: the operators' view of the service (ADMIN_USER_IDS). Counts only, no personal data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import Update

from bot.context import StudioContext
from bot.start_sources import start_sources
from bot.texts import text
from studio import keys
from studio.metrics_snapshot import Snapshot, take_snapshot

logger = logging.getLogger(__name__)

TOP_SOURCES = 10  # deep-link sources shown; the rest stay in Redis


async def show_admin(update: Update, context: StudioContext) -> None:
    """/admin from an operator: queue depth, live workers, failures and refunds today."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and user is not None
    studio = context.studio
    view = await context.view()
    if user.id not in studio.settings.admin_user_ids:
        await message.reply_text(text(view.lang, "admin_refused"))
        return
    now = studio.clock.now()
    snapshot = await take_snapshot(studio.redis, now)
    sources = await start_sources(studio.redis, TOP_SOURCES)
    logger.info("admin view sent")
    await message.reply_text(
        "\n".join((admin_text(view.lang, snapshot, now), sources_text(view.lang, sources)))
    )


def sources_text(lang: str, sources: list[tuple[str, int]]) -> str:
    listed = ", ".join(f"{name} {count}" for name, count in sources)
    return text(
        lang, "admin_sources", top=TOP_SOURCES, sources=listed or text(lang, "admin_sources_none")
    )


def admin_text(lang: str, snapshot: Snapshot, now: float) -> str:
    depth = snapshot.queue_depth
    return "\n".join(
        (
            text(lang, "admin_title", time=datetime.fromtimestamp(now, UTC).strftime("%H:%M")),
            text(
                lang,
                "admin_queues",
                intake=depth.get(keys.INTAKE_QUEUE, 0),
                render=depth.get(keys.RENDER_QUEUE, 0),
                delivery=depth.get("delivery", 0),
            ),
            text(lang, "admin_workers", workers=snapshot.render_workers),
            text(
                lang,
                "admin_orders",
                paid=snapshot.orders.get("paid", 0),
                rendering=snapshot.orders.get("rendering", 0),
                failed=snapshot.orders.get("failed", 0),
            ),
            text(
                lang,
                "admin_today",
                paid=snapshot.today.get("paid", 0),
                delivered=snapshot.today.get("delivered", 0),
                failed=snapshot.today.get("failed", 0),
                refunded=snapshot.today.get("refunded", 0),
            ),
        )
    )
