"""Messages held by the emulator, and their Bot API and control API JSON shapes."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from emulator.files import StoredFile


@dataclass
class UserInfo:
    """A human the control API acts as."""

    id: int
    first_name: str
    language_code: str = "en"
    username: str | None = None

    def api_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }
        if self.username:
            body["username"] = self.username
        return body

    def chat_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.username:
            body["username"] = self.username
        return body


@dataclass
class StoredMessage:
    """One message in a private chat, sent by the bot or by the user."""

    message_id: int
    chat: UserInfo
    sender: dict[str, Any]
    from_bot: bool
    kind: str
    date: int = field(default_factory=lambda: int(time.time()))
    text: str | None = None
    caption: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo: list[StoredFile] = field(default_factory=list)
    file: StoredFile | None = None
    media_group_id: str | None = None
    invoice: dict[str, Any] | None = None
    # Invoice fields the Bot API never shows back (payload, prices), kept for the control API.
    invoice_private: dict[str, Any] = field(default_factory=dict)
    # Fields copied verbatim into the Bot API JSON (successful_payment, injected extras).
    extra: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False
    edit_date: int | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    original: dict[str, Any] = field(default_factory=dict)
    # The bot's current reaction on this message (setMessageReaction), and every call setting it.
    bot_reactions: list[dict[str, Any]] = field(default_factory=list)
    reaction_log: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.original = self.content()

    def content(self) -> dict[str, Any]:
        """The editable part of the message, for the edit history."""
        return {
            "text": self.text,
            "caption": self.caption,
            "entities": copy.deepcopy(self.entities),
            "parse_mode": self.parse_mode,
            "reply_markup": copy.deepcopy(self.reply_markup),
        }

    def record_edit(self) -> None:
        self.edit_date = int(time.time())
        self.edits.append({"date": time.time(), **self.content()})

    @property
    def files(self) -> list[StoredFile]:
        if self.photo:
            return [self.photo[-1]]
        return [self.file] if self.file is not None else []

    def callback_data(self) -> set[str]:
        """Every callback_data on this message's inline keyboard."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return {
            button["callback_data"]
            for row in rows
            for button in row
            if isinstance(button, dict) and "callback_data" in button
        }

    def api_json(self) -> dict[str, Any]:
        """The Message object as the Bot API returns it."""
        body: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat.chat_json(),
            "date": self.date,
        }
        entity_key = "caption_entities" if self.caption is not None else "entities"
        if self.text is not None:
            body["text"] = self.text
        if self.caption is not None:
            body["caption"] = self.caption
        if self.entities:
            body[entity_key] = self.entities
        if self.photo:
            body["photo"] = [size.photo_size_json() for size in self.photo]
        if self.file is not None:
            if self.kind == "animation":
                body["animation"] = self.file.media_json()
                body["document"] = self.file.document_json()
            elif self.kind == "video":
                body["video"] = self.file.media_json()
            else:
                body["document"] = self.file.document_json()
        if self.media_group_id is not None:
            body["media_group_id"] = self.media_group_id
        if self.invoice is not None:
            body["invoice"] = self.invoice
        if self.reply_markup is not None and self.reply_markup.get("inline_keyboard"):
            body["reply_markup"] = self.reply_markup
        if self.edit_date is not None:
            body["edit_date"] = self.edit_date
        body.update(self.extra)
        return body

    def control_json(self) -> dict[str, Any]:
        """What tests read through /_control/chats/{id}/messages."""
        return {
            "message_id": self.message_id,
            "chat_id": self.chat.id,
            "date": self.date,
            "from_bot": self.from_bot,
            "kind": self.kind,
            "text": self.text,
            "caption": self.caption,
            "entities": self.entities,
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "media_group_id": self.media_group_id,
            "invoice": {**self.invoice, **self.invoice_private} if self.invoice else None,
            "files": [stored.summary() for stored in self.files],
            "photo_sizes": [size.summary() for size in self.photo],
            "deleted": self.deleted,
            "edit_date": self.edit_date,
            "original": self.original,
            "edits": self.edits,
            "reactions": self.bot_reactions,
            "reaction_log": self.reaction_log,
            **({"extra": self.extra} if self.extra else {}),
        }


@dataclass
class Chat:
    """A private chat between the bot and one user; message ids are shared by both sides."""

    user: UserInfo
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def live(self, message_id: int) -> StoredMessage | None:
        message = self.messages.get(message_id)
        if message is None or message.deleted:
            return None
        return message
