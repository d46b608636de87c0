"""Placeholder until its owner lands it."""

from typing import Any


async def render_order(ctx: dict[str, Any], order_id: str) -> None:
    raise NotImplementedError
