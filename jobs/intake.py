"""Placeholder until its owner lands it."""

from typing import Any


async def check_photo(ctx: dict[str, Any], order_id: str, token: str) -> None:
    raise NotImplementedError


async def flush_intake_status(ctx: dict[str, Any], order_id: str) -> None:
    raise NotImplementedError
