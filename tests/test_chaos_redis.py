"""Redis restarts mid-order: the bot and every worker reconnect by themselves, nothing is lost.

The test's own Redis (production persistence: AOF every second) is stopped with SIGTERM while a
user sends selfies, and killed with SIGKILL while the order renders; each time it comes back on
the same port and socket from its AOF. Before studio/reconnect.py, arq's poll loop ended both
workers with a ConnectionError at the first outage.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.worker import Worker

from studio import keys
from studio.orders import OrderState
from studio.settings import Settings
from tests.chaos_support import assert_settled, kill_redis, own_redis_server, restart_redis
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

pytestmark = pytest.mark.chaos

DOWN_S = 2.0  # how long Redis stays away each time (the processes ride out REDIS_RECONNECT_S)
RECEIVED = "Payment received, thank you!"
TERMINAL = {OrderState.DELIVERED, OrderState.REFUNDED, OrderState.FAILED}
WAIT_S = 240.0  # a hang detector only: no assertion compares how long a step took


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """This module's tests kill Redis: each gets its own (see tests/chaos_support.py)."""
    (tmp_path / "redis").mkdir()
    yield from own_redis_server(tmp_path / "redis")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir, reconcile_interval_s=1.0)


async def outage(server: RedisServer, sig: signal.Signals) -> None:
    await kill_redis(server, sig)
    await asyncio.sleep(DOWN_S)
    restart_redis(server)


def alive(worker: Worker) -> bool:
    return worker.main_task is not None and not worker.main_task.done()


async def test_an_order_completes_through_a_sigterm_and_a_sigkill_of_redis(
    bot_env: BotEnv,
    intake_worker: Worker,
    render_workers: RenderWorkerStarter,
    redis_server: RedisServer,
) -> None:
    env, user = bot_env, 3101
    render = await render_workers()
    await env.consent(user)
    await env.send_headshot(user)

    # SIGTERM while the selfies arrive: the bot and the intake worker wait for Redis.
    stopping = asyncio.create_task(outage(redis_server, signal.SIGTERM))
    await env.send_selfies(user, env.settings.min_selfies)
    await stopping
    status = await env.wait_for_done(user, timeout=120)
    assert alive(intake_worker) and alive(render)
    await env.press(user, status, "done:")
    packs = await env.wait_for(user, lambda m: "pack:" in str(m.get("reply_markup")))
    await env.press(user, packs, "pack:")
    invoice = await env.wait_for(user, lambda m: m["kind"] == "invoice")
    assert (await env.pay(user, invoice))["ok"]
    await env.wait_text(user, RECEIVED, timeout=60)
    order = await env.current_order(user)

    # SIGKILL while it renders: Redis comes back from its AOF, the render carries on or reruns.
    await wait_for_state(env.studio, order.id, {OrderState.RENDERING}, timeout=120)
    await outage(redis_server, signal.SIGKILL)
    ended = await wait_for_state(env.studio, order.id, TERMINAL, timeout=WAIT_S)

    assert ended.state is OrderState.DELIVERED, ended.failure
    assert alive(intake_worker) and alive(render)
    await assert_settled(env.studio, env.emulator, [order], env.settings.portraits_per_order)


async def test_a_paid_order_whose_job_died_with_redis_is_picked_up(
    bot_env: BotEnv,
    render_workers: RenderWorkerStarter,
    redis_server: RedisServer,
) -> None:
    """The last second before a SIGKILL is not in the AOF: the order is paid, its job is not.

    The reconcilers of the running workers (jobs/maintenance.py) re-enqueue it.
    """
    env, user = bot_env, 3102
    invoice = await env.reach_invoice(user)
    assert (await env.pay(user, invoice))["ok"]
    await env.wait_text(user, RECEIVED)
    order = await env.current_order(user)
    await outage(redis_server, signal.SIGKILL)
    # What the AOF may miss (fsync every second): the render job written just before the kill.
    redis = env.studio.redis
    await redis.delete(job_key_prefix + order.id, in_progress_key_prefix + order.id)
    await redis.zrem(keys.RENDER_QUEUE, order.id)
    paid = await env.studio.orders.get(order.id)
    assert paid is not None and paid.state is OrderState.PAID

    await render_workers()

    ended = await wait_for_state(env.studio, order.id, TERMINAL, timeout=WAIT_S)
    assert ended.state is OrderState.DELIVERED, ended.failure
    await assert_settled(env.studio, env.emulator, [order], env.settings.portraits_per_order)
