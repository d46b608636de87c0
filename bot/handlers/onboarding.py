"""/start, the consent screen, /language, and the informational commands."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.error import BadRequest

from bot import payments
from bot.consent import (
    agreed_note,
    answered_date,
    consent_record,
    erase_confirmation,
    send_consent_screen,
    shown_language,
)
from bot.context import StudioContext, UserView
from bot.handlers.buttons import first_tap, parse_press
from bot.handlers.checkout import send_pack_choice
from bot.intake_status import resend_status
from bot.keyboards import (
    ConsentAnswer,
    LanguageChoice,
    erase_keyboard,
    language_keyboard,
    withdraw_keyboard,
)
from bot.start_sources import count_start_source
from bot.texts import format_wait, text
from studio.orders import TERMINAL_STATES, OrderState
from studio.queue import wait_for_new_order

logger = logging.getLogger(__name__)


async def start(update: Update, context: StudioContext) -> None:
    """Welcome and consent in one message (if not given yet), else welcome and the user's step."""
    assert update.effective_message is not None
    studio = context.studio
    payload = (update.effective_message.text or "").partition(" ")[2].strip()
    if payload:  # a deep link, t.me/<bot>?start=<source>: counted, with nothing of the user
        await count_start_source(studio.redis, payload, studio.settings.start_sources_max)
    view = await context.view()
    wait = format_wait(view.lang, await wait_for_new_order(studio.redis, studio.settings))
    welcome = text(
        view.lang,
        "welcome",
        portraits=studio.settings.portraits_per_order,
        min_selfies=studio.settings.min_selfies,
        price=studio.settings.price_stars,
        wait=wait,
    )
    if not view.session.consented_to(studio.settings.policy_version):
        # One message, not two: every message of an order counts against its budget, and the
        # chat's ~1 message/s limit would hold the next one back.
        await ask_consent(context, update.effective_message.chat_id, view, intro=welcome)
        return
    await update.effective_message.reply_text(welcome)
    await resume(update, context, view)


async def ask_consent(
    context: StudioContext, chat_id: int, view: UserView, *, intro: str = ""
) -> None:
    """The consent screen; with it a word on why when an older policy's consent is on record."""
    await send_consent_screen(
        context.bot,
        context.studio.settings,
        chat_id,
        view.lang,
        renewal=view.session.consented,
        intro=intro,
    )


async def resume(update: Update, context: StudioContext, view: UserView) -> None:
    """Tell a consenting user their step; open a new order if they have none running."""
    assert update.effective_message is not None and update.effective_chat is not None
    order = view.order
    if order is None or order.state in TERMINAL_STATES:
        await context.studio.start_order(view.user_id, update.effective_chat.id, view.lang)
        await update.effective_message.reply_text(text(view.lang, "ask_headshot"))
        return
    if order.state is OrderState.SELFIES:
        await update.effective_message.reply_text(
            text(
                view.lang,
                "resume_selfies",
                accepted=order.photos.accepted,
                needed=context.studio.settings.min_selfies,
            )
        )
        await resend_status(context.studio, context.bot, order)
        return
    if order.state is OrderState.STYLE:
        await update.effective_message.reply_text(text(view.lang, "resume_style_below"))
        await send_pack_choice(context.bot, order.chat_id, view.lang, order.id)
        return
    if order.state is OrderState.PAYMENT:
        sent = await payments.send_invoice(context.studio, context.bot, order, view.lang)
        key = "resume_payment_again" if sent else "resume_payment"
        await update.effective_message.reply_text(text(view.lang, key))
        return
    key = "resume_headshot" if order.state is OrderState.HEADSHOT else "resume_paid"
    await update.effective_message.reply_text(text(view.lang, key))


async def answer_consent(update: Update, context: StudioContext) -> None:
    """The consent screen's buttons: agree with an age group, "I'm under 18", "No thanks"."""
    query = update.callback_query
    assert query is not None and query.message is not None
    studio = context.studio
    view = await context.view()
    answer = await parse_press(query, view.lang, ConsentAnswer.parse)
    if answer is None:
        return
    if not await first_tap(studio, view.user_id, f"consent:{query.message.message_id}"):
        await query.answer(text(view.lang, "button_already_done"))
        return
    chat_id = query.message.chat.id
    if answer.choice == "no":
        await _decline(context, query, view, chat_id, "consent_declined")
        return
    shown_lang = shown_language(studio.settings, answer.shown)
    if shown_lang is None:
        # Pressed on a screen of an older policy (or text): that is not consent to this one.
        await query.answer(text(view.lang, "consent_outdated"), show_alert=True)
        await query.edit_message_reply_markup(reply_markup=None)
        await ask_consent(context, chat_id, view)
        return
    if answer.choice == "minor":
        await _decline(context, query, view, chat_id, "consent_minor_refused")
        return
    assert answer.age_bracket is not None
    if view.session.consented_to(studio.settings.policy_version) and view.order is not None:
        await query.answer(text(view.lang, "button_already_done"))
        return
    agreed_at = studio.clock.now()
    record = consent_record(studio.settings, shown_lang, answer.age_bracket, agreed_at)
    await studio.sessions.record_consent(view.user_id, record)
    await query.answer()
    note = agreed_note(studio.settings, view.lang, answer.age_bracket, agreed_at)
    view = await context.view(fresh=True)
    order = view.order
    if order is None or order.state in TERMINAL_STATES:
        # The usual first visit: the screen becomes the choice plus step 1, no new message.
        await context.studio.start_order(view.user_id, chat_id, view.lang)
        await _show_answer(context, query, chat_id, f"{note}\n\n{text(view.lang, 'ask_headshot')}")
        return
    await _show_answer(context, query, chat_id, note)
    await resume(update, context, view)


async def _show_answer(
    context: StudioContext, query: CallbackQuery, chat_id: int, body: str
) -> None:
    """Edit the consent screen to what was chosen; if it cannot be edited, say it anew."""
    try:
        await query.edit_message_text(body, reply_markup=None)
    except BadRequest as error:
        logger.info("consent screen not edited to the answer: %s", error)
        await context.bot.send_message(chat_id, body)


async def _decline(
    context: StudioContext, query: CallbackQuery, view: UserView, chat_id: int, key: str
) -> None:
    """ "No thanks" or "I'm under 18": only the decision is kept; held data means erasure."""
    studio = context.studio
    await query.answer()
    if view.session.consented:
        # Withdrawing consent is erasure: ask for the same confirmation as /delete.
        intro = (
            erase_confirmation(studio.settings, view.lang)
            if key == "consent_declined"
            else text(view.lang, "consent_minor_has_data")
        )
        await context.bot.send_message(chat_id, intro, reply_markup=erase_keyboard(view.lang))
        return
    declined_at = studio.clock.now()
    await studio.sessions.record_decline(view.user_id, declined_at)
    declined = text(view.lang, "consent_declined_on", date=answered_date(declined_at))
    await _show_answer(context, query, chat_id, f"{declined}\n\n{text(view.lang, key)}")


async def show_help(update: Update, context: StudioContext) -> None:
    """/help"""
    assert update.effective_message is not None
    settings = context.studio.settings
    view = await context.view()
    await update.effective_message.reply_text(
        text(
            view.lang,
            "help",
            min_selfies=settings.min_selfies,
            max_selfies=settings.max_selfies,
            price=settings.price_stars,
            portraits=settings.portraits_per_order,
        )
    )


async def show_privacy(update: Update, context: StudioContext) -> None:
    """/privacy: the full policy, worded from what the code does."""
    assert update.effective_message is not None
    settings = context.studio.settings
    view = await context.view()
    policy = text(
        view.lang,
        "privacy",
        version=settings.policy_version,
        intake_hours=f"{settings.intake_ttl_hours:g}",
        order_days=f"{settings.order_ttl_days:g}",
        ledger_days=f"{settings.ledger_retention_days:g}",
        idle_days=f"{settings.idle_user_days:g}",
        support=settings.support_contact,
    )
    await update.effective_message.reply_text(
        f"{policy}\n\n{text(view.lang, 'privacy_own_face')}",
        reply_markup=withdraw_keyboard(view.lang) if view.session.consented else None,
    )


async def show_paysupport(update: Update, context: StudioContext) -> None:
    """/paysupport: the refund policy and how to ask (Telegram requires this command)."""
    assert update.effective_message is not None
    settings = context.studio.settings
    view = await context.view()
    await update.effective_message.reply_text(
        text(view.lang, "paysupport", price=settings.price_stars, support=settings.support_contact)
    )


async def choose_language(update: Update, context: StudioContext) -> None:
    """/language"""
    assert update.effective_message is not None
    view = await context.view()
    await update.effective_message.reply_text(
        text(view.lang, "choose_language"), reply_markup=language_keyboard()
    )


async def set_language(update: Update, context: StudioContext) -> None:
    """The language buttons: stored in the session; the current order follows."""
    query = update.callback_query
    assert query is not None
    choice = LanguageChoice.parse(query.data)
    if choice is None:
        await query.answer()
        return
    lang = choice.lang
    studio = context.studio
    await studio.sessions.set_language(query.from_user.id, lang)
    view = await context.view(fresh=True)
    if view.order is not None:
        await studio.orders.set_language(view.order.id, lang)
    await query.answer(text(lang, "language_set"))
    if query.message is not None:
        await context.bot.send_message(query.message.chat.id, text(lang, "language_set"))
