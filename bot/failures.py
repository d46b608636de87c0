"""The failures of updates processed inline, so the webhook can answer Telegram non-2xx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# None outside `collect_failures`: updates processed by the update queue report to no one.
_FAILURES: ContextVar[list[BaseException] | None] = ContextVar("update_failures", default=None)


@contextmanager
def collect_failures() -> Iterator[list[BaseException]]:
    """The errors of the updates processed (awaited, in this task) inside the block."""
    failures: list[BaseException] = []
    token = _FAILURES.set(failures)
    try:
        yield failures
    finally:
        _FAILURES.reset(token)


def record_failure(error: BaseException) -> None:
    """Count `error` against the enclosing `collect_failures` block, if there is one."""
    failures = _FAILURES.get()
    if failures is not None:
        failures.append(error)
