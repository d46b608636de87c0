"""Every process rides out a Redis restart, failover or blip by itself (REDIS_RECONNECT_S).

Each command that fails for want of a connection (refused, reset, timed out, or the server still
loading its AOF after a restart) is retried on a fresh connection with exponential backoff,
capped at one second, until REDIS_RECONNECT_S has passed since the first failure; only then does
the error reach the caller. So a worker's poll loop, a running job, a chore and a bot handler all
wait out an outage of up to that long and carry on where they were, instead of dying with a
ConnectionError (arq's poll loop otherwise ends the worker). A process that starts while Redis is
away waits as long. With Sentinel (REDIS_SENTINELS, studio/sentinel.py) each fresh connection
asks the sentinels for the master, so the same retries carry a process over a failover to the
promoted replica.

Two gaps in redis-py's own retries are closed here:

- **The window is one window.** redis-py nests its retries: a command's retry reconnects through
  `Connection.connect`, which retries the socket connect with the same policy. Counted retries
  multiply (measured: with a 3 s budget a dead Redis reached the caller after 24.6 s, so 90 s
  would have been over two hours). `WindowRetry` keeps one deadline for the outermost call and
  every retry nested in it.
- **The handshake is retried too.** redis-py retries the socket connect, but not the handshake
  after it (CLIENT SETINFO, AUTH, SELECT), and a pooled connection is (re)connected before the
  command's retry begins. A Redis that accepts and then goes away (one finishing its shutdown
  after a SIGTERM, or just restarted) failed that handshake, and the ConnectionError reached the
  caller at once: it ended an arq worker's poll loop. `direct_pool` builds connections whose
  `connect` retries the whole of it. (Sentinel's connections already retry their whole
  `connect_to`, handshake included.)

And two costs of redis-py's are cut. Before each command the pool asks whether the idle
connection holds data it should not (a reply nobody read, or the server's close). redis-py
answers by reading the socket under a zero timeout, which costs every command a turn of the
event loop, a timer and a cancelled read (about 6 % of the bot's CPU at saturation, by py-spy).
`ReadyFromBuffers`, under every connection class here and in studio/sentinel.py, gives the same
answer from what the event loop has already received: the stream's buffer, its end, and the
parser's unread bytes. And redis-py's asyncio connections pack each command into the wire
format in Python (3 % of the bot's CPU, with the encoding of its arguments); `PackedInC` has
hiredis (which arq installs) pack it, to the same bytes.

A command whose reply was lost may run twice (Redis applied it, the connection died before the
reply). Our writes are compare-and-set scripts, NX sets and idempotent transitions, so a repeat
is refused or changes nothing; the one counter that would not be (a rate bucket) errs towards
sending later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

from arq.connections import ArqRedis, RedisSettings
from redis._parsers import _AsyncHiredisParser, _AsyncRESPBase
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    ConnectionPool,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, DataError, RedisError, TimeoutError

hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as hiredis_pack
except ImportError:  # redis-py's own packing then
    hiredis_pack = None

BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0
RETRIED = (ConnectionError, TimeoutError, OSError)

T = TypeVar("T")


@dataclass
class _Outage:
    """The deadline of the outermost retrying call, set at its first failure."""

    deadline: float | None = None


_outage: ContextVar[_Outage | None] = ContextVar("redis_outage", default=None)


def pause_after(failures: int) -> float:
    """The backoff after the n-th failure: 0.1, 0.2, 0.4, 0.8, then 1 s each."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**failures)


class WindowRetry(Retry):
    """Retries until `window_s` has passed since the first failure, nested calls included."""

    __slots__ = ("window_s",)

    def __init__(self, window_s: float) -> None:
        super().__init__(NoBackoff(), -1, RETRIED)  # type: ignore[arg-type]
        self.window_s = window_s

    async def call_with_retry(
        self, do: Callable[[], Awaitable[T]], fail: Callable[[RedisError], Any]
    ) -> T:
        outage = _outage.get()
        token = None
        if outage is None:
            outage = _Outage()
            token = _outage.set(outage)
        try:
            failures = 0
            while True:
                try:
                    return await do()
                except self._supported_errors as error:
                    failures += 1
                    await fail(error)
                    now = time.monotonic()
                    if outage.deadline is None:
                        outage.deadline = now + self.window_s
                    pause = pause_after(failures)
                    if now + pause > outage.deadline:
                        raise
                    await asyncio.sleep(pause)
        finally:
            if token is not None:
                _outage.reset(token)


def reconnecting(redis: RedisSettings, window_s: float) -> RedisSettings:
    """`redis` with commands retried through an outage of up to `window_s` seconds."""
    return replace(redis, retry=WindowRetry(window_s), retry_on_error=list(RETRIED))


class ReadyFromBuffers(AbstractConnection):
    """The pool's readiness check before each command, answered without yielding."""

    async def can_read_destructive(self) -> bool:
        """Whether the idle connection holds unread data; ConnectionError if it has ended.

        Data reaches the stream only through the event loop, so what the loop has delivered is
        all a zero-timeout read could find: no need to yield to it. An unknown parser falls
        back to redis-py's read.
        """
        stream, parser = self._reader, self._parser
        if isinstance(parser, _AsyncHiredisParser):
            held = parser._reader is not None and parser._reader.has_data()
        elif isinstance(parser, _AsyncRESPBase):
            held = bool(parser._buffer)
        else:
            return await super().can_read_destructive()
        if stream is None or stream.at_eof() or stream.exception() is not None:
            raise ConnectionError("Connection closed by server.")
        return held or bool(stream._buffer)  # type: ignore[attr-defined]


# hiredis encodes every str as strict UTF-8; a pool set to anything else keeps redis-py's.
_UTF8 = {(name, "strict") for name in ("utf-8", "utf8", "UTF-8", "UTF8")}


class PackedInC(AbstractConnection):
    """Commands packed by hiredis, byte for byte what redis-py's Python loop makes."""

    def pack_command(self, *args: Any) -> list[bytes]:
        encoder = self.encoder
        if hiredis_pack is None or (encoder.encoding, encoder.encoding_errors) not in _UTF8:
            return super().pack_command(*args)
        # As redis-py does: a command name given with its subcommand ("CONFIG GET") is split.
        name = args[0]
        if isinstance(name, str):
            args = (*name.encode().split(), *args[1:])
        elif b" " in name:
            args = (*name.split(), *args[1:])
        try:
            return [hiredis_pack(args)]
        except TypeError as error:  # redis-py's encoder refuses the same values (None, bool...)
            raise DataError(str(error)) from None


class _RetriedHandshake(ReadyFromBuffers, PackedInC):
    async def connect(self) -> None:
        if self.is_connected:
            return
        # The socket connect inside is retried within the same window (WindowRetry nests).
        await self.retry.call_with_retry(super().connect, lambda _error: self.disconnect())


class ReconnectingConnection(_RetriedHandshake, Connection):
    pass


class ReconnectingSSLConnection(_RetriedHandshake, SSLConnection):
    pass


class ReconnectingUnixConnection(_RetriedHandshake, UnixDomainSocketConnection):
    pass


def direct_pool(redis: RedisSettings) -> ArqRedis:
    """An ArqRedis on the server `redis` names, handshakes retried too; not yet connected."""
    where: dict[str, Any]
    if redis.unix_socket_path:
        where = {"connection_class": ReconnectingUnixConnection, "path": redis.unix_socket_path}
    else:
        where = {
            "connection_class": ReconnectingConnection,
            "host": redis.host,
            "port": redis.port,
            "socket_connect_timeout": redis.conn_timeout,
        }
        if redis.ssl:
            where |= {
                "connection_class": ReconnectingSSLConnection,
                "ssl_keyfile": redis.ssl_keyfile,
                "ssl_certfile": redis.ssl_certfile,
                "ssl_cert_reqs": redis.ssl_cert_reqs,
                "ssl_ca_certs": redis.ssl_ca_certs,
                "ssl_ca_data": redis.ssl_ca_data,
                "ssl_check_hostname": redis.ssl_check_hostname,
            }
    pool = ConnectionPool(
        db=redis.database,
        username=redis.username,
        password=redis.password,
        retry=redis.retry,
        retry_on_error=redis.retry_on_error,
        max_connections=redis.max_connections,
        encoding="utf8",
        **where,
    )
    return cast(ArqRedis, ArqRedis.from_pool(pool))


async def answering(pool: ArqRedis) -> ArqRedis:
    """`pool` once Redis answers PING (retried through an outage like any command)."""
    try:
        await pool.ping()
    except BaseException:
        await pool.aclose()
        raise
    return pool
