"""Each update's lane, its user, and the per-user limit it counts against.

Payments (pre_checkout_query, successful_payment) go in the payment lane, ahead of everything,
and are never limited. Everything else counts against one of three per-user limits kept in
Redis (bot/update_store.py): photos (photo and document messages), commands (slash commands and
button presses), messages (the rest). Past a limit an update is refused at intake, and the first
refused one of the window gets one polite answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from telegram import Update
from telegram.constants import ChatType

from studio.settings import Settings


class Lane(StrEnum):
    PAYMENT = "payment"
    NORMAL = "normal"


class LimitKind(StrEnum):
    PHOTO = "photo"
    COMMAND = "command"
    MESSAGE = "message"


@dataclass(frozen=True)
class UpdateKind:
    lane: Lane
    user_id: int | None
    limit: LimitKind | None  # None: not limited (payments, updates without a user)


def classify(update: Update) -> UpdateKind:
    """The lane, the user and the limit of `update`.

    An update from a group or channel names no user: the bot keeps nothing for people it meets
    outside a private chat, neither the activity index nor a flood counter keyed by their id.
    Such an update gets at most one fixed answer (bot/handlers/groups.py), so it needs no limit.
    """
    user = update.effective_user
    chat = update.effective_chat
    private = chat is None or chat.type == ChatType.PRIVATE
    user_id = user.id if user is not None and private else None
    message = update.message
    if update.pre_checkout_query is not None or (
        message is not None and message.successful_payment is not None
    ):
        return UpdateKind(Lane.PAYMENT, user_id, None)
    if user_id is None:
        return UpdateKind(Lane.NORMAL, None, None)
    if update.callback_query is not None:
        return UpdateKind(Lane.NORMAL, user_id, LimitKind.COMMAND)
    effective = update.effective_message
    if effective is not None and (effective.photo or effective.document is not None):
        return UpdateKind(Lane.NORMAL, user_id, LimitKind.PHOTO)
    if effective is not None and (effective.text or "").startswith("/"):
        return UpdateKind(Lane.NORMAL, user_id, LimitKind.COMMAND)
    return UpdateKind(Lane.NORMAL, user_id, LimitKind.MESSAGE)


def per_window(settings: Settings, kind: LimitKind) -> int:
    """How many updates of `kind` one user may send per `user_limit_window_s`."""
    return {
        LimitKind.PHOTO: settings.user_photos_per_window,
        LimitKind.COMMAND: settings.user_commands_per_window,
        LimitKind.MESSAGE: settings.user_messages_per_window,
    }[kind]
