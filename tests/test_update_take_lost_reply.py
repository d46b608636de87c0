"""A take whose reply is lost is still this bot's: Redis applied it, the connection died.

A Redis restart can cut a connection after the server ran a command and before its reply
arrived. The reconnecting client (studio/reconnect.py) sends the same call again. For the
update store's take that repeat found its own claim and read it as "a duplicate, handled
elsewhere": the update was confirmed to Telegram and left pending until the orphan sweep took
it, one to two minutes later. Here a real proxy in front of the test's Redis forwards one take
and closes the connection as the reply comes back.
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.fairness import Lane, UpdateKind
from bot.update_store import Taken, UpdateStore
from studio import keys
from studio.queue import connect_queue
from tests.fixtures.redis_proxy import RedisProxy
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.studio import SettingsFactory

USER = 4242
KIND = UpdateKind(Lane.NORMAL, USER, None)


async def test_a_take_whose_reply_was_lost_is_still_queued_here(
    make_settings: SettingsFactory, redis: Redis, redis_server: RedisServer, redis_proxy: RedisProxy
) -> None:
    settings = make_settings(redis_url=redis_proxy.url(redis_server.password))
    client = await connect_queue(settings)  # the reconnecting client every process uses
    try:
        store = UpdateStore(client, settings, lambda: 1_800_000_000.0)
        warm = await store.take(1, b'{"update_id": 1}', KIND)  # loads the script: EVALSHA from now
        assert warm.outcome is Taken.QUEUED

        redis_proxy.drop_next_reply(b"EVALSHA")
        taken = await store.take(2, b'{"update_id": 2}', KIND)

        assert redis_proxy.replies_dropped == 1  # Redis ran the take; its reply was lost; repeated
        assert taken.outcome is Taken.MINE  # still this process's: the pipeline queues it
        assert await redis.hexists(keys.UPDATES_PENDING, "2")  # type: ignore[misc]
        # Another process (another replica) taking it finds it claimed: a duplicate there.
        other = UpdateStore(client, settings, lambda: 1_800_000_000.0)
        assert (await other.take(2, b'{"update_id": 2}', KIND)).outcome is Taken.DUPLICATE
    finally:
        await client.aclose()
