"""/admin: operators (ADMIN_USER_IDS) see queues, workers and today's failures; others do not."""

from __future__ import annotations

from bot.texts import text
from emulator.client import latest_text
from tests.fixtures.bot import BotEnv

OPERATOR = 7401
USER = 7402


async def test_admin_shows_counts_to_operators_and_refuses_everyone_else(bot_env: BotEnv) -> None:
    # The running bot reads this Settings object: the operator list is set for this test.
    bot_env.settings.admin_user_ids = (OPERATOR,)
    await bot_env.consent(USER)
    await bot_env.send_headshot(USER)

    await bot_env.client.send_text(USER, "/admin")
    await bot_env.wait_text(USER, text("en", "admin_refused"))

    await bot_env.client.send_text(OPERATOR, "/admin", language_code="zh")
    shown = latest_text(await bot_env.wait_text(OPERATOR, "运营概览"))
    assert text("zh", "admin_workers", workers=0) in shown
    # The intake queue may still hold the deferred status refresh of the user's headshot.
    assert text("zh", "admin_queues", intake=0, render=0, delivery=0)[-16:] in shown
    assert text("zh", "admin_orders", paid=0, rendering=0, failed=0) in shown
    assert text("zh", "admin_today", paid=0, delivered=0, failed=0, refunded=0) in shown
    assert str(USER) not in shown
