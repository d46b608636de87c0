"""The emulator's aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from emulator import bot_api, control_groups, control_inspect, control_users
from emulator.config import EmulatorConfig
from emulator.keys import CONFIG_KEY, STATE_KEY
from emulator.state import EmulatorState

__all__ = ["EmulatorConfig", "create_app"]


async def _webhook_session(app: web.Application) -> AsyncIterator[None]:
    """The client session webhook delivery posts with, open for the app's lifetime."""
    state = app[STATE_KEY]
    async with aiohttp.ClientSession() as session:
        state.updates.session = session
        yield
        await state.updates.close()
        state.updates.session = None


async def _end_long_polls(app: web.Application) -> None:
    # Shutting down must not wait for getUpdates calls to time out.
    await app[STATE_KEY].updates.close()


def create_app(config: EmulatorConfig) -> web.Application:
    """A fresh emulator; every piece of state lives on the returned app."""
    app = web.Application(client_max_size=config.max_request_bytes)
    app[CONFIG_KEY] = config
    app[STATE_KEY] = EmulatorState(config)
    app.cleanup_ctx.append(_webhook_session)
    app.on_shutdown.append(_end_long_polls)
    bot_api.add_routes(app)
    control_users.add_routes(app)
    control_inspect.add_routes(app)
    control_groups.add_routes(app)
    return app
