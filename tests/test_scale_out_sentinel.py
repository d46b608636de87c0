"""The scale-out run of tests/test_scale_out.py with Redis behind Sentinel.

Every process (two webhook replicas, one intake, two render and one delivery worker) finds the
master through a real redis-sentinel (Debian's package) with REDIS_SENTINELS set; REDIS_URL's
host is unused. The same twenty users, the same assertions: once each, both workers, places
and ETAs for two workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from studio.clock import ManualClock
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.redis_server import RedisServer, SentinelSet
from tests.fixtures.studio import SettingsFactory
from tests.test_scale_out import run_scale_out

pytestmark = pytest.mark.chaos


@pytest.fixture
def redis_server(redis_sentinel: SentinelSet) -> RedisServer:
    """The master: the `redis` fixture flushes it (and checks it is ours) before the test."""
    return redis_sentinel.master


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return "redis://unused.invalid:1/0"  # only the database and credentials count


async def test_twenty_users_through_sentinel(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
    redis_sentinel: SentinelSet,
) -> None:
    await run_scale_out(
        make_settings,
        emulator,
        redis,
        clock,
        tiny_models_dir,
        "Sentinel",
        redis_sentinels=(redis_sentinel.sentinels,),
        redis_sentinel_master=redis_sentinel.name,
    )
