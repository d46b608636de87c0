"""Disk compaction: after an erasure, Redis rewrites its files from the data as it is now.

Deleting a key removes it from memory only: the append-only file keeps every write until it is
rewritten, and an RDB snapshot keeps what it saw. So erasure marks a compaction due (a key
holding the Redis server time of its last write) and then `compact` has Redis rewrite the AOF
(BGREWRITEAOF: a new base from memory; the old base and increment files are deleted) and, when
snapshots are on, save the RDB again (BGSAVE). The deleting process compacts at once; the intake
worker's cron (`jobs/retention.py::compact_disk`) compacts whenever a mark is newer than the last
completed compaction, so a process killed mid-erasure, or a Redis restart, still ends compacted.

A compaction covers a write when its rewrite forked after the write. `compact` waits until no
rewrite of that kind runs (one forked earlier may predate the write), notes Redis's count of
finished rewrites, starts one (or finds one just started by another process), and waits for the
count to move. Concurrent erasures share one compaction: a caller whose write is older than the
start of a compaction that completed meanwhile returns without starting another.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from studio import keys

logger = logging.getLogger(__name__)

POLL_S = 0.05

# Sets the key to the server time and returns it: one clock for every process.
_MARK = """
local t = redis.call('TIME')
local now = string.format('%d.%06d', t[1], t[2])
redis.call('SET', KEYS[1], now)
return now
"""


class CompactionFailed(RuntimeError):
    """Redis could not rewrite its files (disk full, fork refused, timeout)."""


@dataclass(frozen=True)
class Child:
    """One kind of Redis background rewrite, as INFO persistence reports it."""

    command: tuple[str, ...]
    finished: str  # counter of completed rewrites
    running: tuple[str, ...]  # fields that are 1 while one runs or waits to run
    status: str


AOF = Child(
    ("BGREWRITEAOF",),
    "aof_rewrites",
    ("aof_rewrite_in_progress", "aof_rewrite_scheduled"),
    "aof_last_bgrewrite_status",
)
RDB = Child(
    ("BGSAVE", "SCHEDULE"), "rdb_saves", ("rdb_bgsave_in_progress",), "rdb_last_bgsave_status"
)


@dataclass(frozen=True)
class Compaction:
    """What one `compact` call did."""

    ran: bool  # False: a compaction that began after the write had completed already
    aof: bool
    rdb: bool
    seconds: float
    waited_s: float = 0.0  # for rewrites that were running already (they predate the write)
    aof_s: float = 0.0
    rdb_s: float = 0.0


async def server_time(redis: Redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1_000_000


async def mark_due(redis: Redis) -> float:
    """Record that everything written until now must leave the disk; the server time recorded."""
    return float(await redis.eval(_MARK, 1, keys.COMPACTION_DUE))  # type: ignore[misc]


async def due_since(redis: Redis) -> float | None:
    """The mark not yet covered by a completed compaction, or None when the disk is clean."""
    due, done = await redis.mget(keys.COMPACTION_DUE, keys.COMPACTED_AT)
    if due is None:
        return None
    return float(due) if done is None or float(due) >= float(done) else None


async def compact(redis: Redis, since: float | None = None, timeout_s: float = 600.0) -> Compaction:
    """Rewrite the AOF (and the RDB when snapshots are on) so no write up to `since` is on disk.

    `since` None: compact unconditionally. Raises CompactionFailed on a failed or timed-out
    rewrite; the mark stays, so the cron tries again.
    """
    loop = asyncio.get_running_loop()
    began = loop.time()
    deadline = began + timeout_s
    info = await redis.info("persistence")
    aof_on = int(info.get("aof_enabled", 0)) == 1
    rdb_on = await _snapshots_on(redis)
    started: float | None = None
    spent = {"wait": 0.0, "aof": 0.0, "rdb": 0.0}
    for name, child, wanted in (("aof", AOF, aof_on), ("rdb", RDB, rdb_on)):
        if not wanted:
            continue
        mark = loop.time()
        info = await _wait_idle(redis, child, deadline)
        spent["wait"] += loop.time() - mark
        if child.finished not in info:
            raise CompactionFailed(f"Redis 7 or later is needed (INFO has no {child.finished})")
        if started is None:
            started = await server_time(redis)
            if since is not None and not await _still_due(redis, since):
                return Compaction(False, False, False, loop.time() - began, spent["wait"])
        mark = loop.time()
        await _run(redis, child, int(info[child.finished]), deadline)
        spent[name] = loop.time() - mark
    if started is None:  # no persistence: nothing on disk to compact
        started = await server_time(redis)
    await redis.set(keys.COMPACTED_AT, f"{started:.6f}")
    seconds = loop.time() - began
    logger.info("disk compacted in %.2f s (aof=%s, rdb=%s)", seconds, aof_on, rdb_on)
    return Compaction(True, aof_on, rdb_on, seconds, spent["wait"], spent["aof"], spent["rdb"])


async def compact_if_due(redis: Redis, timeout_s: float = 600.0) -> Compaction | None:
    """The cron's check: compact when a mark is newer than the last completed compaction."""
    since = await due_since(redis)
    return None if since is None else await compact(redis, since, timeout_s)


async def _still_due(redis: Redis, since: float) -> bool:
    done = await redis.get(keys.COMPACTED_AT)
    return done is None or float(done) <= since


async def _snapshots_on(redis: Redis) -> bool:
    try:
        save = (await redis.config_get("save")).get("save", "")
    except ResponseError:  # CONFIG disabled (managed Redis): assume the default snapshots
        return True
    return bool(str(save).strip())


async def _wait_idle(redis: Redis, child: Child, deadline: float) -> dict[str, Any]:
    """INFO persistence once no rewrite of this kind runs or waits (it may predate the write)."""
    while True:
        info = await redis.info("persistence")
        if not any(int(info.get(name, 0)) for name in child.running):
            return info
        await _pause(deadline, child)


async def _run(redis: Redis, child: Child, finished_before: int, deadline: float) -> None:
    try:
        await redis.execute_command(*child.command)
    except ResponseError as exc:
        # Another process started one after we saw none running: it forked after the write too.
        if "in progress" not in str(exc) and "child process" not in str(exc).lower():
            raise CompactionFailed(f"{child.command[0]} refused: {exc}") from exc
    while True:
        info = await redis.info("persistence")
        done = int(info[child.finished]) > finished_before
        if done and not any(int(info.get(name, 0)) for name in child.running):
            if info.get(child.status) != "ok":
                raise CompactionFailed(f"{child.command[0]} failed: {info.get(child.status)}")
            return
        await _pause(deadline, child)


async def _pause(deadline: float, child: Child) -> None:
    if asyncio.get_running_loop().time() > deadline:
        raise CompactionFailed(f"{child.command[0]} did not finish in time")
    await asyncio.sleep(POLL_S)
