"""Receiving the headshot and selfies: store a pending record, enqueue its check, return."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import BadRequest

from bot.consent import send_consent_screen
from bot.context import StudioContext, UserView
from bot.handlers.buttons import button_order, first_tap
from bot.handlers.checkout import send_pack_choice
from bot.intake_status import status_message
from bot.keyboards import DonePress
from bot.texts import text
from studio.orders import PAID_STATES, OrderState
from studio.photos import PhotoRecord, PhotoRole, PhotoStatus
from studio.queue import enqueue_check_photo

logger = logging.getLogger(__name__)

IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"})
# getFile serves files up to 20 MB; pipeline.decode refuses more anyway.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


async def receive_photo(update: Update, context: StudioContext) -> None:
    """A photo message (one album item arrives as one of these)."""
    message = update.effective_message
    assert message is not None and message.photo
    largest = message.photo[-1]
    await _take_photo(context, message, largest.file_id, largest.file_unique_id)


async def receive_document(update: Update, context: StudioContext) -> None:
    """A file: taken when it is a still image within the size limit."""
    message = update.effective_message
    assert message is not None and message.document is not None
    view = await context.view()
    document = message.document
    mime = (document.mime_type or "").lower()
    if mime == "image/gif":
        await message.reply_text(text(view.lang, "animation_refused"))
        return
    if mime not in IMAGE_MIME_TYPES:
        await message.reply_text(text(view.lang, "document_not_image"))
        return
    if (document.file_size or 0) > MAX_UPLOAD_BYTES:
        await message.reply_text(
            text(view.lang, "document_too_large", limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024))
        )
        return
    await _take_photo(context, message, document.file_id, document.file_unique_id)


async def refuse_other_message(update: Update, context: StudioContext) -> None:
    """Voice, audio, location, contacts, polls and the like: one short answer, nothing stored."""
    message = update.effective_message
    assert message is not None
    view = await context.view()
    await message.reply_text(text(view.lang, "other_message_refused"))


async def refuse_media(update: Update, context: StudioContext) -> None:
    """Animations, videos and stickers: a specific answer, nothing stored."""
    message = update.effective_message
    assert message is not None
    view = await context.view()
    if message.animation is not None:
        key = "animation_refused"
    elif message.sticker is not None:
        key = "sticker_refused"
    else:
        key = "video_refused"
    await message.reply_text(text(view.lang, key))


async def receive_text(update: Update, context: StudioContext) -> None:
    """Text where a photo (or a button press) is expected."""
    message = update.effective_message
    assert message is not None
    studio = context.studio
    view = await context.view()
    order = view.order
    if not view.session.consented_to(studio.settings.policy_version):
        await message.reply_text(text(view.lang, "text_no_order"))
        return
    if order is None:
        await message.reply_text(text(view.lang, "text_no_order"))
    elif order.state is OrderState.HEADSHOT:
        await message.reply_text(text(view.lang, "text_instead_of_headshot"))
    elif order.state is OrderState.SELFIES:
        await message.reply_text(
            text(
                view.lang,
                "text_instead_of_selfies",
                accepted=order.photos.accepted,
                needed=studio.settings.min_selfies,
            )
        )
    else:
        await message.reply_text(_after_flow_text(view))


async def _take_photo(
    context: StudioContext, message: Message, file_id: str, file_unique_id: str
) -> None:
    studio = context.studio
    view = await context.view()
    order = view.order
    if not view.session.consented_to(studio.settings.policy_version):
        # Nothing about the photo is kept: not its file_id, not a record.
        if view.session.consented and await first_tap(studio, view.user_id, "renew-consent"):
            # Consent to an older policy: the current one is asked for before any new photo
            # (once for an album: its other photos get the short answer).
            await send_consent_screen(
                context.bot, studio.settings, message.chat_id, view.lang, renewal=True
            )
        else:
            await message.reply_text(text(view.lang, "consent_needed"))
        return
    if order is None:
        await message.reply_text(text(view.lang, "photo_no_order"))
        return
    if order.state not in (OrderState.HEADSHOT, OrderState.SELFIES):
        await message.reply_text(_after_flow_text(view))
        return
    counts = order.photos
    role = PhotoRole.HEADSHOT if order.state is OrderState.HEADSHOT else PhotoRole.SELFIE
    if role is PhotoRole.HEADSHOT:
        if counts.headshot is PhotoStatus.PENDING:
            await message.reply_text(text(view.lang, "headshot_pending"))
            return
    else:
        if counts.rejected_total >= studio.settings.max_rejected_photos:
            await message.reply_text(text(view.lang, "too_many_rejected"))
            return
        if counts.accepted + counts.pending >= studio.settings.max_selfies:
            await message.reply_text(
                text(view.lang, "selfies_full", max_selfies=studio.settings.max_selfies)
            )
            return
    record = PhotoRecord(
        file_id=file_id,
        file_unique_id=file_unique_id,
        role=role,
        received_at=studio.clock.now(),
        message_id=message.message_id,
    )
    key = await studio.vault.key_for(view.user_id)
    token = await studio.photos.add(order.id, key, record)
    if token is None:
        await message.reply_text(text(view.lang, "duplicate_photo"))
        return
    try:
        await enqueue_check_photo(studio.redis, order.id, token)
    except Exception:
        # No pending record without a job to finish it.
        await studio.photos.drop(order.id, token, role)
        raise
    if role is PhotoRole.HEADSHOT:
        await message.reply_text(text(view.lang, "headshot_checking"))


def _after_flow_text(view: UserView) -> str:
    order = view.order
    assert order is not None
    if order.state in PAID_STATES:
        return text(view.lang, "photo_after_paid")
    hints = {OrderState.STYLE: "resume_style", OrderState.PAYMENT: "resume_payment"}
    hint = text(view.lang, hints[order.state]) if order.state in hints else ""
    if not hint:
        hint = text(view.lang, "text_no_order")
    return text(view.lang, "photo_after_flow", hint=hint)


async def press_done(update: Update, context: StudioContext) -> None:
    """The Done button under the status message: on to the style packs."""
    query = update.callback_query
    assert query is not None
    studio = context.studio
    view = await context.view()
    press = DonePress.parse(query.data)
    order_id = press.order_id if press is not None else None
    order = await button_order(context, query, view, order_id, OrderState.SELFIES)
    if order is None:
        return
    counts = order.photos
    needed = studio.settings.min_selfies
    if counts.accepted < needed:
        await query.answer(
            text(view.lang, "not_enough_selfies", accepted=counts.accepted, needed=needed),
            show_alert=True,
        )
        return
    if await studio.orders.finish_selfies(order.id) is None:
        await query.answer(text(view.lang, "button_already_done"))
        return
    await query.answer()
    body, _ = status_message(view.lang, order.id, counts, needed, done=True)
    try:
        await query.edit_message_text(body, reply_markup=None)
    except BadRequest as error:
        logger.info("order %s: status message not updated at Done: %s", order.id, error)
    await send_pack_choice(context.bot, order.chat_id, view.lang, order.id)
