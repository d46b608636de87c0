"""Bot API methods that change or delete messages already sent."""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request, missing
from emulator.messages import StoredMessage
from emulator.params import Params
from emulator.state import EmulatorState
from emulator.validation import caption_of, message_text, reply_markup

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _editable(state: EmulatorState, params: Params) -> StoredMessage:
    if params.get_str("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = state.chat(params.get_str("chat_id"))
    message_id = params.get_int("message_id")
    if message_id is None:
        raise missing("message_id")
    message = chat.live(message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return message


def _markup_or_none(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    # An empty inline keyboard and no keyboard look the same to the user.
    if markup is None or not markup.get("inline_keyboard"):
        return None
    return markup


async def edit_message_text(state: EmulatorState, params: Params) -> Any:
    message = _editable(state, params)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    text, entities, parse_mode = message_text(params)
    return _apply_edit(message, params, "text", text, entities, parse_mode)


async def edit_message_caption(state: EmulatorState, params: Params) -> Any:
    message = _editable(state, params)
    if not message.photo and message.file is None:
        raise bad_request("there is no caption in the message to edit")
    parse_mode = params.get_str("parse_mode")
    caption, entities = caption_of(
        params.get_str("caption"), parse_mode, params.get_json("caption_entities")
    )
    return _apply_edit(message, params, "caption", caption, entities, parse_mode)


def _apply_edit(
    message: StoredMessage,
    params: Params,
    field: str,
    value: str | None,
    entities: Any,
    parse_mode: str | None,
) -> Any:
    """Replace the text or caption (and keyboard); Telegram refuses an edit that changes nothing."""
    markup = _markup_or_none(reply_markup(params))
    if (
        value == getattr(message, field)
        and entities == message.entities
        and markup == _markup_or_none(message.reply_markup)
    ):
        raise bad_request(NOT_MODIFIED)
    setattr(message, field, value)
    message.entities, message.parse_mode = entities, parse_mode
    message.reply_markup = markup
    message.record_edit()
    return message.api_json()


async def edit_message_reply_markup(state: EmulatorState, params: Params) -> Any:
    message = _editable(state, params)
    markup = _markup_or_none(reply_markup(params))
    if markup == _markup_or_none(message.reply_markup):
        raise bad_request(NOT_MODIFIED)
    message.reply_markup = markup
    message.record_edit()
    return message.api_json()


async def delete_message(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    message_id = params.get_int("message_id")
    if message_id is None:
        raise missing("message_id")
    message = chat.live(message_id)
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    return True
