"""Redis is the system of record: at start, every process checks that it is configured as one.

Read with CONFIG GET: a server that forgets writes on restart (no AOF, or an AOF that the OS
flushes when it likes) or that evicts keys under memory pressure (any maxmemory-policy but
noeviction: our sessions, orders and dedupe keys carry TTLs, so even the volatile-* policies
would drop them) loses orders and payments. Dev mode warns; production mode refuses to start.
A server that refuses CONFIG (some managed offerings rename it) is reported and let through:
then its operator vouches for the settings (docs/OPERATIONS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from studio.queue import connect_queue
from studio.settings import Mode, Settings

logger = logging.getLogger(__name__)

CHECKED = ("appendonly", "appendfsync", "maxmemory-policy", "save")
SAFE_FSYNC = frozenset({"everysec", "always"})


class UnsafeRedisConfig(RuntimeError):
    """Production refuses a Redis that can lose or evict what it holds."""


@dataclass(frozen=True)
class ConfigFinding:
    setting: str
    value: str
    why: str

    def __str__(self) -> str:
        return f"{self.setting}={self.value!r}: {self.why}"


def findings(config: Mapping[str, str]) -> list[ConfigFinding]:
    """What is unsafe in a CONFIG GET answer (empty when the server is fit to be the record)."""
    found: list[ConfigFinding] = []
    appendonly = config.get("appendonly", "")
    if appendonly != "yes":
        snapshots = "RDB snapshots only" if config.get("save") else "no persistence at all"
        found.append(
            ConfigFinding(
                "appendonly",
                appendonly,
                f"{snapshots}: a restart loses the writes since the last snapshot (orders, "
                "payments); run with appendonly yes",
            )
        )
    elif config.get("appendfsync", "") not in SAFE_FSYNC:
        found.append(
            ConfigFinding(
                "appendfsync",
                config.get("appendfsync", ""),
                "the OS flushes the AOF when it likes (up to ~30 s of writes lost on a crash); "
                "use everysec",
            )
        )
    policy = config.get("maxmemory-policy", "")
    if policy != "noeviction":
        found.append(
            ConfigFinding(
                "maxmemory-policy",
                policy,
                "Redis may evict keys when full (sessions, orders, dedupe keys all carry "
                "TTLs); use noeviction so a full Redis refuses writes instead",
            )
        )
    return found


async def read_config(redis: Redis) -> dict[str, str]:
    """The checked settings, decoded; raises ResponseError when CONFIG is not allowed."""
    async with redis.pipeline(transaction=False) as pipe:
        for name in CHECKED:
            pipe.config_get(name)
        answers = await pipe.execute()
    return {_text(k): _text(v) for answer in answers for k, v in answer.items()}


async def check_redis_config(redis: Redis, mode: Mode) -> list[ConfigFinding]:
    """Warn about each unsafe setting; in production raise UnsafeRedisConfig instead."""
    try:
        config = await read_config(redis)
    except ResponseError as exc:
        logger.warning(
            "Redis refuses CONFIG GET (%s): persistence and eviction were not checked", exc
        )
        return []
    found = findings(config)
    for finding in found:
        logger.warning("Redis is not safe as the system of record: %s", finding)
    if found and mode is Mode.PROD:
        raise UnsafeRedisConfig(
            "refusing to start in production mode: " + "; ".join(map(str, found))
        )
    return found


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def check_redis_at_start(settings: Settings) -> list[ConfigFinding]:
    """`check_redis_config` on a connection of its own (entry points, before they start).

    With Sentinel, that connection is to the master the sentinels name now.
    """
    redis = await connect_queue(settings)
    try:
        if settings.sentinel_addresses:
            await report_sentinel_master(redis, settings.redis_sentinel_master)
        return await check_redis_config(redis, settings.mode)
    finally:
        await redis.aclose()


async def report_sentinel_master(redis: Redis, name: str) -> int:
    """Log the master the sentinels named and its replicas; warn when a failover has none."""
    info = await redis.info("replication")
    replicas = int(info.get("connected_slaves", 0))
    address = getattr(redis.connection_pool, "master_address", None)
    logger.info("Redis master %r via Sentinel: %s, %d replica(s)", name, address, replicas)
    if replicas == 0:
        logger.warning(
            "Redis master %r has no replica connected: a failover now would have nothing to "
            "promote (docs/OPERATIONS.md, Redis with Sentinel)",
            name,
        )
    return replicas
