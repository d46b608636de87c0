"""Control API for group, supergroup and channel chats: a user (or the channel) posts there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.control_users import _command_entities, _params, control_error
from emulator.keys import STATE_KEY
from emulator.messages import Chat, StoredMessage, UserInfo
from emulator.params import Params
from emulator.state import EmulatorState

CHAT_TYPES = ("group", "supergroup", "channel")


@dataclass
class GroupInfo(UserInfo):
    """A group or channel chat; it stands where a private chat's user stands."""

    chat_type: str = "group"

    def chat_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.chat_type, "title": self.first_name}


def _group_chat(state: EmulatorState, request: web.Request, params: Params) -> Chat:
    try:
        chat_id = int(request.match_info["chat_id"])
    except ValueError:
        raise control_error(400, "chat_id must be an integer") from None
    if chat_id >= 0:
        raise control_error(400, "group and channel chat ids are negative")
    chat_type = params.get_str("chat_type") or "group"
    if chat_type not in CHAT_TYPES:
        raise control_error(400, f"chat_type must be one of {', '.join(CHAT_TYPES)}")
    chat = state.chats.get(chat_id)
    if chat is None:
        group = GroupInfo(id=chat_id, first_name=f"Group{-chat_id}", chat_type=chat_type)
        chat = state.chats[chat_id] = Chat(user=group)
    return chat


def _post(state: EmulatorState, chat: Chat, params: Params, **fields: Any) -> web.Response:
    """Deliver as "message" from user_id, or as "channel_post" (no sender) in a channel."""
    group = chat.user
    channel = isinstance(group, GroupInfo) and group.chat_type == "channel"
    sender: dict[str, Any] = {}
    if not channel:
        user_id = params.get_int("user_id")
        if user_id is None:
            raise control_error(400, "user_id is required in a group")
        sender = state.user(user_id, None, params.get_str("language_code")).api_json()
    message = StoredMessage(
        message_id=chat.next_message_id(), chat=group, sender=sender, from_bot=False, **fields
    )
    chat.messages[message.message_id] = message
    body = message.api_json()
    if channel:
        body.pop("from")
        body["sender_chat"] = group.chat_json()
    update = state.updates.push({"channel_post" if channel else "message": body})
    return web.json_response({"update_id": update["update_id"], "message_id": message.message_id})


async def send_text(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    chat = _group_chat(state, request, params)
    text = params.get_str("text")
    if not text:
        raise control_error(400, "text is required")
    return _post(state, chat, params, kind="text", text=text, entities=_command_entities(text))


async def send_photo(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    chat = _group_chat(state, request, params)
    upload = params.upload("photo")
    if upload is None:
        raise control_error(400, "multipart field 'photo' is required")
    return _post(state, chat, params, kind="photo", photo=state.files.add_photo(upload.data))


def add_routes(app: web.Application) -> None:
    prefix = "/_control/groups/{chat_id}"
    app.router.add_post(f"{prefix}/text", send_text)
    app.router.add_post(f"{prefix}/photo", send_photo)
