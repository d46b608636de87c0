"""The typed CallbackContext every handler receives: the domain and the user's view of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackContext, ExtBot

from bot.texts import pick_language
from studio.domain import Studio
from studio.orders import Order
from studio.sessions import Session

STUDIO_KEY = "studio"


@dataclass
class UserView:
    """The session, the current order (if any) and the language to answer in."""

    session: Session
    order: Order | None
    lang: str

    @property
    def user_id(self) -> int:
        return self.session.user_id


class StudioContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """Handlers read and write all state through `studio` (Redis), never PTB's dicts."""

    def __init__(
        self,
        application: StudioApplication,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        super().__init__(application, chat_id=chat_id, user_id=user_id)
        self._update: Update | None = None
        self._view: UserView | None = None

    @classmethod
    def from_update(cls, update: object, application: StudioApplication) -> StudioContext:
        # PTB builds one context per update and hands it to every handler group.
        context = super().from_update(update, application)
        context._update = update if isinstance(update, Update) else None
        return context

    @property
    def studio(self) -> Studio:
        studio: Studio = self.bot_data[STUDIO_KEY]
        return studio

    async def view(self, *, fresh: bool = False) -> UserView:
        """The user's session, order and language, read once per update (again with `fresh`)."""
        if self._view is None or fresh:
            user = self._update.effective_user if self._update is not None else None
            if user is None:
                raise ValueError("update without a user")
            self._view = await _load_view(self.studio, user.id, user.language_code)
        return self._view


async def _load_view(studio: Studio, user_id: int, language_code: str | None) -> UserView:
    """Read the user's session and current order from Redis (one round trip)."""
    session, order = await studio.user_state(user_id)
    return UserView(session, order, pick_language(session.language, language_code))


StudioApplication = Application[
    ExtBot[None], StudioContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any
]
