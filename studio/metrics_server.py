"""Every role's operator port: /healthz (alive), /readyz (ready for work), /metrics (Prometheus).

A small aiohttp server on HEALTH_LISTEN:HEALTH_PORT, started by each entry point when the port
is set. Readiness is the role's own checks (the bot: its Application runs; a worker: its models
are loaded) plus a Redis PING; /metrics also reads the shared state from Redis at scrape time.
Keep it on a private address: it names no user, but it is not for the internet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from studio import metrics
from studio.metrics_snapshot import Snapshot, take_snapshot

logger = logging.getLogger(__name__)

PING_TIMEOUT_S = 2.0
SNAPSHOT_TIMEOUT_S = 5.0

# The role's own readiness: name -> ready?, e.g. {"models": True} or {"bot": False}.
ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]

REDIS = web.AppKey("redis", Redis)
READINESS: web.AppKey[ReadinessCheck] = web.AppKey("readiness")


def create_health_app(redis: Redis, readiness: ReadinessCheck) -> web.Application:
    app = web.Application()
    app[REDIS] = redis
    app[READINESS] = readiness
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
    return app


async def healthz(request: web.Request) -> web.Response:
    """Alive: this process's event loop answers (a supervisor restarts it otherwise)."""
    return web.Response(text="ok")


async def readiness(redis: Redis, check: ReadinessCheck) -> dict[str, bool]:
    """The role's checks and whether Redis answers PING."""
    found = dict(await check())
    try:
        found["redis"] = bool(await asyncio.wait_for(redis.ping(), PING_TIMEOUT_S))
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("readiness: Redis unreachable (%s)", type(exc).__name__)
        found["redis"] = False
    return found


async def readyz(request: web.Request) -> web.Response:
    """200 with every check true; 503 otherwise (a balancer or orchestrator holds traffic)."""
    found = await readiness(request.app[REDIS], request.app[READINESS])
    ready = all(found.values())
    metrics.READY.set(1 if ready else 0)
    return web.json_response(found, status=200 if ready else 503, dumps=json.dumps)


async def scrape(request: web.Request) -> web.Response:
    """This process's counters and the shared state's gauges, in Prometheus's text format."""
    await refresh_shared_gauges(request.app[REDIS])
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def refresh_shared_gauges(redis: Redis) -> Snapshot | None:
    """Set the gauges read from Redis; on a Redis failure only ps_redis_up moves (to 0)."""
    try:
        snapshot = await asyncio.wait_for(take_snapshot(redis, time.time()), SNAPSHOT_TIMEOUT_S)
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("metrics: Redis unreachable (%s)", type(exc).__name__)
        metrics.REDIS_UP.set(0)
        return None
    metrics.REDIS_UP.set(1)
    for queue, depth in snapshot.queue_depth.items():
        metrics.QUEUE_DEPTH.labels(queue).set(depth)
    metrics.LIVE_RENDER_WORKERS.set(snapshot.render_workers)
    for state, count in snapshot.orders.items():
        metrics.ORDERS.labels(state).set(count)
    for event, count in snapshot.today.items():
        metrics.TODAY.labels(event).set(count)
    return snapshot


class HealthServer:
    """The operator port of one process; `start` binds it, `stop` closes it."""

    def __init__(self, redis: Redis, readiness: ReadinessCheck, listen: str, port: int) -> None:
        self._runner = web.AppRunner(create_health_app(redis, readiness), access_log=None)
        self._listen = listen
        self._port = port

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        addresses = self._runner.addresses
        return int(addresses[0][1]) if addresses else self._port

    async def start(self) -> HealthServer:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._listen, self._port).start()
        logger.info("health and metrics on %s:%s", self._listen, self.port)
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()
