"""Every process rides out a Redis restart, failover or blip by itself (REDIS_RECONNECT_S).

Each command that fails for want of a connection (refused, reset, timed out, or the server still
loading its AOF after a restart) is retried on a fresh connection with exponential backoff,
capped at one second, until REDIS_RECONNECT_S has passed; only then does the error reach the
caller. So a worker's poll loop, a running job, a chore and a bot handler all wait out an outage
of up to that long and carry on where they were, instead of dying with a ConnectionError (arq's
poll loop otherwise ends the worker). A process that starts while Redis is away waits as long.
With Sentinel (REDIS_SENTINELS, studio/sentinel.py) each fresh connection asks the sentinels for
the master, so the same retries carry a process over a failover to the promoted replica.

A command whose reply was lost may run twice (Redis applied it, the connection died before the
reply). Our writes are compare-and-set scripts, NX sets and idempotent transitions, so a repeat
is refused or changes nothing; the one counter that would not be (a rate bucket) errs towards
sending later.
"""

from __future__ import annotations

import math
from dataclasses import replace

from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 1.0


def retries_within(window_s: float) -> int:
    """How many retries the backoff (0.1, 0.2, 0.4, 0.8, then 1 s each) spends in `window_s`."""
    count, spent = 0, 0.0
    while spent < window_s:
        count += 1
        spent += min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**count)
    return count


def reconnecting(redis: RedisSettings, window_s: float) -> RedisSettings:
    """`redis` with commands retried through an outage of up to `window_s` seconds."""
    return replace(
        redis,
        retry=Retry(
            ExponentialBackoff(cap=BACKOFF_CAP_S, base=BACKOFF_BASE_S), retries_within(window_s)
        ),
        retry_on_error=[ConnectionError, TimeoutError, OSError],
        # Connecting at start: arq tries conn_retries times, conn_retry_delay (1 s) apart.
        conn_retries=max(1, math.ceil(window_s)),
    )
