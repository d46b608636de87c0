"""Control API for tests and operators: read what the bot did, replay updates, inject faults."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.control_users import control_error
from emulator.keys import STATE_KEY
from emulator.state import Fault


def _int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise control_error(400, f"{name} must be an integer") from None


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise control_error(400, "body must be JSON") from None
    if not isinstance(body, dict):
        raise control_error(400, "body must be a JSON object")
    return body


async def chat_messages(request: web.Request) -> web.Response:
    """Messages the bot sent to a chat, oldest first; ?include_user=1 adds the user's."""
    state = request.app[STATE_KEY]
    chat = state.chats.get(_int(request, "chat_id"))
    include_user = request.query.get("include_user") in ("1", "true")
    messages = (
        []
        if chat is None
        else [
            message.control_json()
            for message in chat.messages.values()
            if message.from_bot or include_user
        ]
    )
    return web.json_response(messages)


async def file_bytes(request: web.Request) -> web.Response:
    stored = request.app[STATE_KEY].files.get(request.match_info["file_id"])
    if stored is None:
        raise control_error(404, "unknown file_id")
    return web.Response(
        body=stored.data, content_type=stored.mime_type or "application/octet-stream"
    )


async def callback_answer(request: web.Request) -> web.Response:
    callbacks = request.app[STATE_KEY].callbacks
    query_id = request.match_info["callback_query_id"]
    if query_id not in callbacks:
        raise control_error(404, "unknown callback_query_id")
    return web.json_response(callbacks[query_id])


async def replay_update(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    original = state.updates.history.get(_int(request, "update_id"))
    if original is None:
        raise control_error(404, "unknown update_id")
    content = {key: value for key, value in original.items() if key != "update_id"}
    return web.json_response({"update_id": state.updates.push(content)["update_id"]})


async def inject_update(request: web.Request) -> web.Response:
    body = await _json_body(request)
    body.pop("update_id", None)
    if len(body) != 1:
        raise control_error(400, "an update has exactly one field besides update_id")
    update = request.app[STATE_KEY].updates.push(body)
    return web.json_response({"update_id": update["update_id"]})


async def calls(request: web.Request) -> web.Response:
    """The Bot API call log, optionally for one method and/or chat."""
    log = request.app[STATE_KEY].calls
    method = request.query.get("method")
    chat_id = request.query.get("chat_id")
    selected = [
        call
        for call in log
        if (method is None or call["method"] == method)
        and (chat_id is None or str(call["chat_id"]) == chat_id)
    ]
    return web.json_response(selected)


async def arrivals(request: web.Request) -> web.Response:
    """How many calls of each method have arrived, finished or not."""
    return web.json_response(dict(request.app[STATE_KEY].arrivals))


async def rate_limited(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].rate_limited)


async def payments(request: web.Request) -> web.Response:
    charges = request.app[STATE_KEY].charges.values()
    return web.json_response([charge.control_json() for charge in charges])


async def commands(request: web.Request) -> web.Response:
    stored = request.app[STATE_KEY].commands
    return web.json_response(
        [
            {"scope": scope, "language_code": language, "commands": items}
            for (scope, language), items in stored.items()
        ]
    )


async def webhook(request: web.Request) -> web.Response:
    updates = request.app[STATE_KEY].updates
    return web.json_response({"info": updates.webhook_info(), "deliveries": updates.deliveries})


async def add_fault(request: web.Request) -> web.Response:
    body = await _json_body(request)
    method = body.get("method")
    if not isinstance(method, str) or not method:
        raise control_error(400, "method is required ('*' matches every method)")
    fault = Fault(
        method=method,
        remaining=int(body.get("count", 1)),
        status=body.get("status", 500),
        retry_after=body.get("retry_after"),
        delay=body.get("delay"),
        description=body.get("description"),
        trickle=body.get("trickle"),
    )
    request.app[STATE_KEY].faults.setdefault(method, []).append(fault)
    return web.json_response({"ok": True})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].faults.clear()
    return web.json_response({"ok": True})


async def reset(request: web.Request) -> web.Response:
    await request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/_control/chats/{chat_id}/messages", chat_messages)
    router.add_get("/_control/files/{file_id}", file_bytes)
    router.add_get("/_control/callbacks/{callback_query_id}", callback_answer)
    router.add_post("/_control/updates/{update_id}/replay", replay_update)
    router.add_post("/_control/updates", inject_update)
    router.add_get("/_control/calls", calls)
    router.add_get("/_control/arrivals", arrivals)
    router.add_get("/_control/rate_limited", rate_limited)
    router.add_get("/_control/payments", payments)
    router.add_get("/_control/commands", commands)
    router.add_get("/_control/webhook", webhook)
    router.add_post("/_control/faults", add_fault)
    router.add_delete("/_control/faults", clear_faults)
    router.add_post("/_control/reset", reset)
