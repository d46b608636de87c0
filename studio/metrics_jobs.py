"""A worker's metrics and operator port: every arq job measured at its entry, /readyz served.

`measured` wraps a job function once, where worker.py builds the worker, so every job of every
queue (check_photo, render_order, the delivery sender, whatever is added) reports its wait,
run time and outcome without a line in the job's own code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from arq.worker import Function, Retry

from studio import metrics
from studio.metrics_server import HealthServer
from studio.settings import Settings

Hook = Callable[[dict[str, Any]], Awaitable[None]]
HEALTH_SERVER = "health_server"  # the ctx entry holding the worker's HealthServer


def measured(function: Function, queue: str) -> Function:
    """The same arq Function, counting its runs, timing them and its queue wait."""
    job = function.name
    inner = function.coroutine

    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        enqueued = ctx.get("enqueue_time")
        if ctx.get("job_try", 1) == 1 and isinstance(enqueued, datetime):
            wait = max(0.0, time.time() - enqueued.timestamp())
            metrics.JOB_WAIT_SECONDS.labels(queue, job).observe(wait)
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await inner(ctx, *args, **kwargs)
            outcome = "ok"
            return result
        except Retry:
            outcome = "retry"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"  # aborted (/delete) or timed out
            raise
        finally:
            metrics.JOBS.labels(queue, job, outcome).inc()
            metrics.JOB_SECONDS.labels(queue, job).observe(time.perf_counter() - started)

    run.__qualname__ = getattr(inner, "__qualname__", job)
    return dataclasses.replace(function, coroutine=run)


def with_operator_port(
    settings: Settings, on_startup: Hook, on_shutdown: Hook, ready_key: str
) -> tuple[Hook, Hook]:
    """on_startup/on_shutdown that also run the worker's /healthz, /readyz and /metrics.

    The port opens before the models load (alive, not ready) and is ready once `ready_key` is
    in ctx (the worker's resources). With HEALTH_PORT=0 the hooks are returned unchanged.
    """
    if not settings.health_port:
        return on_startup, on_shutdown

    async def startup(ctx: dict[str, Any]) -> None:
        async def ready() -> dict[str, bool]:
            return {"models": ready_key in ctx}

        server = HealthServer(ctx["redis"], ready, settings.health_listen, settings.health_port)
        ctx[HEALTH_SERVER] = await server.start()
        try:
            await on_startup(ctx)
        except BaseException:
            await ctx.pop(HEALTH_SERVER).stop()
            raise

    async def shutdown(ctx: dict[str, Any]) -> None:
        try:
            await on_shutdown(ctx)
        finally:
            server: HealthServer | None = ctx.pop(HEALTH_SERVER, None)
            if server is not None:
                await server.stop()

    return startup, shutdown
