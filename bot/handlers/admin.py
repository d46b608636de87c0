"""/admin: the operators' view of the service (ADMIN_USER_IDS). Counts only, no personal data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import Update

from bot.context import StudioContext
from bot.texts import text
from studio import keys
from studio.metrics_snapshot import Snapshot, take_snapshot

logger = logging.getLogger(__name__)


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
    logger.info("admin view sent")
    await message.reply_text(admin_text(view.lang, snapshot, now))


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
