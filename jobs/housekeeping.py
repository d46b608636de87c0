"""Placeholder until its owner lands it."""

from typing import Any


async def reconcile(ctx: dict[str, Any]) -> None:
    raise NotImplementedError


async def purge_expired(ctx: dict[str, Any]) -> None:
    raise NotImplementedError
