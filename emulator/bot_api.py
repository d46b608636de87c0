"""The Bot API HTTP surface: /bot<token>/<method> and /file/bot<token>/<path>."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from emulator import methods_bot, methods_edit, methods_payments, methods_send
from emulator.errors import ApiError, status_error
from emulator.keys import STATE_KEY
from emulator.params import Params, read_params
from emulator.state import EmulatorState
from emulator.validation import chat_id_of

logger = logging.getLogger(__name__)

Handler = Callable[[EmulatorState, Params], Awaitable[Any]]

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


def _check_token(state: EmulatorState, token: str) -> None:
    if state.config.token is not None and token != state.config.token:
        raise ApiError(401, "Unauthorized")


async def _apply_fault(state: EmulatorState, method: str) -> None:
    fault = state.take_fault(method)
    if fault is None:
        return
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
        if cost is not None:
            state.flood.admit(chat_id, cost(params))
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
    _log_call(state, method, chat_id, started, 200, None)
    return web.json_response({"ok": True, "result": result})


def _log_call(
    state: EmulatorState,
    method: str,
    chat_id: int | None,
    started: float,
    status: int,
    description: str | None,
) -> None:
    state.calls.append(
        {
            "method": method,
            "chat_id": chat_id,
            "time": started,
            "duration": time.time() - started,
            "status": status,
            "description": description,
        }
    )
    if status != 200:
        logger.debug("%s for chat %s failed: %s %s", method, chat_id, status, description)


async def handle_download(request: web.Request) -> web.Response:
    """Exact bytes of a file previously returned by getFile."""
    state = request.app[STATE_KEY]
    try:
        _check_token(state, request.match_info["token"])
    except ApiError as error:
        return web.json_response(error.payload(), status=error.error_code)
    stored = state.files.by_path(request.match_info["file_path"])
    if stored is None or stored.size > state.config.max_download_bytes:
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)
    return web.Response(
        body=stored.data, content_type=stored.mime_type or "application/octet-stream"
    )


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/bot{token}/{method}", handle_method)
    app.router.add_get("/file/bot{token}/{file_path:.+}", handle_download)
