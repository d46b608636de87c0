"""The arq queues: enqueueing, place in line and the wait estimate."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import msgpack
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from studio import keys
from studio.settings import Settings

CHECK_PHOTO = "check_photo"
FLUSH_INTAKE_STATUS = "flush_intake_status"
RENDER_ORDER = "render_order"

# A running job stays in arq's sorted set; a render worker runs one job at a time, so the running
# ones are among the first few members. This many per live worker are inspected for that.
RUNNING_LOOKAHEAD_PER_WORKER = 2
EWMA_ALPHA = 0.2


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
    return RedisSettings.from_dsn(settings.redis_url)


async def connect_queue(settings: Settings) -> ArqRedis:
    """The arq pool (also a plain redis client, bytes in and out) used by bot and workers."""
    return await create_pool(
        redis_settings(settings),
        job_serializer=serialize,
        job_deserializer=deserialize,
        default_queue_name=keys.INTAKE_QUEUE,
    )


async def enqueue_check_photo(queue: ArqRedis, order_id: str, token: str) -> bool:
    job = await queue.enqueue_job(
        CHECK_PHOTO,
        order_id,
        token,
        _job_id=f"check:{order_id}:{token}",
        _queue_name=keys.INTAKE_QUEUE,
    )
    return job is not None


async def enqueue_render(queue: ArqRedis, order_id: str, settings: Settings) -> bool:
    """Exactly one render job per order: the job id is the order id. False if already there."""
    job = await queue.enqueue_job(
        RENDER_ORDER,
        order_id,
        _job_id=order_id,
        _queue_name=keys.RENDER_QUEUE,
        # arq's default expiry is a day after the expected start; a deep queue must outlast it.
        _expires=timedelta(days=settings.render_job_expires_days),
    )
    return job is not None


async def render_job_exists(redis: Redis, order_id: str) -> bool:
    """Queued or running (arq's queue member, job key or in-progress key)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zscore(keys.RENDER_QUEUE, order_id)
        pipe.exists(in_progress_key_prefix + order_id)
        queued, running = await pipe.execute()
    return queued is not None or bool(running)


async def live_render_workers(redis: Redis) -> int:
    count = 0
    async for _ in redis.scan_iter(match=keys.RENDER_HEALTH_PREFIX + "*", count=100):
        count += 1
    return count


async def queue_position(redis: Redis, order_id: str, workers: int | None = None) -> int | None:
    """1 = next to start. None when the order is not waiting (running, done, or unknown).

    O(log n): a rank lookup plus an in-progress check of the few jobs at the head.
    """
    if workers is None:
        workers = await live_render_workers(redis)
    rank = await redis.zrank(keys.RENDER_QUEUE, order_id)
    if rank is None or await redis.exists(in_progress_key_prefix + order_id):
        return None
    lookahead = min(rank, max(1, workers) * RUNNING_LOOKAHEAD_PER_WORKER)
    head = await redis.zrange(keys.RENDER_QUEUE, 0, lookahead - 1) if lookahead else []
    running_ahead = 0
    if head:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in head:
                pipe.exists(in_progress_key_prefix + job_id.decode())
            running_ahead = sum(bool(x) for x in await pipe.execute())
    return int(rank) - running_ahead + 1


async def render_seconds(redis: Redis, settings: Settings) -> float:
    raw = await redis.get(keys.RENDER_DURATION_EWMA)
    return float(raw) if raw else settings.render_seconds_default


_EWMA = """
local old = redis.call('GET', KEYS[1])
local new = tonumber(ARGV[1])
if old then new = tonumber(old) * (1 - tonumber(ARGV[2])) + new * tonumber(ARGV[2]) end
redis.call('SET', KEYS[1], tostring(new))
return tostring(new)
"""


async def record_render_duration(redis: Redis, seconds: float) -> float:
    """Fold one finished render into the moving average the ETA uses."""
    script = redis.register_script(_EWMA)
    return float(await script(keys=[keys.RENDER_DURATION_EWMA], args=[seconds, EWMA_ALPHA]))


async def eta_seconds(
    redis: Redis, position: int, settings: Settings, workers: int | None = None
) -> float:
    """Seconds until this order's render is finished: waves of the workers ahead, plus its own."""
    if workers is None:
        workers = await live_render_workers(redis)
    per_render = await render_seconds(redis, settings)
    waves = math.ceil(position / max(1, workers))
    return waves * per_render
