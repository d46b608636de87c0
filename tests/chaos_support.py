"""Shared by the chaos tests: a Redis of the test's own to kill, and the end-of-test invariants.

A chaos test module overrides `redis_server`/`redis_url` with `own_redis_server`, so the whole
standard system (bot_env, the workers) runs on a Redis that the test may SIGTERM or SIGKILL and
restart on the same port and socket, from its AOF. Every chaos test ends with `assert_settled`:
no paid order lost, none delivered twice, none charged without a delivery or a refund, nobody
stuck.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from arq.constants import in_progress_key_prefix

from studio.domain import Studio
from studio.orders import Order, OrderState
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.redis_server import RedisServer, launch_redis_server
from tests.render_support import delivery_counts, preview_photos

JOBS_END_S = 240.0  # a hang detector only


def own_redis_server(directory: Path) -> Iterator[RedisServer]:
    """A redis-server for one test (production persistence), stopped after it."""
    server = launch_redis_server(directory)
    try:
        yield server
    finally:
        server.stop()


async def kill_redis(server: RedisServer, sig: signal.Signals) -> None:
    """SIGTERM (a clean stop: the AOF is flushed) or SIGKILL (a crash) of the test's Redis."""
    server.proc.send_signal(sig)
    await asyncio.to_thread(server.proc.wait, 10)


def restart_redis(server: RedisServer) -> None:
    """The same server again on the same port, socket and directory (it loads its AOF)."""
    again = launch_redis_server(server.directory, server.port)
    server.proc, server.run_id = again.proc, again.run_id


async def assert_settled(
    studio: Studio, emulator: RunningEmulator, orders: list[Order], portraits: int
) -> None:
    """Every charge ends delivered exactly once or refunded; no order is left in between.

    First every run of the orders' jobs (render, delivery) ends: a losing or retried run may
    still be finishing, and it must not send anything more either.
    """
    for placed in orders:
        await _jobs_ended(studio, placed.id)
    charges = {c["charge_id"]: c for c in await emulator.client.payments()}
    for placed in orders:
        order = await studio.orders.get(placed.id)
        assert order is not None, f"order {placed.id} was lost"
        previews, originals = await delivery_counts(emulator, order.chat_id)
        charge = charges.get(order.charge_id)
        if order.state is OrderState.DELIVERED:
            sheets = preview_photos(studio.settings, portraits)
            assert (previews, originals) == (sheets, portraits), "delivered twice?"
            assert charge is not None and not charge["refunded"]
        else:
            assert order.state is OrderState.REFUNDED, f"order {order.id} stuck in {order.state}"
            assert charge is not None and charge["refunded"], (
                "charged, neither delivered nor refunded"
            )
    refunds: dict[str, int] = {}
    for call in await emulator.client.calls("refundStarPayment"):
        if call["status"] == 200:
            refunds[str(call["chat_id"])] = refunds.get(str(call["chat_id"]), 0) + 1
    assert all(n == 1 for n in refunds.values()), f"refunded more than once: {refunds}"


async def _jobs_ended(studio: Studio, order_id: str) -> None:
    running = f"{in_progress_key_prefix}*{order_id}"  # the render job, and its delivery's
    deadline = time.monotonic() + JOBS_END_S
    while left := [k async for k in studio.redis.scan_iter(match=running)]:
        assert time.monotonic() < deadline, f"a run never ended: {left}"
        await asyncio.sleep(0.05)
