"""The arq queues: enqueueing, place in line, look-ahead, the wait estimate, abort.

The only module that knows arq's keys. Single jobs are asked through `arq.jobs.Job`; what arq
has no call for (the running jobs at the head of the queue, freeing a dead worker's job, the
erasure of an order's jobs) is done here, next to the key names it depends on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import msgpack
from arq.connections import ArqRedis, RedisSettings
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import Job, JobStatus, serialize_job
from arq.utils import timestamp_ms
from redis.asyncio import Redis

from studio import keys
from studio.durations import stage_seconds
from studio.group_commit import grouped
from studio.reconnect import answering, direct_pool, reconnecting
from studio.render_workers import live_render_workers
from studio.sentinel import master_pool
from studio.settings import Settings

CHECK_PHOTO = "check_photo"
FLUSH_INTAKE_STATUS = "flush_intake_status"
RENDER_ORDER = "render_order"
DELIVER_ORDER = "deliver_order"

logger = logging.getLogger(__name__)

# Results landing within one second share one intake status edit (Telegram allows ~1 edit/s/chat).
STATUS_REFRESH_S = 1.0
ABORT_POLL_S = 0.1

# A running job stays in arq's sorted set; a render worker runs one job at a time, so the running
# ones are among the first few members. This many per live worker are inspected for that.
RUNNING_LOOKAHEAD_PER_WORKER = 2


def serialize(obj: Any) -> bytes:
    """msgpack, not pickle: a job payload from Redis must never be able to run code."""
    return msgpack.packb(obj, default=_fallback, use_bin_type=True)


def deserialize(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def _fallback(obj: Any) -> Any:
    # Failed jobs carry an exception as their result; keep its text, drop the object.
    if isinstance(obj, BaseException):
        return f"{type(obj).__name__}: {obj}"
    if isinstance(obj, timedelta):
        return obj.total_seconds()
    return repr(obj)


def redis_settings(settings: Settings) -> RedisSettings:
    """Where Redis is (REDIS_URL, or the master REDIS_SENTINELS name), commands retried through
    an outage or a failover (studio/reconnect.py)."""
    url = RedisSettings.from_dsn(settings.redis_url)
    if settings.sentinel_addresses:
        url = replace(
            url,
            host=settings.sentinel_addresses,
            sentinel=True,
            sentinel_master=settings.redis_sentinel_master,
        )
    return reconnecting(url, settings.redis_reconnect_s)


async def connect_queue(settings: Settings) -> ArqRedis:
    """The arq pool (also a plain redis client, bytes in and out) used by bot and workers,
    once Redis answers."""
    return await answering(queue_pool(settings))


def queue_pool(settings: Settings) -> ArqRedis:
    """The arq pool on REDIS_URL, or on the master the sentinels name; not yet connected.

    Workers are given it too: the pool arq builds from RedisSettings would not retry a handshake
    (studio/reconnect.py)."""
    redis = redis_settings(settings)
    if settings.sentinel_addresses:
        pool = master_pool(redis, settings.redis_sentinel_password)  # studio/sentinel.py
    else:
        pool = direct_pool(redis)  # studio/reconnect.py
    pool.job_serializer = serialize
    pool.job_deserializer = deserialize
    pool.default_queue_name = keys.INTAKE_QUEUE
    return pool


# arq's enqueue_job in one round trip (it takes three: WATCH, EXISTS, then MULTI/EXEC): the job is
# written only if neither it nor its kept result exists, as arq does. KEYS: job, result, queue.
# ARGV: expiry (ms), the serialized job, its score (ms), its id.
#
# Jobs due in the same millisecond keep the order they were enqueued in. Equal scores would sort
# by job id, so a later job with a smaller id would go ahead of an earlier one, which had already
# told its user their place (group commit runs a burst of payments' enqueues within one
# millisecond). So a job goes 1/1024 ms after the last one due in its millisecond: exact in a
# double, and still due within that millisecond for up to 1,024 jobs.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
local score = tonumber(ARGV[3])
local last = redis.call('ZREVRANGEBYSCORE', KEYS[3], string.format('(%.17g', score + 1),
  string.format('%.17g', score), 'WITHSCORES', 'LIMIT', 0, 1)
if last[2] then
  score = tonumber(last[2]) + 1 / 1024
end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], string.format('%.17g', score), ARGV[4])
return 1
"""


async def _enqueue(
    queue: ArqRedis,
    function: str,
    *args: Any,
    job_id: str,
    queue_name: str,
    defer_by_s: float = 0.0,
    expires: timedelta | None = None,
) -> bool:
    """Enqueue job `job_id` as arq's enqueue_job would; False if it or its result exists.

    One script, so one round trip, retried through a Redis outage like every other command
    (arq's WATCH turned a connection lost mid-transaction into a WatchError no retry covered).
    A repeat after a lost reply finds the job there and answers False: an id is enqueued once.
    """
    now_ms = timestamp_ms()
    score = now_ms + round(defer_by_s * 1000)
    expires_ms = (
        round(expires.total_seconds() * 1000)
        if expires is not None
        else score - now_ms + queue.expires_extra_ms
    )
    job = serialize_job(function, args, {}, None, now_ms, serializer=queue.job_serializer)
    # Enqueues made together (a burst of photos) share a round trip.
    written = await grouped(queue, _ENQUEUE)(
        keys=[job_key_prefix + job_id, result_key_prefix + job_id, queue_name],
        args=[expires_ms, job, score, job_id],
    )
    return bool(written)


async def enqueue_check_photo(queue: ArqRedis, order_id: str, token: str) -> bool:
    return await _enqueue(
        queue,
        CHECK_PHOTO,
        order_id,
        token,
        job_id=f"check:{order_id}:{token}",
        queue_name=keys.INTAKE_QUEUE,
    )


async def enqueue_render(queue: ArqRedis, order_id: str, settings: Settings) -> bool:
    """Exactly one render job per order: the job id is the order id. False if already there."""
    return await _enqueue(
        queue,
        RENDER_ORDER,
        order_id,
        job_id=order_id,
        queue_name=keys.RENDER_QUEUE,
        # arq's default expiry is a day after the expected start; a deep queue must outlast it.
        expires=timedelta(days=settings.render_job_expires_days),
    )


def delivery_job_id(order_id: str) -> str:
    return f"deliver:{order_id}"


async def enqueue_delivery(queue: ArqRedis, order_id: str) -> bool:
    """One delivery job per order at a time (its id names the order); False if already there."""
    return await _enqueue(
        queue,
        DELIVER_ORDER,
        order_id,
        job_id=delivery_job_id(order_id),
        queue_name=keys.DELIVERY_QUEUE,
    )


async def delivery_job_status(redis: Redis, order_id: str) -> JobStatus:
    job = Job(
        delivery_job_id(order_id), redis, _queue_name=keys.DELIVERY_QUEUE, _deserializer=deserialize
    )
    return await job.status()


async def rerun_render(queue: ArqRedis, order_id: str, settings: Settings) -> bool:
    """Enqueue the order's render again although its last job finished (its result is kept).

    For an order handed to delivery whose outbox expired before it was sent: the render makes
    the same images again (seeds come from the order id) and delivery skips what was sent.
    """
    await queue.delete(result_key_prefix + order_id)
    return await enqueue_render(queue, order_id, settings)


async def schedule_status_refresh(queue: ArqRedis, order_id: str) -> None:
    """One intake status edit per order per second, however many results arrive in it."""
    bucket = int(time.time() / STATUS_REFRESH_S)
    await _enqueue(
        queue,
        FLUSH_INTAKE_STATUS,
        order_id,
        job_id=f"flush:{order_id}:{bucket}",
        defer_by_s=STATUS_REFRESH_S,
        queue_name=keys.INTAKE_QUEUE,
    )


def _render_job(redis: Redis, order_id: str) -> Job:
    return Job(order_id, redis, _queue_name=keys.RENDER_QUEUE, _deserializer=deserialize)


async def render_job_status(redis: Redis, order_id: str) -> JobStatus:
    """Queued, deferred, in progress, complete (a kept result) or not found."""
    return await _render_job(redis, order_id).status()


async def render_job_exists(redis: Redis, order_id: str) -> bool:
    """Queued or running."""
    status = await render_job_status(redis, order_id)
    return status in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress)


async def queued_among(redis: Redis, order_ids: Sequence[str]) -> list[bool]:
    """Whether each order has a member in the render queue (queued or running), in one trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for order_id in order_ids:
            pipe.zscore(keys.RENDER_QUEUE, order_id)
        return [score is not None for score in await pipe.execute()]


async def abort_render(redis: Redis, order_id: str, wait_s: float = 15.0) -> bool:
    """Take the order's render job out of the queue, or abort it and wait until it has stopped.

    Callers first move the order out of paid/rendering, so a job that slips past this still
    finds nothing to do. A running job is aborted the way `Job.abort` does it (the abort set);
    `Job.abort` itself then waits for a result, which a job that stops early may never write.
    """
    job = _render_job(redis, order_id)
    if await job.status() is not JobStatus.in_progress:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.RENDER_QUEUE, order_id)
            pipe.delete(job_key_prefix + order_id)
            await pipe.execute()
        return True
    await redis.zadd(abort_jobs_ss, {order_id: timestamp_ms()})
    deadline = time.monotonic() + wait_s
    while await job.status() is JobStatus.in_progress:
        if time.monotonic() > deadline:
            logger.warning("render job %s did not stop within %.0fs", order_id, wait_s)
            return False
        await asyncio.sleep(ABORT_POLL_S)
    return True


async def _head(redis: Redis, count: int) -> list[tuple[str, bool]]:
    """The first `count` members of the render queue, each with whether it is running now.

    A running job stays in arq's sorted set; a render worker runs one job at a time, so the
    running ones are among the first few members (RUNNING_LOOKAHEAD_PER_WORKER per worker).
    """
    if count <= 0:
        return []
    head = [m.decode() for m in await redis.zrange(keys.RENDER_QUEUE, 0, count - 1)]
    if not head:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in head:
            pipe.exists(in_progress_key_prefix + job_id)
        running = [bool(x) for x in await pipe.execute()]
    return list(zip(head, running, strict=True))


def _lookahead(workers: int) -> int:
    return max(1, workers) * RUNNING_LOOKAHEAD_PER_WORKER


async def queue_position(redis: Redis, order_id: str, workers: int | None = None) -> int | None:
    """1 = next to start. None when the order is not waiting (running, done, or unknown).

    O(log n): a rank lookup plus an in-progress check of the few jobs at the head.
    """
    if workers is None:
        workers = await live_render_workers(redis)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrank(keys.RENDER_QUEUE, order_id)
        pipe.exists(in_progress_key_prefix + order_id)
        rank, running = await pipe.execute()
    if rank is None or running:
        return None
    head = await _head(redis, min(rank, _lookahead(workers)))
    return int(rank) - sum(running for _, running in head) + 1


async def orders_at_positions(
    redis: Redis, positions: Sequence[int], workers: int
) -> dict[int, str]:
    """Order id waiting at each of `positions` (1 = next to start), in three round trips.

    Only the head slice is checked for running jobs (as in `queue_position`); every other
    position is a plain rank offset past the running ones.
    """
    head = await _head(redis, _lookahead(workers))
    waiting_head = [job_id for job_id, running in head if not running]
    running_count = len(head) - len(waiting_head)
    found: dict[int, str] = {}
    deeper: list[int] = []
    for position in positions:
        if position <= len(waiting_head):
            found[position] = waiting_head[position - 1]
        else:
            deeper.append(position)
    if deeper:
        async with redis.pipeline(transaction=False) as pipe:
            for position in deeper:
                rank = position - 1 + running_count
                pipe.zrange(keys.RENDER_QUEUE, rank, rank)
            for position, members in zip(deeper, await pipe.execute(), strict=True):
                if members:
                    found[position] = members[0].decode()
    return found


async def queue_length(redis: Redis) -> int:
    return int(await redis.zcard(keys.RENDER_QUEUE))


async def shown_positions(redis: Redis, order_ids: Sequence[str]) -> list[int | None]:
    """The queue position each order's notice shows now (None: never shown)."""
    shown = await redis.hmget(keys.QUEUE_NOTICES, list(order_ids))  # type: ignore[misc]
    return [None if raw is None else int(raw) for raw in shown]


async def remember_position(redis: Redis, order_id: str, position: int) -> None:
    await redis.hset(keys.QUEUE_NOTICES, order_id, str(position))  # type: ignore[misc]


async def eta_seconds(
    redis: Redis, position: int, settings: Settings, workers: int | None = None
) -> float:
    """Seconds until this order's portraits are in the chat: waves of renders ahead, its own,
    then its sending. Infinite when no render worker is online (nobody can give a time)."""
    if workers is None:
        workers = await live_render_workers(redis)
    if workers <= 0:
        return math.inf
    per_render, sending = await stage_seconds(redis, settings)
    waves = math.ceil(position / workers)
    return waves * per_render + sending


async def wait_for_new_order(redis: Redis, settings: Settings) -> float:
    """Seconds until a set ordered now would be ready: everyone queued, then this one."""
    workers = await live_render_workers(redis)
    waiting = await queue_length(redis) - await running_renders(redis, workers)
    return await eta_seconds(redis, max(0, waiting - workers) + 1, settings, workers)


async def running_renders(redis: Redis, workers: int) -> int:
    """Renders running now (found among the first members of the queue)."""
    return sum(running for _, running in await _head(redis, _lookahead(workers)))


async def place_and_eta(
    redis: Redis, settings: Settings, order_id: str
) -> tuple[int | None, float]:
    """(place, seconds) for a waiting order; (None, seconds) when it is starting or running.

    Counts live workers and the renders they run: with two free workers the first two payers
    start at once (no place), the third is first in line. Seconds include the sending time,
    and are infinite when no render worker is online.

    The running renders ahead of the order and those in all are read from one look at the
    head of the queue: read apart, a render starting between the two reads made the second
    of two payers on two free workers "place 1" (seen in the scale-out test under load).
    Round trips: live workers (1), rank and head (1), which are running (1), the estimate (1).
    """
    workers = await live_render_workers(redis)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrank(keys.RENDER_QUEUE, order_id)
        pipe.zrange(keys.RENDER_QUEUE, 0, _lookahead(workers) - 1)
        rank, members = await pipe.execute()
    head = [m.decode() for m in members]
    looked_at = head if order_id in head else [*head, order_id]
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in looked_at:
            pipe.exists(in_progress_key_prefix + job_id)
        running = dict(zip(looked_at, (bool(x) for x in await pipe.execute()), strict=True))
    if running[order_id]:
        return None, await eta_seconds(redis, 1, settings, workers)
    if rank is None:
        return None, 0.0  # not queued: done, or unknown
    rank = int(rank)
    ahead = head[:rank]  # the running renders are all among the head's members
    position = rank - sum(running[job_id] for job_id in ahead) + 1
    free = max(0, workers - sum(running[job_id] for job_id in head))
    if position <= free:
        return None, await eta_seconds(redis, 1, settings, workers)  # a free worker takes it
    place = position - free
    return place, await eta_seconds(redis, place, settings, workers)


# The reconciler keeps its first sighting of a lease-less running job this much longer than the
# grace it waits out, so that its next run (every 30 s) still finds it.
SUSPECT_SLACK_S = 120

# KEYS: arq in-progress key, render lease, suspect. ARGV: suspect TTL ms, grace ms.
# A job is freed only when two sightings at least `grace` apart both found it running without
# a lease, and the in-progress key is the same one both times (its TTL only went down: arq
# sets a fresh key, with a full TTL, whenever a worker starts the job).
_FREE_DEAD = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[3])
  return 0
end
local seen = redis.call('GET', KEYS[3])
if not seen or ttl > tonumber(seen) then
  redis.call('SET', KEYS[3], tostring(ttl), 'PX', ARGV[1])
  return 0
end
if redis.call('PTTL', KEYS[3]) > tonumber(ARGV[1]) - tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[3])
return 1
"""


async def free_dead_render(redis: Redis, order_id: str, lease_s: float) -> bool:
    """Free arq's in-progress key of a render that has had no live lease for `lease_s`.

    arq's in-progress key names no owner and lives for the job timeout: a render whose worker
    was killed would wait that long. The first call only records a sighting; a later one, at
    least `lease_s` after it, frees the job (a worker runs it again, as a new try) if it is
    still the same running job and still without a lease. True when the job was freed.
    """
    return await _free_dead(
        redis, order_id, keys.render_lease(order_id), keys.render_suspect(order_id), lease_s
    )


async def free_dead_delivery(redis: Redis, order_id: str, lease_s: float) -> bool:
    """`free_dead_render` for the order's delivery job and its delivery lease."""
    return await _free_dead(
        redis,
        delivery_job_id(order_id),
        keys.delivery_lease(order_id),
        keys.delivery_suspect(order_id),
        lease_s,
    )


async def _free_dead(
    redis: Redis, job_id: str, lease_key: str, suspect_key: str, lease_s: float
) -> bool:
    grace_ms = int(lease_s * 1000)
    script = redis.register_script(_FREE_DEAD)
    freed = await script(
        keys=[in_progress_key_prefix + job_id, lease_key, suspect_key],
        args=[grace_ms + SUSPECT_SLACK_S * 1000, grace_ms],
    )
    return bool(freed)


# Every key arq keeps for one job id.
_JOB_KEY_PREFIXES = (job_key_prefix, in_progress_key_prefix, result_key_prefix, retry_key_prefix)


async def forget_order_jobs(redis: Redis, order_id: str) -> set[bytes]:
    """Take the order's jobs out of the queues; the arq keys that may still name it, to delete.

    No keyspace walk: the render job's id is the order id, and every live intake job of the
    order (photo checks, status refreshes: their ids hold the order id) is a member of the
    intake queue, queued or running. Finished intake jobs keep no result (keep_result=0).
    """
    intake = [m async for m, _ in redis.zscan_iter(keys.INTAKE_QUEUE, match=f"*:{order_id}:*")]
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(keys.RENDER_QUEUE, order_id)
        pipe.zrem(abort_jobs_ss, order_id)
        if intake:
            pipe.zrem(keys.INTAKE_QUEUE, *intake)
        await pipe.execute()
    delivery = delivery_job_id(order_id)
    await redis.zrem(keys.DELIVERY_QUEUE, delivery)
    job_ids = [order_id, delivery, *(m.decode() for m in intake)]
    return {f"{prefix}{job_id}".encode() for prefix in _JOB_KEY_PREFIXES for job_id in job_ids}
