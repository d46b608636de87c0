"""Calls of one Lua script made in the same turn of the event loop share one round trip.

At saturation many webhook requests take their update, and many handlers read their user's
state or complete their update, within one turn of the event loop. Each call paid a round
trip of its own: a write, a read and a wake-up, with redis-py's per-command layers around
them. A `GroupedScript` sends the calls made in one turn as one pipeline of EVALSHAs (group
commit): each caller still waits for its own reply and sees its own error; the calls of a group
run in the order they were made, each as atomic as alone. A lone call goes as a plain script call,
so a quiet bot pays nothing for the grouping.

A group is sent by a task of its own, so a caller cancelled while waiting leaves the others'
calls alone (its own call may still run, as a command in flight would).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# Calls per pipeline, at most: a busier turn is split into several groups, sent side by side.
MAX_GROUP = 128

_Call = tuple[Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]


class GroupedScript:
    """A registered script whose calls in one turn of the event loop go in one round trip."""

    def __init__(self, redis: Redis, source: str) -> None:
        self._redis = redis
        self._script = redis.register_script(source)
        self._waiting: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()
        self.groups = 0  # groups sent (round trips, counting NOSCRIPT retries as one): tests

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((keys, args, future))
        if len(self._waiting) == 1:
            loop.call_soon(self._send)  # after every task this turn has resumed
        return await future

    def _send(self) -> None:
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), MAX_GROUP):
            task = asyncio.ensure_future(self._run(waiting[start : start + MAX_GROUP]))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _run(self, group: list[_Call]) -> None:
        self.groups += 1
        try:
            if len(group) == 1:
                keys, args, _ = group[0]
                replies: list[Any] = [await self._script(keys=keys, args=args)]
            else:
                replies = await self._pipelined(group)
        except BaseException as error:
            for _, _, future in group:
                if future.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()  # the loop is closing: its callers are cancelled too
                else:
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, _, future), reply in zip(group, replies, strict=True):
            if future.done():
                continue  # its caller was cancelled
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _pipelined(self, group: list[_Call]) -> list[Any]:
        replies = await self._evalsha(group)
        missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            # Redis lost its script cache (a restart, SCRIPT FLUSH): those calls did not run.
            await self._redis.script_load(self._script.script)
            again = await self._evalsha([group[n] for n in missing])
            for n, reply in zip(missing, again, strict=True):
                replies[n] = reply
        return replies

    async def _evalsha(self, group: list[_Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in group:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)


# Each client's scripts by source, so that calls from anywhere in the process share groups.
_BY_CLIENT: WeakKeyDictionary[Redis, dict[str, GroupedScript]] = WeakKeyDictionary()


def grouped(redis: Redis, source: str) -> GroupedScript:
    """`redis`'s one GroupedScript of `source`, made (and registered) on first use."""
    scripts = _BY_CLIENT.setdefault(redis, {})
    script = scripts.get(source)
    if script is None:
        script = scripts[source] = GroupedScript(redis, source)
    return script
