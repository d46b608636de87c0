"""The reconnecting client (studio/reconnect.py) on the wire: handshakes and one window.

A real proxy (tests/fixtures/redis_proxy.py) sits between the client and the test's Redis, and
does what a Redis restart does to the links: it drops them all, and it resets the next ones as
their handshake arrives, as a Redis finishing its shutdown after SIGTERM does. redis-py retried
neither such handshake nor counted its nested retries as one window: the first ended an arq
worker's poll loop (tests/test_chaos_redis.py failed 1 run in 5 on it), the second made a dead
Redis reach the caller after 24.6 s of a 3 s REDIS_RECONNECT_S.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from arq.worker import Worker, func
from redis.asyncio import Redis
from redis.exceptions import ConnectionError

from studio.queue import connect_queue, deserialize, queue_pool, serialize
from studio.reconnect import pause_after
from studio.settings import Settings
from tests.fixtures.redis_proxy import RedisProxy
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.studio import SettingsFactory

QUEUE = "test:reconnect"


def most_attempts(window_s: float) -> int:
    """The most connection attempts a call may make before it gives up, nested retries included.

    Every attempt after the first follows a pause of at least pause_after(1), and a pause is
    taken only if it ends within the window, so however the retries nest, at most this many
    fit (a slower machine makes fewer). Each level of redis-py's retries counting on its own
    made about the square of one level's count.
    """
    return 1 + math.floor(window_s / pause_after(1))


@pytest.fixture
def proxied(
    make_settings: SettingsFactory, redis_server: RedisServer, redis_proxy: RedisProxy
) -> Settings:
    return make_settings(redis_url=redis_proxy.url(redis_server.password), redis_reconnect_s=30.0)


async def test_a_pooled_connection_reconnects_through_reset_handshakes(
    proxied: Settings, redis_proxy: RedisProxy, redis: Redis
) -> None:
    client = await connect_queue(proxied)
    try:
        await redis.set("greeting", "hello")
        assert await client.get("greeting") == b"hello"

        await redis_proxy.cut()  # the pooled connection is dead; the pool does not know yet
        redis_proxy.reset_next(3)  # each handshake of the next three links
        assert await client.get("greeting") == b"hello"
        assert redis_proxy.resets == 3
    finally:
        await client.aclose()


async def test_a_worker_polls_on_through_reset_handshakes(
    proxied: Settings, redis_proxy: RedisProxy, make_settings: SettingsFactory
) -> None:
    ran = asyncio.Event()

    async def job(ctx: dict[str, Any]) -> str:
        ran.set()
        return "done"

    worker = Worker(
        functions=[func(job, name="job")],
        redis_pool=queue_pool(proxied),  # what worker.build_worker gives every worker
        queue_name=QUEUE,
        job_serializer=serialize,
        job_deserializer=deserialize,
        poll_delay=0.05,
        handle_signals=False,
    )
    main = asyncio.create_task(worker.main())
    producer = await connect_queue(make_settings())  # straight to Redis, past the proxy
    try:
        while redis_proxy.accepted == 0:  # polling
            await asyncio.sleep(0.05)
        await redis_proxy.cut()
        redis_proxy.reset_next(3)  # each handshake of the next three links
        while redis_proxy.resets < 3:
            assert not main.done(), main.exception()
            await asyncio.sleep(0.05)

        enqueued = await producer.enqueue_job("job", _queue_name=QUEUE)
        assert enqueued is not None
        assert await enqueued.result(timeout=30, poll_delay=0.05) == "done"
        assert ran.is_set() and not main.done()
    finally:
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
        await worker.close()
        await producer.aclose()


async def test_a_dead_redis_reaches_the_caller_after_one_window_not_one_per_nested_retry(
    make_settings: SettingsFactory, redis_server: RedisServer, redis_proxy: RedisProxy
) -> None:
    window_s = 2.0
    settings = make_settings(
        redis_url=redis_proxy.url(redis_server.password), redis_reconnect_s=window_s
    )
    client = await connect_queue(settings)
    try:
        await client.ping()
        before = redis_proxy.accepted - 1  # the pooled link: its next command is reset in flight
        redis_proxy.reset_next(10_000)  # and so is every link from now on

        with pytest.raises(ConnectionError):
            await client.ping()

        attempts = redis_proxy.accepted - before
        assert redis_proxy.resets == attempts
        assert 2 <= attempts <= most_attempts(window_s)
    finally:
        await client.aclose()


async def test_a_connection_left_with_an_unread_reply_is_not_reused_as_it_is(
    make_settings: SettingsFactory, redis: Redis
) -> None:
    """The readiness check before each command sees a reply nobody read (a cancelled caller's),
    so the next command cannot take that reply for its own."""
    client = await connect_queue(make_settings())
    try:
        await redis.set("greeting", "hello")
        pool = client.connection_pool
        connection = await pool.get_connection()
        await connection.send_command("PING")  # its +PONG is never read
        while not connection._reader._buffer:  # type: ignore[union-attr]  # the +PONG is here
            await asyncio.sleep(0.01)
        await pool.release(connection)

        assert await client.get("greeting") == b"hello"  # not b"PONG"
    finally:
        await client.aclose()


async def test_the_readiness_check_answers_without_a_turn_of_the_event_loop(
    make_settings: SettingsFactory, redis: Redis
) -> None:
    client = await connect_queue(make_settings())
    try:
        pool = client.connection_pool
        connection = await pool.get_connection()
        check = connection.can_read_destructive()
        with pytest.raises(StopIteration) as answered:
            check.send(None)  # redis-py's own check yields here, for a zero-timeout read
        assert answered.value.value is False

        await connection.send_command("CLIENT", "ID")
        await redis.client_kill_filter(_id=await connection.read_response())  # the server ends it
        while not connection._reader.at_eof():  # type: ignore[union-attr]
            await asyncio.sleep(0.01)
        with pytest.raises(ConnectionError):
            await connection.can_read_destructive()
        await pool.release(connection)
        assert await client.ping()  # the pool connects afresh
    finally:
        await client.aclose()
