"""Async Python client for the emulator's control API, used by tests and the demo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import aiohttp


class ControlError(AssertionError):
    """The control API refused a request (for example a press on a button that isn't there)."""


class EmulatorClient:
    """Acts as many Telegram users at once and inspects what the bot did."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> EmulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        params: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        url = f"{self.base_url}/_control{path}"
        async with self._http().request(
            method, url, json=json_body, data=data, params=params
        ) as response:
            body = await response.read()
            if response.status >= 400:
                raise ControlError(f"{method} {path} -> {response.status}: {body.decode()}")
            if response.content_type == "application/json" and not raw:
                return json.loads(body)
            return body

    # Acting as users

    async def send_text(
        self, user_id: int, text: str, language_code: str = "en", first_name: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text, "language_code": language_code}
        if first_name is not None:
            body["first_name"] = first_name
        result: dict[str, Any] = await self._request(
            "POST", f"/users/{user_id}/text", json_body=body
        )
        return result

    async def send_photo(
        self,
        user_id: int,
        data: bytes,
        *,
        caption: str | None = None,
        media_group_id: str | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("photo", data, filename="photo.jpg", content_type="image/jpeg")
        form.add_field("language_code", language_code)
        if caption is not None:
            form.add_field("caption", caption)
        if media_group_id is not None:
            form.add_field("media_group_id", media_group_id)
        result: dict[str, Any] = await self._request("POST", f"/users/{user_id}/photo", data=form)
        return result

    async def send_album(
        self,
        user_id: int,
        photos: Sequence[bytes],
        *,
        caption: str | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        for index, data in enumerate(photos):
            form.add_field("photo", data, filename=f"photo{index}.jpg", content_type="image/jpeg")
        form.add_field("language_code", language_code)
        if caption is not None:
            form.add_field("caption", caption)
        result: dict[str, Any] = await self._request("POST", f"/users/{user_id}/album", data=form)
        return result

    async def send_document(
        self,
        user_id: int,
        data: bytes,
        filename: str,
        mime_type: str,
        kind: str = "document",
        *,
        caption: str | None = None,
        language_code: str = "en",
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("document", data, filename=filename, content_type=mime_type)
        form.add_field("filename", filename)
        form.add_field("mime_type", mime_type)
        form.add_field("kind", kind)
        form.add_field("language_code", language_code)
        if caption is not None:
            form.add_field("caption", caption)
        result: dict[str, Any] = await self._request(
            "POST", f"/users/{user_id}/document", data=form
        )
        return result

    async def press(
        self,
        user_id: int,
        message_id: int,
        data: str,
        force: bool = False,
        language_code: str = "en",
    ) -> dict[str, Any]:
        body = {
            "message_id": message_id,
            "data": data,
            "force": force,
            "language_code": language_code,
        }
        result: dict[str, Any] = await self._request(
            "POST", f"/users/{user_id}/press", json_body=body
        )
        return result

    async def callback_answer(self, callback_query_id: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._request(
            "GET", f"/callbacks/{callback_query_id}"
        )
        return result

    async def pay(self, user_id: int, message_id: int, **overrides: Any) -> dict[str, Any]:
        """Pay an invoice; overrides: payload, total_amount, currency, timeout (seconds)."""
        result: dict[str, Any] = await self._request(
            "POST", f"/users/{user_id}/pay", json_body={"message_id": message_id, **overrides}
        )
        return result

    async def replay(self, update_id: int) -> int:
        result = await self._request("POST", f"/updates/{update_id}/replay")
        return int(result["update_id"])

    async def send_group_text(
        self, chat_id: int, text: str, *, user_id: int | None = None, chat_type: str = "group"
    ) -> dict[str, Any]:
        """A text in a group/supergroup from `user_id`, or a channel post (chat_type channel)."""
        body: dict[str, Any] = {"text": text, "chat_type": chat_type}
        if user_id is not None:
            body["user_id"] = user_id
        result: dict[str, Any] = await self._request(
            "POST", f"/groups/{chat_id}/text", json_body=body
        )
        return result

    async def send_group_photo(
        self, chat_id: int, data: bytes, *, user_id: int | None = None, chat_type: str = "group"
    ) -> dict[str, Any]:
        form = aiohttp.FormData()
        form.add_field("photo", data, filename="photo.jpg", content_type="image/jpeg")
        form.add_field("chat_type", chat_type)
        if user_id is not None:
            form.add_field("user_id", str(user_id))
        result: dict[str, Any] = await self._request("POST", f"/groups/{chat_id}/photo", data=form)
        return result

    async def inject_update(self, update: dict[str, Any]) -> int:
        result = await self._request("POST", "/updates", json_body=update)
        return int(result["update_id"])

    # Inspecting what the bot did

    async def messages(self, chat_id: int, include_user: bool = False) -> list[dict[str, Any]]:
        params = {"include_user": "1"} if include_user else None
        result: list[dict[str, Any]] = await self._request(
            "GET", f"/chats/{chat_id}/messages", params=params
        )
        return result

    async def texts(self, chat_id: int, include_deleted: bool = False) -> list[str]:
        """The latest text (or caption) of each bot message, after edits."""
        return [
            latest_text(message)
            for message in await self.messages(chat_id)
            if include_deleted or not message["deleted"]
        ]

    async def file_bytes(self, file_id: str) -> bytes:
        # Raw bytes whatever the file's type (a JSON document must not come back parsed).
        result: bytes = await self._request("GET", f"/files/{file_id}", raw=True)
        return result

    async def calls(
        self, method: str | None = None, chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {}
        if method is not None:
            params["method"] = method
        if chat_id is not None:
            params["chat_id"] = str(chat_id)
        result: list[dict[str, Any]] = await self._request("GET", "/calls", params=params)
        return result

    async def arrivals(self, method: str) -> int:
        """How many calls of `method` reached the emulator, including ones still in flight."""
        counts: dict[str, int] = await self._request("GET", "/arrivals")
        return counts.get(method, 0)

    async def rate_limited(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", "/rate_limited")
        return result

    async def payments(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", "/payments")
        return result

    async def commands(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", "/commands")
        return result

    async def webhook(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", "/webhook")
        return result

    async def inject_fault(
        self,
        method: str,
        count: int = 1,
        status: int | None = 500,
        retry_after: int | None = None,
        delay: float | None = None,
        description: str | None = None,
        trickle: float | None = None,
    ) -> None:
        """The next `count` calls of `method` wait `delay` s and/or fail with `status`.

        `method="download"` faults file downloads; `trickle` sends them at that many bytes/s.
        """
        await self._request(
            "POST",
            "/faults",
            json_body={
                "method": method,
                "count": count,
                "status": status,
                "retry_after": retry_after,
                "delay": delay,
                "description": description,
                "trickle": trickle,
            },
        )

    async def clear_faults(self) -> None:
        await self._request("DELETE", "/faults")

    async def reset(self) -> None:
        await self._request("POST", "/reset")

    async def wait_for(
        self,
        chat_id: int,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 10.0,
        interval: float = 0.02,
    ) -> dict[str, Any]:
        """The first bot message (in its latest, edited state) matching `predicate`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            messages = await self.messages(chat_id)
            for message in messages:
                if predicate(message):
                    return message
            if loop.time() >= deadline:
                raise AssertionError(
                    f"no message in chat {chat_id} matched within {timeout} s; transcript:\n"
                    + format_transcript(messages)
                )
            await asyncio.sleep(interval)


def latest_text(message: dict[str, Any]) -> str:
    """A message's current text or caption ('' for media without caption)."""
    return str(message.get("text") or message.get("caption") or "")


def format_transcript(messages: Sequence[dict[str, Any]]) -> str:
    """One line per message, for assertion errors."""
    if not messages:
        return "  (the bot sent nothing)"
    lines = []
    for message in messages:
        flags = [message["kind"]]
        if message.get("deleted"):
            flags.append("deleted")
        if message.get("edits"):
            flags.append(f"edited x{len(message['edits'])}")
        buttons = [
            button.get("callback_data") or button.get("url") or ""
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in row
        ]
        suffix = f" buttons={buttons}" if buttons else ""
        lines.append(
            f"  #{message['message_id']} [{', '.join(flags)}] {latest_text(message)!r}{suffix}"
        )
    return "\n".join(lines)
