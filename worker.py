"""arq glue: the intake (CPU), render (GPU) and delivery workers, their jobs and cron schedule.

Run with `python worker.py intake`, `python worker.py render` or `python worker.py delivery`.
Job code lives in `jobs/`; resources are opened in `on_startup`, kept in `ctx` (see
jobs/resources.py), and closed in `on_shutdown`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import uuid
from functools import partial
from typing import Any

from arq.worker import Worker, create_worker, func

import jobs.resources
from jobs.intake import CHECK_PHOTO_MAX_TRIES
from jobs.maintenance import with_chores
from jobs.resources import start_delivery, start_intake, start_render, stop
from studio import keys
from studio.clock import Clock
from studio.logs import configure_logging, configure_process
from studio.metrics_jobs import measured, with_operator_port
from studio.queue import (
    CHECK_PHOTO,
    DELIVER_ORDER,
    FLUSH_INTAKE_STATUS,
    RENDER_ORDER,
    deserialize,
    queue_pool,
    serialize,
)
from studio.redis_config import check_redis_at_start
from studio.settings import Settings

logger = logging.getLogger(__name__)


class IntakeWorker:
    """CPU worker: checks each received photo and keeps the user's intake status message fresh."""

    queue_name = keys.INTAKE_QUEUE
    on_shutdown = staticmethod(stop)
    max_jobs = 8
    job_timeout = 120
    max_tries = 3
    keep_result = 0
    allow_abort_jobs = False
    job_serializer = staticmethod(serialize)
    job_deserializer = staticmethod(deserialize)

    @staticmethod
    def configured(settings: Settings, clock: Clock | None) -> dict[str, Any]:
        """The options that take the settings: job functions and startup."""
        return {
            "functions": [
                func(
                    "jobs.intake.check_photo",
                    name=CHECK_PHOTO,
                    max_tries=CHECK_PHOTO_MAX_TRIES,
                    timeout=120,
                    keep_result=0,
                ),
                func(
                    "jobs.intake.flush_intake_status",
                    name=FLUSH_INTAKE_STATUS,
                    max_tries=3,
                    timeout=60,
                    keep_result=0,
                ),
            ],
            "on_startup": partial(start_intake, settings=settings, clock=clock),
        }


class RenderWorker:
    """GPU worker: one render at a time per GPU; models are loaded once at startup."""

    queue_name = keys.RENDER_QUEUE
    on_shutdown = staticmethod(stop)
    max_jobs = 1
    keep_result = 3600
    allow_abort_jobs = True  # /delete aborts a running render
    job_serializer = staticmethod(serialize)
    job_deserializer = staticmethod(deserialize)

    @staticmethod
    def configured(settings: Settings, clock: Clock | None) -> dict[str, Any]:
        """The options that take the settings: the render job's tries and timeout, startup."""
        # One health key per process, so the ETA can count live render workers.
        worker_name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        return {
            "functions": [
                func(
                    "jobs.render.render_order",
                    name=RENDER_ORDER,
                    max_tries=settings.render_max_tries,
                    timeout=settings.render_job_timeout_s,
                    keep_result=RenderWorker.keep_result,
                ),
            ],
            "on_startup": partial(
                start_render, settings=settings, clock=clock, worker_name=worker_name
            ),
            "health_check_key": keys.RENDER_HEALTH_PREFIX + worker_name,
        }


class DeliveryWorker:
    """Sends finished portraits (no GPU, no models): many orders at once, each paced by its chat.

    Its own queue and process kind, so that the GPU never waits for Telegram, a burst of photo
    checks never delays paid portraits (nor the other way round), and senders scale on their own.
    """

    queue_name = keys.DELIVERY_QUEUE
    on_shutdown = staticmethod(stop)
    keep_result = 0  # the order's state is the record; a finished job may be queued again
    allow_abort_jobs = False
    job_serializer = staticmethod(serialize)
    job_deserializer = staticmethod(deserialize)

    @staticmethod
    def configured(settings: Settings, clock: Clock | None) -> dict[str, Any]:
        """The options that take the settings: concurrency, the job's tries and timeout."""
        return {
            "functions": [
                func(
                    "jobs.delivery.deliver_order",
                    name=DELIVER_ORDER,
                    max_tries=settings.delivery_max_tries,
                    timeout=settings.delivery_job_timeout_s,
                    keep_result=0,
                ),
            ],
            "max_jobs": settings.delivery_concurrency,
            "on_startup": partial(start_delivery, settings=settings, clock=clock),
        }


WORKERS: dict[str, type[IntakeWorker] | type[RenderWorker] | type[DeliveryWorker]] = {
    "intake": IntakeWorker,
    "render": RenderWorker,
    "delivery": DeliveryWorker,
}


def build_worker(kind: str, settings: Settings, **overrides: Any) -> Worker:
    """A configured arq Worker; `overrides` (burst, a test clock in ctx, ...) are for tests."""
    cls = WORKERS[kind]
    extra_ctx = dict(overrides.pop("ctx", {}))
    clock: Clock | None = extra_ctx.pop("clock", None)
    options: dict[str, Any] = {
        "redis_pool": queue_pool(settings),  # reconnecting, direct or through Sentinel
        "ctx": extra_ctx,
        "health_check_interval": settings.health_check_interval_s,
        **cls.configured(settings, clock),
    }
    options.update(overrides)
    # Every job measured at its entry; /healthz, /readyz and /metrics on HEALTH_PORT, if set.
    options["functions"] = [measured(f, cls.queue_name) for f in options["functions"]]
    # The reconcilers run in every worker process, whatever its queue (jobs/maintenance.py).
    on_startup, on_shutdown = with_chores(options["on_startup"], cls.on_shutdown)
    options["on_startup"], options["on_shutdown"] = with_operator_port(
        settings, on_startup, on_shutdown, jobs.resources.RESOURCES
    )
    # The class's attributes are the fixed options (arq's settings-class protocol wants
    # `functions` there too, so pass them as the mapping arq also accepts).
    return create_worker(dict(vars(cls)), **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(WORKERS))
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args()
    configure_process()  # before the first model library is imported (in on_startup)
    settings = Settings()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), settings)
    run_worker(args.kind, settings, burst=args.burst)


def run_worker(kind: str, settings: Settings, *, burst: bool = False) -> None:
    """Check Redis (studio.redis_config), then run one worker until SIGTERM (or, burst, idle)."""
    if kind not in WORKERS:
        raise SystemExit(f"unknown worker {kind!r}; one of: {', '.join(sorted(WORKERS))}")
    asyncio.run(check_redis_at_start(settings))
    build_worker(kind, settings, burst=burst).run()


if __name__ == "__main__":
    main()
