"""A real redis-py connection that counts round trips: each single command or pipeline is one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio.connection import Connection

from studio.domain import Studio


class RoundTrips:
    """The count shared by every counting connection of one client."""

    def __init__(self) -> None:
        self.count = 0


class CountingConnection(Connection):
    """One `send_packed_command` is one write followed by one read of all its replies."""

    round_trips: RoundTrips

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        self.round_trips.count += 1
        await super().send_packed_command(command, check_health)


async def count_round_trips(studio: Studio) -> RoundTrips:
    """From now on every connection of `studio.redis` counts its round trips."""
    trips = RoundTrips()
    counting: Any = type("Counting", (CountingConnection,), {"round_trips": trips})
    pool = studio.redis.connection_pool
    await pool.disconnect()
    pool.reset()  # forget the plain connections, so every new one is a counting one
    pool.connection_class = counting
    return trips
