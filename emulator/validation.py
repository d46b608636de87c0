"""Checks shared by the sending and editing methods, with Telegram's error descriptions."""

from __future__ import annotations

from typing import Any

from emulator.entities import parse_text, utf16_len
from emulator.errors import ApiError, bad_request
from emulator.files import StoredFile
from emulator.params import Params, Upload
from emulator.state import EmulatorState

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64


def message_text(params: Params) -> tuple[str, list[dict[str, Any]], str | None]:
    """The text after entity parsing, its entities and the parse_mode as sent."""
    raw = params.get_str("text")
    if raw is None or raw == "":
        raise bad_request("message text is empty")
    parse_mode = params.get_str("parse_mode")
    text, entities = parse_text(raw, parse_mode, params.get_json("entities"))
    if not text.strip():
        raise bad_request("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise bad_request("message is too long")
    return text, entities, parse_mode


def caption_of(
    raw: str | None, parse_mode: str | None, entities: Any
) -> tuple[str | None, list[dict[str, Any]]]:
    if raw is None or raw == "":
        return None, []
    caption, parsed = parse_text(raw, parse_mode, entities)
    if utf16_len(caption) > MAX_CAPTION:
        raise bad_request("message caption is too long")
    return caption, parsed


def reply_markup(params: Params) -> dict[str, Any] | None:
    """The reply_markup, checked the way Telegram checks inline keyboards."""
    markup = params.get_json("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'can\'t parse inline keyboard button: field "inline_keyboard" '
                "must be an Array of Arrays"
            )
        for row in rows:
            for button in row:
                _check_button(button)
    return markup


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse inline keyboard button: Text must be a String")
    actions = set(button) - {"text"}
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")


def chat_id_of(params: Params) -> int | None:
    """The chat a call addresses, for the call log and flood control."""
    try:
        return params.get_int("chat_id")
    except ApiError:
        return None


def resolve_upload(params: Params, value: Any, field: str) -> Upload | str | None:
    """A file parameter: an upload (direct or attach://name) or a file_id string."""
    if isinstance(value, str) and value.startswith("attach://"):
        upload = params.upload(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request("can't parse InputMedia: media not found")
        return upload
    if value is None:
        return params.upload(field)
    if isinstance(value, str) and value:
        return value
    return None


def stored_photo(state: EmulatorState, source: Upload | str) -> list[StoredFile]:
    if isinstance(source, str):
        ladder = state.files.photo_ladder(source)
        if ladder is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return ladder
    if len(source.data) > state.config.max_photo_bytes:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    if not source.data:
        raise bad_request("file must be non-empty")
    return state.files.add_photo(source.data)


def stored_document(state: EmulatorState, source: Upload | str) -> StoredFile:
    if isinstance(source, str):
        stored = state.files.get(source)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored
    if len(source.data) > state.config.max_document_bytes:
        raise ApiError(413, "Request Entity Too Large")
    if not source.data:
        raise bad_request("file must be non-empty")
    mime = source.content_type
    if mime in (None, "application/octet-stream") and source.filename:
        mime = None  # let the store guess from the file name, as Telegram does
    return state.files.add_media(source.data, source.filename, mime)
