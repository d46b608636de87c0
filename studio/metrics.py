"""The service's Prometheus metrics, defined once; every process exports the ones it moves.

Counters and histograms are moved at a few central points: the bot's update dispatch
(bot/metrics.py), the Bot API transport (bot/transport.py), the entry of every arq job
(worker.py) and the intake verdict. Gauges that describe the shared state (queue depths,
orders by state, today's payments and refunds, live workers) are read from Redis when
/metrics is scraped (studio/metrics_snapshot.py), so every replica reports the same numbers.
No label ever names a user, a chat or an order.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Handlers answer in milliseconds; a render takes minutes; a queue wait can take hours.
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SLOW_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
WAIT_BUCKETS = (0.1, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # CPU, memory, open files of this process
GCCollector(registry=REGISTRY)  # collections, collected and uncollectable, by generation


class GcSettings(Collector):
    """The collector's settings in effect (the bot's are set by studio/gc_tuning.py)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        threshold = GaugeMetricFamily(
            "ps_gc_threshold",
            "Net allocations (generation 0) or younger collections before a collection",
            labels=["generation"],
        )
        for generation, value in enumerate(gc.get_threshold()):
            threshold.add_metric([str(generation)], value)
        yield threshold
        yield GaugeMetricFamily(
            "ps_gc_frozen_objects",
            "Objects frozen out of every collection (the heap at the end of startup)",
            value=gc.get_freeze_count(),
        )


REGISTRY.register(GcSettings())

UPDATES = Counter(
    "ps_bot_updates",
    "Telegram updates taken by the bot, by kind (duplicates included)",
    ["kind"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "ps_bot_update_seconds",
    "Time from an update's first handler to its last, by kind (duplicates excluded)",
    ["kind"],
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "ps_bot_handler_errors",
    "Exceptions that reached the bot's error handler, by exception type",
    ["error"],
    registry=REGISTRY,
)
BOT_API_CALLS = Counter(
    "ps_bot_api_calls",
    "Bot API calls by method and result (ok, 429, client_error, server_error, network)",
    ["method", "result"],
    registry=REGISTRY,
)
PAID_BROADCAST_UNITS = Counter(
    "ps_paid_broadcast_units",
    "Message units sent as paid broadcasts (0.1 Star each) past Telegram's free 30/s",
    registry=REGISTRY,
)
BOT_API_SECONDS = Histogram(
    "ps_bot_api_seconds",
    "Bot API call time by method (the wait for a rate-limit slot excluded)",
    ["method"],
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
JOBS = Counter(
    "ps_jobs",
    "arq job runs by queue, job and outcome (ok, retry, failed, cancelled)",
    ["queue", "job", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "ps_job_seconds",
    "arq job run time by queue and job (render_order: render seconds; deliver: delivery)",
    ["queue", "job"],
    buckets=SLOW_BUCKETS,
    registry=REGISTRY,
)
JOB_WAIT_SECONDS = Histogram(
    "ps_job_queue_wait_seconds",
    "Time from enqueue to a job's first try, by queue and job",
    ["queue", "job"],
    buckets=WAIT_BUCKETS,
    registry=REGISTRY,
)
INTAKE_VERDICTS = Counter(
    "ps_intake_verdicts",
    "Photo verdicts by role (headshot, selfie), status and refusal reason",
    ["role", "status", "reason"],
    registry=REGISTRY,
)

# Read from Redis at scrape time (studio/metrics_snapshot.py).
QUEUE_DEPTH = Gauge("ps_queue_depth", "Jobs waiting in an arq queue", ["queue"], registry=REGISTRY)
LIVE_RENDER_WORKERS = Gauge(
    "ps_render_workers_live", "Render workers with a fresh health key", registry=REGISTRY
)
ORDERS = Gauge(
    "ps_orders",
    "Orders by state: paid, rendering and failed (owed a delivery or refund) exactly; "
    "open (before payment) and closed as index sizes",
    ["state"],
    registry=REGISTRY,
)
TODAY = Gauge(
    "ps_today",
    "Since 00:00 UTC: payments, deliveries, refunds and failed orders",
    ["event"],
    registry=REGISTRY,
)
REDIS_UP = Gauge("ps_redis_up", "1 when Redis answered the last scrape", registry=REGISTRY)
READY = Gauge("ps_ready", "1 when this process is ready (its /readyz)", registry=REGISTRY)


def record_bot_api_call(method: str, status: int) -> None:
    """One Bot API answer: ok, 429 (flood control), client_error or server_error."""
    if status == 200:
        result = "ok"
    elif status == 429:
        result = "429"
    elif status >= 500:
        result = "server_error"
    else:
        result = "client_error"
    BOT_API_CALLS.labels(method, result).inc()
