"""The Bot API HTTP surface: /bot<token>/<method> and /file/bot<token>/<path>."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator import (
    methods_bot,
    methods_edit,
    methods_payments,
    methods_profile,
    methods_reactions,
    methods_send,
)
from emulator.errors import ApiError, status_error
from emulator.keys import STATE_KEY
from emulator.params import Params, read_params
from emulator.state import EmulatorState, Fault
from emulator.validation import chat_id_of

logger = logging.getLogger(__name__)

Handler = Callable[[EmulatorState, Params], Awaitable[Any]]
DOWNLOAD = "download"  # the fault name of file downloads (not a Bot API method)

METHODS: dict[str, Handler] = {
    "getMe": methods_bot.get_me,
    "getUpdates": methods_bot.get_updates,
    "setWebhook": methods_bot.set_webhook,
    "deleteWebhook": methods_bot.delete_webhook,
    "getWebhookInfo": methods_bot.get_webhook_info,
    "getFile": methods_bot.get_file,
    "setMyCommands": methods_bot.set_my_commands,
    "getMyCommands": methods_bot.get_my_commands,
    "deleteMyCommands": methods_bot.delete_my_commands,
    "setMyDescription": methods_profile.set_my_description,
    "getMyDescription": methods_profile.get_my_description,
    "setMyShortDescription": methods_profile.set_my_short_description,
    "getMyShortDescription": methods_profile.get_my_short_description,
    "answerCallbackQuery": methods_bot.answer_callback_query,
    "close": methods_bot.always_true,
    "logOut": methods_bot.always_true,
    "sendMessage": methods_send.send_message,
    "sendPhoto": methods_send.send_photo,
    "sendDocument": methods_send.send_document,
    "sendMediaGroup": methods_send.send_media_group,
    "sendChatAction": methods_send.send_chat_action,
    "editMessageText": methods_edit.edit_message_text,
    "editMessageCaption": methods_edit.edit_message_caption,
    "editMessageReplyMarkup": methods_edit.edit_message_reply_markup,
    "deleteMessage": methods_edit.delete_message,
    "setMessageReaction": methods_reactions.set_message_reaction,
    "sendInvoice": methods_payments.send_invoice,
    "answerPreCheckoutQuery": methods_payments.answer_pre_checkout_query,
    "refundStarPayment": methods_payments.refund_star_payment,
    "getStarTransactions": methods_payments.get_star_transactions,
}
# Telegram matches method names case-insensitively.
_BY_LOWER = {name.lower(): name for name in METHODS}

# Calls that put a message in a chat count against flood control; albums count per item.
FLOOD_COSTS: dict[str, Callable[[Params], int]] = {
    "sendMessage": lambda _: 1,
    "editMessageText": lambda _: 1,
    "editMessageCaption": lambda _: 1,
    "editMessageReplyMarkup": lambda _: 1,
    "sendPhoto": lambda _: 1,
    "sendDocument": lambda _: 1,
    "sendMediaGroup": methods_send.album_size,
    "sendInvoice": lambda _: 1,
}
# Calls that put no message in a chat but still count against the bot-wide rate. A reaction is
# not a message, so the chat's ~1/s does not apply to it (an emulator choice: Telegram documents
# no reaction limit, and counts messages per chat).
GLOBAL_ONLY_COSTS: dict[str, int] = {"setMessageReaction": 1}


def _check_token(state: EmulatorState, token: str) -> None:
    if state.config.token is not None and token != state.config.token:
        raise ApiError(401, "Unauthorized")


async def _apply_fault(state: EmulatorState, method: str) -> None:
    fault = state.take_fault(method)
    if fault is not None:
        await _apply(fault)


async def _apply(fault: Fault) -> None:
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.status:
        error = status_error(fault.status, fault.retry_after)
        if fault.description:
            error = ApiError(error.error_code, fault.description, error.retry_after)
        raise error


async def handle_method(request: web.Request) -> web.Response:
    """Dispatch one Bot API call and log it for the control API."""
    state = request.app[STATE_KEY]
    started = time.time()
    method = _BY_LOWER.get(request.match_info["method"].lower(), request.match_info["method"])
    state.arrivals[method] += 1
    chat_id: int | None = None
    try:
        _check_token(state, request.match_info["token"])
        params = await read_params(request)
        chat_id = chat_id_of(params) or params.get_int("user_id")
        handler = METHODS.get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        await _apply_fault(state, method)
        cost = FLOOD_COSTS.get(method)
        paid = params.get_bool("allow_paid_broadcast")
        units = cost(params) if cost is not None else 0
        if cost is not None:
            state.flood.admit(chat_id, units, paid=paid)
        elif method in GLOBAL_ONLY_COSTS:
            state.flood.admit(None, GLOBAL_ONLY_COSTS[method])
        result = await handler(state, params)
    except ApiError as error:
        _log_call(state, method, chat_id, started, error.error_code, error.description)
        if error.error_code == 429:
            state.rate_limited.append(
                {
                    "method": method,
                    "chat_id": chat_id,
                    "time": time.time(),
                    "retry_after": error.retry_after,
                }
            )
        return web.json_response(error.payload(), status=error.error_code)
    _log_call(state, method, chat_id, started, 200, None, paid_units=units if paid else 0)
    return web.json_response({"ok": True, "result": result})


def _log_call(
    state: EmulatorState,
    method: str,
    chat_id: int | None,
    started: float,
    status: int,
    description: str | None,
    paid_units: int = 0,
) -> None:
    state.calls.append(
        {
            "method": method,
            "chat_id": chat_id,
            "time": started,
            "duration": time.time() - started,
            "status": status,
            "description": description,
            # Messages sent as a paid broadcast: the bot's balance pays 0.1 Star for each.
            "paid_broadcast_units": paid_units,
        }
    )
    if status != 200:
        logger.debug("%s for chat %s failed: %s %s", method, chat_id, status, description)


async def handle_download(request: web.Request) -> web.StreamResponse:
    """Exact bytes of a file previously returned by getFile."""
    state = request.app[STATE_KEY]
    try:
        _check_token(state, request.match_info["token"])
    except ApiError as error:
        return web.json_response(error.payload(), status=error.error_code)
    stored = state.files.by_path(request.match_info["file_path"])
    if stored is None or stored.size > state.config.max_download_bytes:
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)
    # Only faults named "download": a "*" fault stays with the Bot API methods.
    fault = state.take_fault(DOWNLOAD) if state.faults.get(DOWNLOAD) else None
    if fault is not None and fault.trickle:
        return await _trickle(request, stored.data, fault.trickle)
    if fault is not None:
        try:
            await _apply(fault)
        except ApiError as error:
            return web.json_response(error.payload(), status=error.error_code)
    return web.Response(
        body=stored.data, content_type=stored.mime_type or "application/octet-stream"
    )


async def _trickle(
    request: web.Request, data: bytes, bytes_per_second: float
) -> web.StreamResponse:
    """A stalled download: the file, one byte at a time, `bytes_per_second` of them."""
    response = web.StreamResponse(headers={"Content-Length": str(len(data))})
    await response.prepare(request)
    for i in range(len(data)):
        await asyncio.sleep(1 / bytes_per_second)
        await response.write(data[i : i + 1])
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/bot{token}/{method}", handle_method)
    app.router.add_get("/file/bot{token}/{file_path:.+}", handle_download)
