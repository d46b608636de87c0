"""Typed application keys under which the emulator keeps its state."""

from __future__ import annotations

from aiohttp import web

from emulator.config import EmulatorConfig
from emulator.state import EmulatorState

CONFIG_KEY = web.AppKey("emulator_config", EmulatorConfig)
STATE_KEY = web.AppKey("emulator_state", EmulatorState)
