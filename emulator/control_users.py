"""Control API that acts as users: send text, photos, albums, documents, press buttons, pay."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from typing import Any

from aiohttp import web

from emulator.errors import ApiError
from emulator.keys import STATE_KEY
from emulator.messages import StoredMessage, UserInfo
from emulator.params import Params, Upload, read_params
from emulator.state import Charge, EmulatorState, PreCheckout, StarTransaction


def control_error(status: int, message: str) -> web.HTTPException:
    """A control API refusal the test can read."""
    body = json.dumps({"ok": False, "error": message})
    if status == 404:
        return web.HTTPNotFound(text=body, content_type="application/json")
    return web.HTTPBadRequest(text=body, content_type="application/json")


async def _params(request: web.Request) -> Params:
    try:
        return await read_params(request)
    except ApiError as error:
        raise control_error(400, error.description) from None


def _user(state: EmulatorState, request: web.Request, params: Params) -> UserInfo:
    try:
        user_id = int(request.match_info["user_id"])
    except ValueError:
        raise control_error(400, "user_id must be an integer") from None
    return state.user(user_id, params.get_str("first_name"), params.get_str("language_code"))


def _deliver(state: EmulatorState, message: StoredMessage) -> int:
    return int(state.updates.push({"message": message.api_json()})["update_id"])


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/"):
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


async def send_text(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    user = _user(state, request, params)
    text = params.get_str("text")
    if not text:
        raise control_error(400, "text is required")
    message = state.add_message(
        state.chats[user.id],
        from_bot=False,
        kind="text",
        text=text,
        entities=_command_entities(text),
    )
    return web.json_response(
        {"update_id": _deliver(state, message), "message_id": message.message_id}
    )


def _photo_message(
    state: EmulatorState,
    user: UserInfo,
    data: bytes,
    caption: str | None,
    media_group_id: str | None,
) -> StoredMessage:
    sizes = state.files.add_photo(data)
    return state.add_message(
        state.chats[user.id],
        from_bot=False,
        kind="photo",
        photo=sizes,
        caption=caption or None,
        media_group_id=media_group_id or None,
    )


def _photo_reply(state: EmulatorState, message: StoredMessage) -> dict[str, Any]:
    largest = message.photo[-1]
    return {
        "update_id": _deliver(state, message),
        "message_id": message.message_id,
        "file_id": largest.file_id,
        "file_unique_id": largest.file_unique_id,
    }


async def send_photo(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    user = _user(state, request, params)
    upload = params.upload("photo")
    if upload is None:
        raise control_error(400, "multipart field 'photo' is required")
    message = _photo_message(
        state, user, upload.data, params.get_str("caption"), params.get_str("media_group_id")
    )
    return web.json_response(_photo_reply(state, message))


async def send_album(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    user = _user(state, request, params)
    photos = [part for name, part in params.parts if name == "photo" and isinstance(part, Upload)]
    if not photos:
        raise control_error(400, "at least one multipart field 'photo' is required")
    group_id = state.new_media_group_id()
    caption = params.get_str("caption")
    replies = []
    for index, upload in enumerate(photos):
        # Telegram puts an album's caption on its first item.
        message = _photo_message(
            state, user, upload.data, caption if index == 0 else None, group_id
        )
        replies.append(_photo_reply(state, message))
    return web.json_response({"media_group_id": group_id, "messages": replies})


async def send_document(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    user = _user(state, request, params)
    upload = params.upload("document")
    if upload is None:
        raise control_error(400, "multipart field 'document' is required")
    kind = params.get_str("kind") or "document"
    if kind not in ("document", "animation", "video"):
        raise control_error(400, "kind must be document, animation or video")
    filename = params.get_str("filename") or upload.filename
    mime = params.get_str("mime_type") or upload.content_type
    stored = state.files.add_media(upload.data, filename, mime)
    message = state.add_message(
        state.chats[user.id],
        from_bot=False,
        kind=kind,
        file=stored,
        caption=params.get_str("caption") or None,
    )
    return web.json_response(
        {
            "update_id": _deliver(state, message),
            "message_id": message.message_id,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
        }
    )


def _chat_instance(user_id: int) -> str:
    return str(int.from_bytes(hashlib.sha256(str(user_id).encode()).digest()[:7], "big"))


async def press(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    params = await _params(request)
    user = _user(state, request, params)
    message_id = params.get_int("message_id")
    data = params.get_str("data")
    if message_id is None or data is None:
        raise control_error(400, "message_id and data are required")
    message = state.chats[user.id].live(message_id)
    if not params.get_bool("force"):
        if message is None or not message.from_bot:
            raise control_error(400, f"no bot message {message_id} in chat {user.id}")
        if data not in message.callback_data():
            raise control_error(400, f"message {message_id} has no button with data {data!r}")
    # A deleted or unknown message reaches the bot as an InaccessibleMessage.
    shown = (
        message.api_json()
        if message is not None
        else {
            "chat": user.chat_json(),
            "message_id": message_id,
            "date": 0,
        }
    )
    query_id = str(secrets.randbits(62))
    state.callbacks[query_id] = None
    update = state.updates.push(
        {
            "callback_query": {
                "id": query_id,
                "from": user.api_json(),
                "message": shown,
                "chat_instance": _chat_instance(user.id),
                "data": data,
            }
        }
    )
    return web.json_response({"update_id": update["update_id"], "callback_query_id": query_id})


async def pay(request: web.Request) -> web.Response:
    """Pre-checkout, wait for the bot's answer, then the successful_payment message."""
    state = request.app[STATE_KEY]
    params = await _params(request)
    user = _user(state, request, params)
    message_id = params.get_int("message_id")
    invoice_message = state.chats[user.id].live(message_id) if message_id is not None else None
    if invoice_message is None or invoice_message.invoice is None:
        raise control_error(400, f"no invoice message {message_id} in chat {user.id}")
    currency = params.get_str("currency") or invoice_message.invoice["currency"]
    total = params.get_int("total_amount") or invoice_message.invoice["total_amount"]
    payload = params.get_str("payload") or invoice_message.invoice_private["payload"]
    timeout = params.get_float("timeout") or state.config.pre_checkout_timeout

    loop = asyncio.get_running_loop()
    query_id = str(secrets.randbits(62))
    pending = PreCheckout(query_id=query_id, user_id=user.id, answer=loop.create_future())
    state.pre_checkouts[query_id] = pending
    state.updates.push(
        {
            "pre_checkout_query": {
                "id": query_id,
                "from": user.api_json(),
                "currency": currency,
                "total_amount": total,
                "invoice_payload": payload,
            }
        }
    )
    try:
        ok, error_message = await asyncio.wait_for(asyncio.shield(pending.answer), timeout)
    except TimeoutError:
        state.pre_checkouts.pop(query_id, None)
        return web.json_response(
            {"ok": False, "error_message": "timeout", "pre_checkout_query_id": query_id}
        )
    answer_seconds = time.monotonic() - pending.sent_at
    if not ok:
        return web.json_response(
            {
                "ok": False,
                "error_message": error_message,
                "pre_checkout_query_id": query_id,
                "answer_seconds": answer_seconds,
            }
        )
    charge_id = "stxt" + secrets.token_urlsafe(30)
    paid = state.add_message(
        state.chats[user.id],
        from_bot=False,
        kind="successful_payment",
        extra={
            "successful_payment": {
                "currency": currency,
                "total_amount": total,
                "invoice_payload": payload,
                "telegram_payment_charge_id": charge_id,
                "provider_payment_charge_id": f"{user.id}_{secrets.token_hex(8)}",
            }
        },
    )
    state.charges[charge_id] = Charge(
        charge_id=charge_id,
        user_id=user.id,
        currency=currency,
        total_amount=total,
        payload=payload,
        message_id=paid.message_id,
    )
    state.star_transactions.append(
        StarTransaction(charge_id, user.id, total, int(time.time()), payload)
    )
    return web.json_response(
        {
            "ok": True,
            "charge_id": charge_id,
            "pre_checkout_query_id": query_id,
            "update_id": _deliver(state, paid),
            "message_id": paid.message_id,
            "answer_seconds": answer_seconds,
        }
    )


def add_routes(app: web.Application) -> None:
    prefix = "/_control/users/{user_id}"
    app.router.add_post(f"{prefix}/text", send_text)
    app.router.add_post(f"{prefix}/photo", send_photo)
    app.router.add_post(f"{prefix}/album", send_album)
    app.router.add_post(f"{prefix}/document", send_document)
    app.router.add_post(f"{prefix}/press", press)
    app.router.add_post(f"{prefix}/pay", pay)
