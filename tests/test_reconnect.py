"""The reconnecting client (studio/reconnect.py) on the wire: handshakes and one window.

A real proxy (tests/fixtures/redis_proxy.py) sits between the client and the test's Redis, and
does what a Redis restart does to the links: it drops them all, and it resets the next ones as
their handshake arrives, as a Redis finishing its shutdown after SIGTERM does. redis-py retried
neither such handshake nor counted its nested retries as one window: the first ended an arq
worker's poll loop (tests/test_chaos_redis.py failed 1 run in 5 on it), the second made a dead
Redis reach the caller after 24.6 s of a 3 s REDIS_RECONNECT_S.

The same connections answer the pool's readiness check from their buffers, and have hiredis
pack their commands: the last tests hold both to what redis-py itself does.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from arq.worker import Worker, func
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError, DataError

from studio.queue import connect_queue, deserialize, queue_pool, serialize
from studio.reconnect import PackedInC, ReconnectingConnection, pause_after
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


# The wire format, packed by hiredis --------------------------------------------------------------

_ARGUMENTS = st.one_of(
    st.text(),
    st.binary(max_size=20_000),  # past redis-py's 6,000-byte cutoff, where it packs in pieces
    st.integers(),
    st.floats(allow_nan=False),
)


@given(
    name=st.sampled_from(["SET", "EVALSHA", "CONFIG GET", b"CLIENT SETNAME", b"GET"]),
    arguments=st.lists(_ARGUMENTS, max_size=8),
)
def test_commands_are_packed_to_the_bytes_redis_py_makes(
    name: str | bytes, arguments: list[Any]
) -> None:
    ours, theirs = ReconnectingConnection(), Connection()
    assert b"".join(ours.pack_command(name, *arguments)) == b"".join(
        theirs.pack_command(name, *arguments)
    )
    commands = [(name, *arguments), ("PING",)]
    assert b"".join(ours.pack_commands(commands)) == b"".join(theirs.pack_commands(commands))


@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}])
def test_values_redis_py_refuses_are_refused_alike(value: Any) -> None:
    with pytest.raises(DataError):
        Connection().pack_command("SET", "key", value)
    with pytest.raises(DataError):
        ReconnectingConnection().pack_command("SET", "key", value)


def test_a_pool_with_another_encoding_keeps_redis_py_s_packing() -> None:
    latin = ReconnectingConnection(encoding="latin-1")
    packed = b"".join(latin.pack_command("SET", "k", "é"))
    assert packed == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n\xe9\r\n"  # é as Latin-1: one byte


async def test_every_client_of_the_studio_packs_in_c(
    make_settings: SettingsFactory, redis: Redis
) -> None:
    """The studio's own pool (and so the bot's, the workers' and arq's) sends what hiredis
    packed, and Redis reads it back as sent: text, bytes past the cutoff, numbers."""
    client = await connect_queue(make_settings())
    try:
        pool = client.connection_pool
        assert issubclass(pool.connection_class, PackedInC)
        big = bytes(range(256)) * 100
        await client.set("packed:text", "照片 ✓")
        await client.set("packed:bytes", big)
        await client.zadd("packed:scores", {"m": 0.1, "n": 2**62})
        assert await client.get("packed:text") == "照片 ✓".encode()
        assert await client.get("packed:bytes") == big
        assert await client.zrange("packed:scores", 0, -1, withscores=True) == [
            (b"m", 0.1),
            (b"n", float(2**62)),
        ]
    finally:
        await client.aclose()
