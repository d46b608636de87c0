"""/start, the consent screen, /language, and the informational commands."""

from __future__ import annotations

import logging

from telegram import Update

from bot.consent import consent_record, consent_text
from bot.context import StudioContext, UserView
from bot.handlers.buttons import first_tap, refuse_foreign_press
from bot.keyboards import (
    ConsentAnswer,
    LanguageChoice,
    consent_keyboard,
    erase_keyboard,
    language_keyboard,
    withdraw_keyboard,
)
from bot.texts import format_wait, text
from studio.orders import PAID_STATES, TERMINAL_STATES, OrderState
from studio.queue import wait_for_new_order

logger = logging.getLogger(__name__)


async def start(update: Update, context: StudioContext) -> None:
    """Welcome, then consent (if not given yet) or the step the user is at."""
    assert update.effective_message is not None
    studio = context.studio
    view = await context.view()
    wait = format_wait(view.lang, await wait_for_new_order(studio.redis, studio.settings))
    await update.effective_message.reply_text(
        text(
            view.lang,
            "welcome",
            portraits=studio.settings.portraits_per_order,
            min_selfies=studio.settings.min_selfies,
            price=studio.settings.price_stars,
            wait=wait,
        )
    )
    if not view.session.consented:
        await update.effective_message.reply_text(
            consent_text(studio.settings, view.lang), reply_markup=consent_keyboard(view.lang)
        )
        return
    await resume(update, context, view)


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
        return
    key_by_state = {
        OrderState.HEADSHOT: "resume_headshot",
        OrderState.STYLE: "resume_style",
        OrderState.PAYMENT: "resume_payment",
    }
    step = key_by_state.get(order.state, "resume_paid" if order.state in PAID_STATES else "")
    await update.effective_message.reply_text(text(view.lang, step or "resume_paid"))


async def answer_consent(update: Update, context: StudioContext) -> None:
    """The "I agree" / "No thanks" buttons."""
    query = update.callback_query
    assert query is not None and query.message is not None
    studio = context.studio
    view = await context.view()
    if await refuse_foreign_press(query, view.lang):
        return
    answer = ConsentAnswer.parse(query.data)
    if answer is None:
        await query.answer()
        return
    if not await first_tap(studio, view.user_id, f"consent:{query.message.message_id}"):
        await query.answer(text(view.lang, "button_already_done"))
        return
    if answer.agreed:
        if view.session.consented and view.order is not None:
            await query.answer(text(view.lang, "button_already_done"))
            return
        record = consent_record(studio.settings, view.lang, studio.clock.now())
        await studio.sessions.record_consent(view.user_id, record)
        await query.answer()
        await query.edit_message_reply_markup(reply_markup=None)
        await context.bot.send_message(
            query.message.chat.id,
            text(view.lang, "consent_given", version=studio.settings.policy_version),
        )
        await resume(update, context, await context.view(fresh=True))
        return
    if view.session.consented:
        # Withdrawing consent is erasure: ask for the same confirmation as /delete.
        await query.answer()
        await context.bot.send_message(
            query.message.chat.id,
            text(view.lang, "delete_confirm"),
            reply_markup=erase_keyboard(view.lang),
        )
        return
    await studio.sessions.record_decline(view.user_id, studio.clock.now())
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    await context.bot.send_message(query.message.chat.id, text(view.lang, "consent_declined"))


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
    await update.effective_message.reply_text(
        text(
            view.lang,
            "privacy",
            version=settings.policy_version,
            intake_hours=f"{settings.intake_ttl_hours:g}",
            order_days=f"{settings.order_ttl_days:g}",
            support=settings.support_contact,
        ),
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
