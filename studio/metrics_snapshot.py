"""What the operator sees of the shared state, read from Redis: /metrics gauges and /admin.

A few cheap reads: queue sizes, the render worker registry, the paid-order index (small: orders
owed a delivery or a refund), and the orders closed and charges paid since midnight UTC. No
field that names a user leaves this module: only counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis

from studio import keys
from studio.render_workers import live_render_workers

QUEUES = (keys.INTAKE_QUEUE, keys.RENDER_QUEUE, keys.DELIVERY_QUEUE)
# A refund follows its payment within PAID_ORDER_DEADLINE_HOURS (or a /delete of an undelivered
# order, which has the same bound), so the charges paid in the last week cover today's refunds.
REFUND_LOOKBACK_S = 7 * 86400.0


@dataclass(frozen=True)
class Snapshot:
    queue_depth: dict[str, int]
    render_workers: int
    orders: dict[str, int]  # paid, rendering, failed (exact); open, closed (index sizes)
    today: dict[str, int] = field(default_factory=dict)  # paid, delivered, refunded, failed


def midnight_utc(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


async def take_snapshot(redis: Redis, now: float) -> Snapshot:
    """Counts only; about ten round trips, none of them a keyspace walk."""
    since = midnight_utc(now)
    async with redis.pipeline(transaction=False) as pipe:
        for queue in QUEUES:
            pipe.zcard(queue)
        pipe.zcard(keys.OPEN_ORDERS)
        pipe.zcard(keys.CLOSED_ORDERS)
        pipe.zrange(keys.PAID_ORDERS, 0, -1)
        pipe.zrangebyscore(keys.CLOSED_ORDERS, since, "+inf")
        pipe.zrangebyscore(keys.LEDGER_INDEX, now - REFUND_LOOKBACK_S, "+inf", withscores=True)
        *depths, open_count, closed_count, paid_ids, closed_today, charges = await pipe.execute()
    owed = await _states(redis, paid_ids)
    closed = await _states(redis, closed_today)
    orders = {"open": int(open_count), "closed": int(closed_count)}
    for state in ("paid", "rendering", "failed"):
        orders[state] = sum(1 for s, _ in owed if s == state)
    today = {
        "delivered": sum(1 for s, _ in closed if s == "delivered"),
        "failed": sum(1 for _, failure in closed + owed if failure),
        **await _ledger_today(redis, charges, since),
    }
    return Snapshot(
        queue_depth={q: int(d) for q, d in zip(QUEUES, depths, strict=True)},
        render_workers=await live_render_workers(redis),
        orders=orders,
        today=today,
    )


async def _states(redis: Redis, order_ids: list[bytes]) -> list[tuple[str, bool]]:
    """(state, failed?) of each order, in one pipeline; orders gone meanwhile are skipped."""
    if not order_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for order_id in order_ids:
            pipe.hmget(keys.order(order_id.decode()), ["state", "failure"])
        rows = await pipe.execute()
    return [(state.decode(), bool(failure)) for state, failure in rows if state is not None]


async def _ledger_today(
    redis: Redis, charges: list[tuple[bytes, float]], since: float
) -> dict[str, int]:
    counts: Counter[str] = Counter(paid=0, refunded=0)
    counts["paid"] = sum(1 for _, paid_at in charges if paid_at >= since)
    if charges:
        async with redis.pipeline(transaction=False) as pipe:
            for charge, _ in charges:
                pipe.hmget(keys.ledger(charge.decode()), ["outcome", "closed_at"])
            rows = await pipe.execute()
        counts["refunded"] = sum(
            1
            for outcome, closed_at in rows
            if outcome == b"refunded" and float(closed_at or 0) >= since
        )
    return dict(counts)
