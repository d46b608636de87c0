"""The ETA counts live render workers from a registry and their health keys, never a key walk."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from studio import keys
from studio.domain import Studio
from studio.render_workers import (
    WORKER_START_GRACE_S,
    live_render_workers,
    register_render_worker,
    unregister_render_worker,
)
from studio.settings import Settings
from tests.fixtures.bot import RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


async def _until(redis: Redis, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while await live_render_workers(redis) != count:
        assert time.monotonic() < deadline, await live_render_workers(redis)
        await asyncio.sleep(0.05)


async def test_real_render_workers_are_counted_while_they_run(
    redis: Redis, render_workers: RenderWorkerStarter
) -> None:
    assert await live_render_workers(redis) == 0
    first = await render_workers()
    # One at a time: two model loads at once in one process race inside transformers' lazy
    # initialisation (production runs one render worker per process).
    await _until(redis, 1)
    await render_workers()
    await _until(redis, 2)
    await first.close()  # a clean stop unregisters at once
    await _until(redis, 1, timeout=10)


async def test_a_dead_worker_stops_counting_and_leaves_the_registry(studio: Studio) -> None:
    redis = studio.redis
    await register_render_worker(redis, "alive")
    await redis.set(keys.RENDER_HEALTH_PREFIX + "alive", b"ok", ex=30)
    await register_render_worker(redis, "starting")  # no health key yet: not counted, kept
    long_ago = time.time() - WORKER_START_GRACE_S - 1
    await redis.zadd(keys.RENDER_WORKERS, {"dead": long_ago})  # killed: health key lapsed

    assert await live_render_workers(redis) == 1
    assert await redis.zscore(keys.RENDER_WORKERS, "dead") is None
    assert await redis.zscore(keys.RENDER_WORKERS, "starting") is not None

    await redis.set(keys.RENDER_HEALTH_PREFIX + "starting", b"ok", ex=30)
    assert await live_render_workers(redis) == 2
    await unregister_render_worker(redis, "alive")
    assert await live_render_workers(redis) == 1
