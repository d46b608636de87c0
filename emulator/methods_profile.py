"""The bot's profile texts: setMyDescription / setMyShortDescription and their getters."""

from __future__ import annotations

from typing import Any

from emulator.errors import bad_request
from emulator.params import Params
from emulator.state import EmulatorState

# Bot API limits.
DESCRIPTION_MAX = 512
SHORT_DESCRIPTION_MAX = 120


def _key(kind: str, params: Params) -> tuple[str, str]:
    return kind, params.get_str("language_code") or ""


def _set(state: EmulatorState, params: Params, kind: str, limit: int) -> Any:
    value = params.get_str(kind) or ""
    if len(value) > limit:
        raise bad_request(f"{kind.upper()}_INVALID")
    if value:
        state.descriptions[_key(kind, params)] = value
    else:
        state.descriptions.pop(_key(kind, params), None)
    return True


async def set_my_description(state: EmulatorState, params: Params) -> Any:
    return _set(state, params, "description", DESCRIPTION_MAX)


async def set_my_short_description(state: EmulatorState, params: Params) -> Any:
    return _set(state, params, "short_description", SHORT_DESCRIPTION_MAX)


async def get_my_description(state: EmulatorState, params: Params) -> Any:
    return {"description": state.descriptions.get(_key("description", params), "")}


async def get_my_short_description(state: EmulatorState, params: Params) -> Any:
    key = _key("short_description", params)
    return {"short_description": state.descriptions.get(key, "")}
