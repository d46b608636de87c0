"""Redis through Sentinel: every connection goes to the master the sentinels name now.

Built here rather than by arq's create_pool: arq hands Sentinel only the database and the
credentials, so its connections would lose studio/reconnect.py's retries (a failover would end
a worker's poll loop with a ConnectionError) and the sentinels could not take a password.

Each new connection asks the sentinels for the master's address. When the master dies, a
command fails, is retried on a fresh connection, and that connection reaches the replica the
sentinels promoted (until then, the dead address is refused and the retry waits). A write that
reaches a demoted master (ReadOnlyError) drops the connection and is retried the same way.
"""

from __future__ import annotations

from typing import Any, cast

from arq.connections import ArqRedis, RedisSettings
from pydantic import SecretStr
from redis.asyncio.connection import SSLConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import NoBackoff

from studio.reconnect import PackedInC, ReadyFromBuffers

# One attempt per address: the retry that follows asks the sentinels for the master again.
_ONE_ATTEMPT = Retry(NoBackoff(), 0)


class MasterConnection(ReadyFromBuffers, PackedInC, SentinelManagedConnection):
    """A connection to the master the sentinels name, asking them again on every retry.

    redis-py retries the connect to an address it was given with the connection's own retry,
    so a dead master's address would be retried for the whole REDIS_RECONNECT_S before the
    sentinels were asked again (measured: 30 s of a 30 s window, with the replica promoted after
    3). Here an address gets one attempt; the retry around it (the same backoff) asks again.
    """

    async def connect_to(self, address: Any) -> None:
        retry = self.retry
        self.retry = _ONE_ATTEMPT
        try:
            await super().connect_to(address)
        finally:
            self.retry = retry


class MasterSSLConnection(MasterConnection, SSLConnection):
    pass


def master_pool(redis: RedisSettings, sentinel_password: SecretStr) -> ArqRedis:
    """An ArqRedis on `redis.sentinel_master` among the sentinels `redis.host`, not connected."""
    if isinstance(redis.host, str):
        raise ValueError("Sentinel needs a list of (host, port) sentinels")
    sentinel = Sentinel(
        redis.host,
        # The sentinels are asked in turn: a dead one fails within conn_timeout and is skipped.
        sentinel_kwargs={
            "password": sentinel_password.get_secret_value() or None,
            "socket_timeout": redis.conn_timeout,
            "socket_connect_timeout": redis.conn_timeout,
        },
        db=redis.database,
        username=redis.username,
        password=redis.password,
        ssl=redis.ssl,
        socket_connect_timeout=redis.conn_timeout,
        retry=redis.retry,
        retry_on_error=redis.retry_on_error,
        max_connections=redis.max_connections,
    )
    connection_class = MasterSSLConnection if redis.ssl else MasterConnection
    pool = sentinel.master_for(
        redis.sentinel_master, redis_class=ArqRedis, connection_class=connection_class
    )
    return cast(ArqRedis, pool)
