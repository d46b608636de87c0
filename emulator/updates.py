"""The update queue: long polling with offsets, and webhook delivery with retries."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from emulator.config import EmulatorConfig
from emulator.errors import ApiError

logger = logging.getLogger(__name__)

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
# Telegram leaves these out unless allowed_updates asks for them.
OPT_IN_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def update_sender(update: dict[str, Any]) -> int | None:
    """The user an update comes from; webhook delivery keeps each user's updates in order."""
    inner = update.get(update_type(update))
    if isinstance(inner, dict):
        sender = inner.get("from") or inner.get("chat") or {}
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None


class UpdateBus:
    """Every update ever issued (for replay) and the ones the bot has not confirmed yet."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.history: dict[int, dict[str, Any]] = {}
        self.pending: list[dict[str, Any]] = []
        self.allowed_updates: list[str] | None = None
        self.webhook: Webhook | None = None
        self.session: aiohttp.ClientSession | None = None
        self.deliveries: list[dict[str, Any]] = []
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self._last_id = 0
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._sender_locks: dict[int, asyncio.Lock] = {}

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def push(self, content: dict[str, Any]) -> dict[str, Any]:
        """Issue an update with the next update_id."""
        self._last_id += 1
        update = {"update_id": self._last_id, **copy.deepcopy(content)}
        update["update_id"] = self._last_id
        self.history[self._last_id] = update
        self.pending.append(update)
        if self.webhook is not None:
            self._queue.put_nowait(update)
        self._notify()
        return update

    def _confirm(self, offset: int | None) -> None:
        if offset is None or offset == 0:
            return
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def _allowed(self, update: dict[str, Any], allowed: list[str] | None) -> bool:
        kind = update_type(update)
        if not allowed:
            return kind not in OPT_IN_TYPES
        return kind in allowed

    def _ready(self, limit: int) -> list[dict[str, Any]]:
        # Telegram drops updates of types the bot did not ask for.
        self.pending = [u for u in self.pending if self._allowed(u, self.allowed_updates)]
        return self.pending[:limit]

    async def get_updates(
        self, offset: int | None, limit: int, timeout: float, allowed: list[str] | None
    ) -> list[dict[str, Any]]:
        """Long poll: answer as soon as an update is pending or the timeout passes."""
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        if allowed is not None:
            self.allowed_updates = allowed
        self._confirm(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            ready = self._ready(max(1, min(100, limit)))
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return copy.deepcopy(ready)
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            if self.webhook is not None:
                raise ApiError(409, WEBHOOK_CONFLICT)

    def drop_pending(self) -> None:
        self.pending.clear()
        self._queue = asyncio.Queue()

    async def set_webhook(self, webhook: Webhook, drop_pending: bool) -> None:
        await self.stop_delivery()
        if drop_pending:
            self.pending.clear()
        self.webhook = webhook
        self.last_error_date = self.last_error_message = None
        self._queue = asyncio.Queue()
        for update in self.pending:
            self._queue.put_nowait(update)
        self._workers = [
            asyncio.create_task(self._deliver_forever(webhook))
            for _ in range(max(1, min(100, webhook.max_connections)))
        ]
        # A long poll in progress ends with 409 now, like Telegram.
        self._notify()

    async def delete_webhook(self, drop_pending: bool) -> None:
        await self.stop_delivery()
        self.webhook = None
        if drop_pending:
            self.drop_pending()

    async def stop_delivery(self) -> None:
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def close(self) -> None:
        self._closing = True
        self._notify()
        await self.stop_delivery()

    async def reset(self) -> None:
        await self.stop_delivery()
        self.webhook = None
        self.history.clear()
        self.pending.clear()
        self.deliveries.clear()
        self.allowed_updates = None
        self.last_error_date = self.last_error_message = None
        self._queue = asyncio.Queue()
        self._notify()

    async def _deliver_forever(self, webhook: Webhook) -> None:
        queue = self._queue
        while True:
            update = await queue.get()
            sender = update_sender(update)
            lock = self._sender_locks.setdefault(sender or 0, asyncio.Lock())
            if sender is None:
                await self._deliver(webhook, update)
                continue
            async with lock:
                await self._deliver(webhook, update)

    async def _deliver(self, webhook: Webhook, update: dict[str, Any]) -> None:
        if not self._allowed(update, webhook.allowed_updates):
            self._discard(update)
            return
        headers = {"Content-Type": "application/json"}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        delay = self.config.webhook_retry_initial
        assert self.session is not None, "the webhook session is opened by the app's cleanup_ctx"
        timeout = aiohttp.ClientTimeout(total=self.config.webhook_timeout)
        while True:
            status: int | None = None
            error: str | None = None
            try:
                async with self.session.post(
                    webhook.url, json=update, headers=headers, timeout=timeout
                ) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {type(exc).__name__}"
            self.deliveries.append(
                {"update_id": update["update_id"], "status": status, "time": time.time()}
            )
            if status is not None and 200 <= status < 300:
                self._discard(update)
                return
            self.last_error_date = int(time.time())
            self.last_error_message = error or f"Wrong response from the webhook: {status}"
            logger.info(
                "webhook delivery of update %s failed: %s",
                update["update_id"],
                self.last_error_message,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.webhook_retry_max)

    def _discard(self, update: dict[str, Any]) -> None:
        self.pending = [u for u in self.pending if u["update_id"] != update["update_id"]]

    def webhook_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates:
                info["allowed_updates"] = self.webhook.allowed_updates
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info
