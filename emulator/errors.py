"""The Bot API's error replies, raised by method handlers and rendered by the router."""

from __future__ import annotations

import math
from typing import Any


class ApiError(Exception):
    """A Bot API failure: HTTP status equals error_code, like Telegram."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram returns for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """400 with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def too_many_requests(wait_seconds: float) -> ApiError:
    """429 whose retry_after is a whole number of seconds, at least one, like Telegram."""
    retry_after = max(1, math.ceil(wait_seconds))
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


def missing(name: str) -> ApiError:
    """The error for an absent required parameter."""
    return bad_request(f'parameter "{name}" is required')


STATUS_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def status_error(status: int, retry_after: int | None = None) -> ApiError:
    """A generic error for an injected fault with the given HTTP status."""
    if status == 429:
        return too_many_requests(retry_after or 1)
    return ApiError(status, STATUS_DESCRIPTIONS.get(status, f"Error {status}"))
