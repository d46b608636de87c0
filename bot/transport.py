"""PTB's HTTP transport on aiohttp, with the shared outgoing rate limit and 429 retries.

PTB's default httpx transport spends most of its CPU in connection-pool bookkeeping; one
aiohttp ClientSession is several times faster here (see ARCHITECTURE.md, Scale-out).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from studio.metrics import PAID_BROADCAST_UNITS, record_bot_api_call
from studio.ratelimit import RedisRateLimiter

logger = logging.getLogger(__name__)

# Calls that put something in a chat; Telegram's flood control counts these.
MESSAGE_METHODS = frozenset(
    {
        "sendmessage",
        "editmessagetext",
        "editmessagereplymarkup",
        "editmessagecaption",
        "sendphoto",
        "senddocument",
        "sendmediagroup",
        "sendinvoice",
    }
)
# Calls without files go as a JSON body (see `_send`).
JSON_BODY = {"Content-Type": "application/json"}
MAX_FLOOD_RETRIES = 5
# A 429 asking for more than this is an outage, not flood control: let the caller see it.
MAX_RETRY_AFTER_S = 60.0
# A bulk send that may not go yet asks the limiter again after at most this long.
BULK_POLL_MAX_S = 1.0
BULK_MAX_WAIT_S = 15.0

_BULK: contextvars.ContextVar[bool] = contextvars.ContextVar("bulk_sends", default=False)


@contextlib.contextmanager
def bulk_sends() -> Iterator[None]:
    """Sends made inside this block (in this task) yield to interactive ones in the limiter."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


class AiohttpRequest(BaseRequest):
    """One aiohttp session per instance; waits on the Redis rate limiter before each send."""

    def __init__(
        self,
        limiter: RedisRateLimiter | None = None,
        read_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        connection_limit: int = 256,
    ) -> None:
        self._limiter = limiter
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialised")
        api_method = url.rsplit("/", 1)[-1].lower()
        chat_id = _chat_id(request_data) if api_method in MESSAGE_METHODS else None
        timeout = aiohttp.ClientTimeout(
            sock_connect=_seconds(connect_timeout, self._connect_timeout),
            sock_read=_seconds(read_timeout, self._read_timeout),
        )
        for attempt in range(MAX_FLOOD_RETRIES + 1):
            paid = False
            if api_method in MESSAGE_METHODS:
                cost = _cost(api_method, request_data)
                paid = await self._wait_for_slot(chat_id, cost)
                if paid:
                    PAID_BROADCAST_UNITS.inc(cost)
            status, body = await self._send(url, method, request_data, timeout, paid)
            record_bot_api_call(api_method, status)
            retry_after = _retry_after(status, body)
            if retry_after is None or attempt == MAX_FLOOD_RETRIES:
                return status, body
            # Sleeping here, instead of raising RetryAfter, is what keeps a 429 from dropping
            # the message: every caller gets the call done, just later.
            logger.info("flood control on %s: retrying in %.1f s", api_method, retry_after)
            await asyncio.sleep(retry_after)
        raise AssertionError("unreachable")

    async def _wait_for_slot(self, chat_id: int | None, cost: int) -> bool:
        """Wait for this send's turn; True when it goes as a paid broadcast (bulk, in a surge)."""
        if self._limiter is None:
            return False
        limiter = self._limiter
        # Wall-clock time on purpose: buckets are shared by processes, and a test's manual
        # clock must not freeze the refill.
        if _BULK.get():
            # Never booked ahead: wait until it fits now, so replies can slip in between. A
            # chat whose replies leave no room for that long books like a reply (no starving).
            since = time.monotonic()
            while (wait := await limiter.try_bulk(chat_id, time.time(), cost)) > 0:
                waited = time.monotonic() - since
                surge = limiter.pays_in_surges and waited >= limiter.paid_after_s
                if surge and await limiter.try_paid(chat_id, time.time(), cost):
                    return True
                if waited > BULK_MAX_WAIT_S:
                    break
                await asyncio.sleep(min(wait, BULK_POLL_MAX_S))
            else:
                return False
        # The chat's slot is booked: sleep until it, book the global slot if that had to wait
        # for it (studio/ratelimit.py), sleep until that, then send.
        booking = await limiter.reserve(chat_id, time.time(), cost)
        if booking.wait > 0:
            await asyncio.sleep(booking.wait)
        if not booking.global_booked:
            wait = await limiter.reserve_global(time.time(), cost)
            if wait > 0:
                await asyncio.sleep(wait)
        return False

    async def _send(
        self,
        url: str,
        method: str,
        request_data: RequestData | None,
        timeout: aiohttp.ClientTimeout,
        paid: bool = False,
    ) -> tuple[int, bytes]:
        assert self._session is not None
        kwargs: dict[str, Any] = {"timeout": timeout}
        # Our limiter decided this send goes past the free 30/s (see studio/ratelimit.py).
        if request_data is not None and request_data.contains_files:
            extra = {"allow_paid_broadcast": "true"} if paid else {}
            form = aiohttp.FormData()
            for name, value in {**request_data.json_parameters, **extra}.items():
                form.add_field(name, value)
            for part, (filename, content, mime) in request_data.multipart_data.items():
                data = content if isinstance(content, bytes) else content.read()
                form.add_field(part, data, filename=filename, content_type=mime)
            kwargs["data"] = form
        elif request_data is not None:
            # A JSON body, which the Bot API takes for every call without files: one C-coded
            # dumps, where a form costs aiohttp a FormData, a multipart writer (a uuid4) and a
            # quoted urlencode per call (about 3 % of the bot's CPU at saturation, by py-spy).
            parameters = request_data.parameters
            if paid:
                parameters = {**parameters, "allow_paid_broadcast": True}
            kwargs["data"] = json.dumps(parameters, separators=(",", ":")).encode()
            kwargs["headers"] = JSON_BODY
        try:
            async with self._session.request(method, url, **kwargs) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut() from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp: {type(exc).__name__}") from exc


def _seconds(value: Any, default: float) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if value is None:
        return None
    return default  # DEFAULT_NONE: the instance's default


def _chat_id(request_data: RequestData | None) -> int | None:
    if request_data is None:
        return None
    value = request_data.parameters.get("chat_id")
    try:
        return int(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None  # an @channel username: only the global bucket applies


def _cost(api_method: str, request_data: RequestData | None) -> int:
    """Telegram's flood control counts each item of an album."""
    if api_method != "sendmediagroup" or request_data is None:
        return 1
    media = request_data.parameters.get("media")
    if isinstance(media, str):
        try:
            media = json.loads(media)
        except ValueError:
            return 1
    return max(1, len(media)) if isinstance(media, list) else 1


def _retry_after(status: int, body: bytes) -> float | None:
    if status != 429:
        return None
    try:
        parameters = json.loads(body).get("parameters") or {}
        value = float(parameters.get("retry_after", 1))
    except (ValueError, AttributeError):
        value = 1.0
    return value if value <= MAX_RETRY_AFTER_S else None
