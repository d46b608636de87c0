"""The typed CallbackContext every handler receives: the domain is `context.studio`."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from studio.domain import Studio

STUDIO_KEY = "studio"


class StudioContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handlers read and write all state through `studio` (Redis), never PTB's dicts."""

    @property
    def studio(self) -> Studio:
        studio: Studio = self.bot_data[STUDIO_KEY]
        return studio


StudioApplication = Application[
    ExtBot[None], StudioContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]
