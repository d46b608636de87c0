"""Everything one emulated Telegram holds: users, chats, files, payments, logs, faults."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from emulator.config import EmulatorConfig
from emulator.errors import bad_request
from emulator.files import FileStore
from emulator.flood import FloodControl
from emulator.messages import Chat, StoredMessage, UserInfo
from emulator.updates import UpdateBus


@dataclass
class Fault:
    """The next `remaining` calls of a method are delayed and/or fail with `status`.

    The method "download" stands for file downloads (/file/bot<token>/<path>); there `trickle`
    (bytes per second) sends the file that slowly instead of failing.
    """

    method: str
    remaining: int
    status: int | None
    retry_after: int | None = None
    delay: float | None = None
    description: str | None = None
    trickle: float | None = None


@dataclass
class Charge:
    """One successful Stars payment."""

    charge_id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    message_id: int
    date: float = field(default_factory=time.time)
    refunded: bool = False

    def control_json(self) -> dict[str, Any]:
        return {
            "charge_id": self.charge_id,
            "user_id": self.user_id,
            "currency": self.currency,
            "total_amount": self.total_amount,
            "payload": self.payload,
            "message_id": self.message_id,
            "date": self.date,
            "refunded": self.refunded,
        }


@dataclass(frozen=True)
class StarTransaction:
    """One entry of the bot's Stars history: a user's payment, or its refund (same id)."""

    charge_id: str
    user_id: int
    amount: int
    date: int
    payload: str
    refund: bool = False


@dataclass
class PreCheckout:
    """A pre_checkout_query waiting for the bot's answer."""

    query_id: str
    user_id: int
    answer: asyncio.Future[tuple[bool, str | None]]
    sent_at: float = field(default_factory=time.monotonic)


class EmulatorState:
    """All mutable state of one emulator app; handlers receive it explicitly."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.files = FileStore()
        self.updates = UpdateBus(config)
        self.flood = FloodControl(
            config.chat_rate, config.chat_burst, config.global_rate, config.global_burst
        )
        self.users: dict[int, UserInfo] = {}
        self.chats: dict[int, Chat] = {}
        self.calls: list[dict[str, Any]] = []
        # Calls counted when they arrive, before faults or delays: what is in flight shows here.
        self.arrivals: Counter[str] = Counter()
        self.rate_limited: list[dict[str, Any]] = []
        self.faults: dict[str, list[Fault]] = {}
        self.callbacks: dict[str, dict[str, Any] | None] = {}
        self.pre_checkouts: dict[str, PreCheckout] = {}
        self.charges: dict[str, Charge] = {}
        self.star_transactions: list[StarTransaction] = []  # chronological, as getStarTransactions
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # (kind "description" / "short_description", language_code) -> text
        self.descriptions: dict[tuple[str, str], str] = {}
        self._ids = itertools.count(1)

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.config.bot_id,
            "is_bot": True,
            "first_name": self.config.bot_first_name,
            "username": self.config.bot_username,
        }

    def new_id(self, prefix: str = "") -> str:
        """A unique opaque identifier (callback, pre-checkout, charge, media group)."""
        return f"{prefix}{next(self._ids)}{secrets.token_hex(4)}"

    def new_media_group_id(self) -> str:
        # Telegram's media_group_id values are long numeric strings.
        return str(13_000_000_000_000_000 + next(self._ids))

    async def reset(self) -> None:
        await self.updates.reset()
        for pending in self.pre_checkouts.values():
            if not pending.answer.done():
                pending.answer.cancel()
        self.files.clear()
        self.flood.reset()
        self.users.clear()
        self.chats.clear()
        self.calls.clear()
        self.arrivals.clear()
        self.rate_limited.clear()
        self.faults.clear()
        self.callbacks.clear()
        self.pre_checkouts.clear()
        self.charges.clear()
        self.star_transactions.clear()
        self.commands.clear()
        self.descriptions.clear()

    def user(
        self, user_id: int, first_name: str | None = None, language_code: str | None = None
    ) -> UserInfo:
        """The user (created on first contact) with their private chat."""
        user = self.users.get(user_id)
        if user is None:
            user = UserInfo(id=user_id, first_name=first_name or f"User{user_id}")
            self.users[user_id] = user
            self.chats[user_id] = Chat(user=user)
        if first_name:
            user.first_name = first_name
        if language_code:
            user.language_code = language_code
        return user

    def chat(self, chat_id: int | str | None) -> Chat:
        """The chat a bot call addresses, or Telegram's "chat not found"."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        try:
            key = int(chat_id)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        chat = self.chats.get(key)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def add_message(self, chat: Chat, *, from_bot: bool, kind: str, **fields: Any) -> StoredMessage:
        sender = self.bot_user if from_bot else chat.user.api_json()
        message = StoredMessage(
            message_id=chat.next_message_id(),
            chat=chat.user,
            sender=sender,
            from_bot=from_bot,
            kind=kind,
            **fields,
        )
        chat.messages[message.message_id] = message
        return message

    def take_fault(self, method: str) -> Fault | None:
        queue = self.faults.get(method) or self.faults.get("*")
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault
