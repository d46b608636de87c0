"""The bot application: handlers, per-user ordering, update dedupe, commands menu."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    TypeHandler,
    filters,
)

from bot.client import make_bot
from bot.context import STUDIO_KEY, StudioApplication, StudioContext
from bot.handlers import (
    buttons,
    checkout,
    data_rights,
    delivered,
    groups,
    intake,
    onboarding,
    status,
    style_change,
)
from bot.handlers.admin import show_admin
from bot.handlers.errors import report_error
from bot.keyboards import (
    SEPARATOR,
    AfterDelivery,
    ConsentAnswer,
    DonePress,
    EraseAnswer,
    KeepPhotos,
    LanguageChoice,
    PackChoice,
)
from bot.metrics import add_update_metrics
from bot.per_user_updates import PerUserUpdateProcessor
from bot.profile import publish_profile
from bot.style_buttons import ChangeStylePress, SamplesPress
from bot.update_pipeline import CLAIMED_UPDATE
from studio import keys
from studio.domain import Studio
from studio.settings import Settings

logger = logging.getLogger(__name__)

PROFILE_TASK = "publish profile task"  # bot_data key: start_application's background task

COMMANDS: tuple[str, ...] = (
    "start",
    "status",
    "cancel",
    "help",
    "privacy",
    "paysupport",
    "language",
    "delete",
    "mydata",
)
# Channel posts are taken so that a channel the bot was added to is handled on purpose (it
# stays silent there: bot/handlers/groups.py), not left to whatever Telegram does by default.
ALLOWED_UPDATES: list[str] = [
    "message",
    "callback_query",
    "pre_checkout_query",
    "channel_post",
    "edited_channel_post",
]


def build_application(settings: Settings, studio: Studio) -> StudioApplication:
    """A PTB Application wired to `studio`; the caller runs it (polling or webhook)."""
    application: StudioApplication = (
        ApplicationBuilder()
        .bot(make_bot(settings, studio))
        .context_types(ContextTypes(context=StudioContext))
        .concurrent_updates(PerUserUpdateProcessor(settings.bot_concurrency))
        .build()
    )
    # All conversation state lives in Redis (through `Studio`); the Application holds none, so
    # any number of replicas can serve any user, and a restart loses nothing.
    application.bot_data[STUDIO_KEY] = studio
    add_handlers(application)
    return application


def add_handlers(application: StudioApplication) -> None:
    # Groups and channels get one pointer to a private chat and store nothing (before dedupe).
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS | filters.ChatType.CHANNEL, groups.point_to_private_chat
        ),
        group=-2,
    )
    application.add_handler(TypeHandler(Update, drop_duplicate_update), group=-1)
    for name, callback in (
        ("start", onboarding.start),
        ("help", onboarding.show_help),
        ("privacy", onboarding.show_privacy),
        ("paysupport", onboarding.show_paysupport),
        ("language", onboarding.choose_language),
        ("status", status.show_status),
        ("cancel", status.cancel_order),
        ("delete", data_rights.ask_delete),
        ("mydata", data_rights.send_my_data),
    ):
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CommandHandler("admin", show_admin))  # ADMIN_USER_IDS only
    for prefix, callback in (
        (ConsentAnswer.PREFIX, onboarding.answer_consent),
        (LanguageChoice.PREFIX, onboarding.set_language),
        (DonePress.PREFIX, intake.press_done),
        (EraseAnswer.PREFIX, data_rights.answer_delete),
        (PackChoice.PREFIX, checkout.choose_pack),
        (SamplesPress.PREFIX, style_change.show_samples),
        (ChangeStylePress.PREFIX, style_change.change_style),
        (AfterDelivery.PREFIX, delivered.answer_after_delivery),
        (KeepPhotos.PREFIX, delivered.answer_keep_photos),
    ):
        application.add_handler(CallbackQueryHandler(callback, pattern=f"^{prefix}{SEPARATOR}"))
    application.add_handler(CallbackQueryHandler(buttons.answer_unknown_press))
    application.add_handler(PreCheckoutQueryHandler(checkout.answer_pre_checkout))
    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, checkout.receive_payment))
    # Order matters: an animation message also carries a document.
    application.add_handler(
        MessageHandler(
            filters.ANIMATION | filters.VIDEO | filters.VIDEO_NOTE | filters.Sticker.ALL,
            intake.refuse_media,
        )
    )
    application.add_handler(MessageHandler(filters.PHOTO, intake.receive_photo))
    application.add_handler(MessageHandler(filters.Document.ALL, intake.receive_document))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, intake.receive_text))
    # Every input gets an answer: an unknown command gets the help, anything else a short word.
    application.add_handler(MessageHandler(filters.COMMAND, onboarding.show_help))
    application.add_handler(
        MessageHandler(
            filters.VOICE
            | filters.AUDIO
            | filters.LOCATION
            | filters.VENUE
            | filters.CONTACT
            | filters.POLL
            | filters.Dice.ALL,
            intake.refuse_other_message,
        )
    )
    application.add_error_handler(report_error)  # type: ignore[arg-type]
    add_update_metrics(application)  # counts and times every update (bot/metrics.py)


async def drop_duplicate_update(update: Update, context: StudioContext) -> None:
    """Each update is handled once across all replicas (Telegram and load balancers retry).

    Updates from the pipeline (bot/update_pipeline.py) were claimed when taken and are marked
    done when handled; this guard is for those fed straight into the Application's queue.
    """
    if CLAIMED_UPDATE.get() == update.update_id:
        return
    ttl_ms = int(keys.UPDATE_DEDUPE_TTL.total_seconds() * 1000)
    studio = context.studio
    async with studio.redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.update_seen(update.update_id), b"1", nx=True, px=ttl_ms)
        if update.effective_user is not None:
            # The last activity, for idle expiry (studio/retention.py::expire_idle_users).
            pipe.zadd(keys.ACTIVE_USERS, {str(update.effective_user.id): studio.clock.now()})
        first, *_ = await pipe.execute()
    if not first:
        logger.info("update %s already handled; dropped", update.update_id)
        raise ApplicationHandlerStop


async def start_application(application: StudioApplication) -> None:
    """Initialise, publish the command menus, start handling updates (not yet fetching them)."""
    await application.initialize()
    # In the background, with retries: a Bot API error there must not stop the bot. Our own task,
    # not Application.create_task: PTB's stop() would wait out the retries' backoff (minutes
    # during a Bot API outage) and warns about a task made before start(); stop cancels it.
    application.bot_data[PROFILE_TASK] = asyncio.create_task(
        publish_profile(application.bot, COMMANDS), name="publish profile"
    )
    await application.start()


async def stop_publishing_profile(application: StudioApplication) -> None:
    """Cancel the profile's publishing if its retries are still going (a shutdown)."""
    task: asyncio.Task[bool] | None = application.bot_data.pop(PROFILE_TASK, None)
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})  # unlike awaiting the task, keeps a cancellation of our own
