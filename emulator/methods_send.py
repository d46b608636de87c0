"""Bot API methods that send messages: text, photos, documents, albums, chat actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.errors import bad_request, missing
from emulator.files import StoredFile
from emulator.messages import Chat
from emulator.params import Params
from emulator.state import EmulatorState
from emulator.validation import (
    caption_of,
    message_text,
    reply_markup,
    resolve_upload,
    stored_document,
    stored_photo,
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
ALBUM_MIN, ALBUM_MAX = 2, 10


async def send_message(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    text, entities, parse_mode = message_text(params)
    markup = reply_markup(params)
    message = state.add_message(
        chat,
        from_bot=True,
        kind="text",
        text=text,
        entities=entities,
        parse_mode=parse_mode,
        reply_markup=markup,
    )
    return message.api_json()


async def send_photo(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    sizes = _upload(state, params, "photo", stored_photo)
    return _send_media(chat, state, params, kind="photo", photo=sizes)


async def send_document(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    stored = _upload(state, params, "document", stored_document)
    return _send_media(chat, state, params, kind="document", file=stored)


def _upload(state: EmulatorState, params: Params, field: str, store: Callable[..., Any]) -> Any:
    """The uploaded (or re-sent by file_id) file of `field`, stored the way its kind needs."""
    source = resolve_upload(params, params.get_str(field), field)
    if source is None:
        raise bad_request(f"there is no {field} in the request")
    return store(state, source)


def _send_media(chat: Chat, state: EmulatorState, params: Params, kind: str, **media: Any) -> Any:
    """A photo or document message with its caption and keyboard, as Telegram returns it."""
    parse_mode = params.get_str("parse_mode")
    caption, entities = caption_of(
        params.get_str("caption"), parse_mode, params.get_json("caption_entities")
    )
    message = state.add_message(
        chat,
        from_bot=True,
        kind=kind,
        caption=caption,
        entities=entities,
        parse_mode=parse_mode,
        reply_markup=reply_markup(params),
        **media,
    )
    return message.api_json()


def album_size(params: Params) -> int:
    """How many messages a sendMediaGroup call produces (its flood-control cost)."""
    try:
        media = params.get_json("media")
    except Exception:  # a malformed album costs one call; the handler reports why it is bad
        return 1
    return len(media) if isinstance(media, list) and media else 1


async def send_media_group(state: EmulatorState, params: Params) -> Any:
    chat = state.chat(params.get_str("chat_id"))
    media = params.get_json("media")
    if media is None:
        raise missing("media")
    if not isinstance(media, list) or not media:
        raise bad_request("there are no messages to send")
    if len(media) > ALBUM_MAX:
        raise bad_request("too many messages to send as an album")
    if len(media) < ALBUM_MIN:
        # Real Telegram sends a lone item as a plain message; the Bot API documents 2-10.
        raise bad_request("media group must contain from 2 to 10 items")
    kinds = set()
    prepared: list[tuple[str, Any, str | None, list[dict[str, Any]], str | None]] = []
    for item in media:
        if not isinstance(item, dict) or "type" not in item:
            raise bad_request('can\'t parse InputMedia: field "type" must be a String')
        kind = item["type"]
        if kind not in ("photo", "document"):
            raise bad_request(f'can\'t parse InputMedia: type "{kind}" is unsupported')
        kinds.add(kind)
        source = resolve_upload(params, item.get("media"), "")
        if source is None:
            raise bad_request("can't parse InputMedia: media not found")
        caption, entities = caption_of(
            item.get("caption"), item.get("parse_mode"), item.get("caption_entities")
        )
        prepared.append((kind, source, caption, entities, item.get("parse_mode")))
    if "document" in kinds and len(kinds) > 1:
        raise bad_request("document can't be mixed with other media types")
    # Store every file before creating messages so a bad item sends nothing, like Telegram.
    stored: list[list[StoredFile] | StoredFile] = [
        stored_photo(state, source) if kind == "photo" else stored_document(state, source)
        for kind, source, *_ in prepared
    ]
    group_id = state.new_media_group_id()
    results = []
    for (kind, _, caption, entities, parse_mode), files in zip(prepared, stored, strict=True):
        fields: dict[str, Any] = {"photo": files} if isinstance(files, list) else {"file": files}
        message = state.add_message(
            chat,
            from_bot=True,
            kind=kind,
            caption=caption,
            entities=entities,
            parse_mode=parse_mode,
            media_group_id=group_id,
            **fields,
        )
        results.append(message.api_json())
    return results


async def send_chat_action(state: EmulatorState, params: Params) -> Any:
    state.chat(params.get_str("chat_id"))
    action = params.get_str("action")
    if action is None:
        raise missing("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True
