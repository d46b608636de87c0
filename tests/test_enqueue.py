"""Jobs enqueued in one round trip (studio/queue.py) are the jobs arq's enqueue_job would write.

arq's own readers (Job.info, Job.status) and its rules are the reference: an id is enqueued
once, and not again while its kept result lasts; the expiry and the deferral are arq's; jobs due
in the same millisecond keep their enqueue order (a tie in arq's would sort by id). A real
arq worker running such jobs end to end: tests/test_render_worker.py and the intake tests.
"""

from __future__ import annotations

import asyncio
import time

from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import Job, JobStatus

from studio import keys
from studio.domain import Studio
from studio.group_commit import grouped
from studio.queue import (
    _ENQUEUE,
    CHECK_PHOTO,
    RENDER_ORDER,
    STATUS_REFRESH_S,
    deserialize,
    enqueue_check_photo,
    enqueue_render,
    schedule_status_refresh,
)


def _job(studio: Studio, job_id: str, queue: str) -> Job:
    return Job(job_id, studio.redis, _queue_name=queue, _deserializer=deserialize)


async def test_a_job_reads_back_through_arq_as_arq_would_have_written_it(studio: Studio) -> None:
    before_ms = time.time() * 1000 - 1  # arq counts whole milliseconds
    assert await enqueue_check_photo(studio.redis, "order-1", "token-1")

    job = _job(studio, "check:order-1:token-1", keys.INTAKE_QUEUE)
    assert await job.status() is JobStatus.queued
    info = await job.info()
    assert info is not None
    assert (info.function, info.args, info.kwargs, info.job_try) == (
        CHECK_PHOTO,
        ["order-1", "token-1"],  # msgpack gives a list back, for arq's writes too
        {},
        None,
    )
    assert before_ms <= info.enqueue_time.timestamp() * 1000 <= time.time() * 1000 + 1
    assert info.score is not None and before_ms <= info.score <= time.time() * 1000 + 1
    # arq's default expiry: a day after the expected start.
    ttl_ms = await studio.redis.pttl(job_key_prefix + "check:order-1:token-1")
    assert 86_400_000 - 60_000 < ttl_ms <= 86_400_000


async def test_an_id_is_enqueued_once_and_not_again_while_its_result_is_kept(
    studio: Studio,
) -> None:
    assert await enqueue_render(studio.redis, "order-2", studio.settings)
    assert not await enqueue_render(studio.redis, "order-2", studio.settings)
    assert await studio.redis.zcard(keys.RENDER_QUEUE) == 1

    # Done: arq deletes the job and keeps its result for a while.
    await studio.redis.delete(job_key_prefix + "order-2")
    await studio.redis.zrem(keys.RENDER_QUEUE, "order-2")
    await studio.redis.set(result_key_prefix + "order-2", b"kept")
    assert not await enqueue_render(studio.redis, "order-2", studio.settings)
    assert await studio.redis.zcard(keys.RENDER_QUEUE) == 0

    await studio.redis.delete(result_key_prefix + "order-2")
    assert await enqueue_render(studio.redis, "order-2", studio.settings)


async def test_a_render_job_outlasts_a_deep_queue_and_a_refresh_is_deferred(
    studio: Studio,
) -> None:
    assert await enqueue_render(studio.redis, "order-3", studio.settings)
    info = await _job(studio, "order-3", keys.RENDER_QUEUE).info()
    assert info is not None and info.function == RENDER_ORDER
    ttl_ms = await studio.redis.pttl(job_key_prefix + "order-3")
    days_ms = studio.settings.render_job_expires_days * 86_400_000
    assert days_ms - 60_000 < ttl_ms <= days_ms

    before_ms = time.time() * 1000 - 1  # arq counts whole milliseconds
    await schedule_status_refresh(studio.redis, "order-3")
    bucket = int(time.time() / STATUS_REFRESH_S)
    for job_id in (f"flush:order-3:{bucket}", f"flush:order-3:{bucket - 1}"):
        score = await studio.redis.zscore(keys.INTAKE_QUEUE, job_id)
        if score is not None:
            break
    assert score is not None
    assert before_ms + STATUS_REFRESH_S * 1000 <= score <= time.time() * 1000 + 1001
    status = await _job(studio, job_id, keys.INTAKE_QUEUE).status()
    assert status is JobStatus.deferred


async def test_jobs_due_in_the_same_millisecond_keep_their_enqueue_order(studio: Studio) -> None:
    """Equal scores would sort by id: the later "order-a" would go ahead of "order-z", whose
    user had already been told their place (seen with a burst of payments in one pipeline)."""
    enqueue = grouped(studio.redis, _ENQUEUE)
    due_ms = 1_800_000_000_000

    async def at(job_id: str, score_ms: int) -> None:
        keys_ = [job_key_prefix + job_id, result_key_prefix + job_id, keys.RENDER_QUEUE]
        assert await enqueue(keys=keys_, args=[60_000, b"job", score_ms, job_id])

    await at("order-next-ms", due_ms + 1)
    ids = [f"order-{letter}" for letter in "zyxwvutsrq"]  # each sorts before the one before it
    # Together, as group commit sends them (one pipeline), and one at a time.
    await asyncio.gather(*(at(job_id, due_ms) for job_id in ids[:5]))
    for job_id in ids[5:]:
        await at(job_id, due_ms)
    await at("order-earlier-ms", due_ms - 1)

    queued = await studio.redis.zrange(keys.RENDER_QUEUE, 0, -1, withscores=True)
    assert [member.decode() for member, _ in queued] == [
        "order-earlier-ms",
        *ids,
        "order-next-ms",
    ]
    scores = [score for _, score in queued]
    assert scores[0] == due_ms - 1 and scores[-1] == due_ms + 1  # alone in their millisecond
    assert all(due_ms <= score < due_ms + 1 for score in scores[1:-1])  # still due in it
    assert scores[1] == due_ms and len(set(scores)) == len(scores)
