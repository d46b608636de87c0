"""A take whose reply is lost is still this bot's: Redis applied it, the connection died.

A Redis restart can cut a connection after the server ran a command and before its reply
arrived. The reconnecting client (studio/reconnect.py) sends the same call again. For the
update store's take that repeat found its own claim and read it as "a duplicate, handled
elsewhere": the update was confirmed to Telegram and left pending until the orphan sweep took
it, one to two minutes later. Here a real proxy in front of the test's Redis forwards one take
and closes the connection as the reply comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.fairness import Lane, UpdateKind
from bot.update_store import Taken, UpdateStore
from studio import keys
from studio.queue import connect_queue
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.studio import SettingsFactory

USER = 4242
KIND = UpdateKind(Lane.NORMAL, USER, None)


class ReplyDropper:
    """TCP proxy to Redis; once armed, the next script call's reply is dropped with the link."""

    def __init__(self, port: int) -> None:
        self.upstream_port = port
        self.armed = False
        self.dropped = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        dropping = asyncio.Event()

        async def to_redis() -> None:
            while chunk := await client_r.read(65536):
                if self.armed and b"EVALSHA" in chunk.upper():
                    self.armed = False
                    dropping.set()
                up_w.write(chunk)
                await up_w.drain()

        async def to_client() -> None:
            while chunk := await up_r.read(65536):
                if dropping.is_set():
                    self.dropped += 1
                    return  # Redis has run it; the caller never hears
                client_w.write(chunk)
                await client_w.drain()

        pumps = [asyncio.create_task(to_redis()), asyncio.create_task(to_client())]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        for writer in (client_w, up_w):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture
async def dropper(redis_server: RedisServer) -> AsyncIterator[ReplyDropper]:
    proxy = ReplyDropper(redis_server.port)
    await proxy.start()
    yield proxy
    await proxy.close()


async def test_a_take_whose_reply_was_lost_is_still_queued_here(
    make_settings: SettingsFactory, redis: Redis, redis_server: RedisServer, dropper: ReplyDropper
) -> None:
    auth = f":{redis_server.password}@" if redis_server.password else ""
    settings = make_settings(redis_url=f"redis://{auth}127.0.0.1:{dropper.port}/0")
    client = await connect_queue(settings)  # the reconnecting client every process uses
    try:
        store = UpdateStore(client, settings, lambda: 1_800_000_000.0)
        warm = await store.take(1, {"update_id": 1}, KIND)  # loads the script: EVALSHA from now
        assert warm.outcome is Taken.QUEUED

        dropper.armed = True
        taken = await store.take(2, {"update_id": 2}, KIND)

        assert dropper.dropped == 1  # Redis ran the take, its reply was lost, the call repeated
        assert taken.outcome is Taken.MINE  # still this process's: the pipeline queues it
        assert await redis.hexists(keys.UPDATES_PENDING, "2")  # type: ignore[misc]
        # Another process (another replica) taking it finds it claimed: a duplicate there.
        other = UpdateStore(client, settings, lambda: 1_800_000_000.0)
        assert (await other.take(2, {"update_id": 2}, KIND)).outcome is Taken.DUPLICATE
    finally:
        await client.aclose()
