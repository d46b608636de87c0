"""Bot API methods about the bot itself: identity, updates, webhook, files, commands, callbacks."""

from __future__ import annotations

import json
import re
from typing import Any

from emulator.errors import bad_request, missing
from emulator.params import Params
from emulator.state import EmulatorState
from emulator.updates import Webhook

COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
CALLBACK_GONE = "query is too old and response timeout expired or query ID is invalid"


async def get_me(state: EmulatorState, params: Params) -> Any:
    return {
        **state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _allowed_updates(params: Params) -> list[str] | None:
    value = params.get_json("allowed_updates")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request("can't parse allowed_updates JSON array")
    return value


async def get_updates(state: EmulatorState, params: Params) -> Any:
    limit = params.get_int("limit") or 100
    timeout = params.get_float("timeout") or 0.0
    return await state.updates.get_updates(
        params.get_int("offset"), limit, timeout, _allowed_updates(params)
    )


async def set_webhook(state: EmulatorState, params: Params) -> Any:
    url = params.get_str("url") or ""
    drop = params.get_bool("drop_pending_updates")
    if not url:
        await state.updates.delete_webhook(drop)
        return True
    if not url.startswith(("http://", "https://")):
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    secret = params.get_str("secret_token")
    if secret is not None and not SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    webhook = Webhook(
        url=url,
        secret_token=secret,
        max_connections=params.get_int("max_connections") or 40,
        allowed_updates=_allowed_updates(params),
    )
    await state.updates.set_webhook(webhook, drop)
    return True


async def delete_webhook(state: EmulatorState, params: Params) -> Any:
    await state.updates.delete_webhook(params.get_bool("drop_pending_updates"))
    return True


async def get_webhook_info(state: EmulatorState, params: Params) -> Any:
    return state.updates.webhook_info()


async def get_file(state: EmulatorState, params: Params) -> Any:
    file_id = params.get_str("file_id")
    if not file_id:
        raise missing("file_id")
    stored = state.files.get(file_id)
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > state.config.max_download_bytes:
        raise bad_request("file is too big")
    return stored.file_json()


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.get_json("scope") or {"type": "default"}
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope JSON object")
    language = params.get_str("language_code") or ""
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    return json.dumps(scope, sort_keys=True), language


async def set_my_commands(state: EmulatorState, params: Params) -> Any:
    commands = params.get_json("commands")
    if commands is None:
        raise missing("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON array")
    for command in commands:
        if not isinstance(command, dict) or not COMMAND_NAME.match(str(command.get("command"))):
            raise bad_request("BOT_COMMAND_INVALID")
        description = command.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    state.commands[_commands_key(params)] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    return True


async def get_my_commands(state: EmulatorState, params: Params) -> Any:
    return state.commands.get(_commands_key(params), [])


async def delete_my_commands(state: EmulatorState, params: Params) -> Any:
    state.commands.pop(_commands_key(params), None)
    return True


async def answer_callback_query(state: EmulatorState, params: Params) -> Any:
    query_id = params.get_str("callback_query_id")
    if not query_id:
        raise missing("callback_query_id")
    if query_id not in state.callbacks or state.callbacks[query_id] is not None:
        raise bad_request(CALLBACK_GONE)
    text = params.get_str("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    state.callbacks[query_id] = {
        "text": text,
        "show_alert": params.get_bool("show_alert"),
        "url": params.get_str("url"),
        "cache_time": params.get_int("cache_time") or 0,
    }
    return True


async def always_true(state: EmulatorState, params: Params) -> Any:
    """close / logOut: nothing to shut down in an emulator."""
    return True
