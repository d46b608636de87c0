"""Two render workers racing for one order: it is rendered and delivered once.

The second run is forced the way a failover or a bad repair would: arq's in-progress key of the
running job vanishes, so the other idle worker takes the same job while the first still renders.
The render lease (jobs/render_lease.py) makes the second run wait; once the order has moved on,
it stops without sending anything.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from arq.constants import in_progress_key_prefix, retry_key_prefix
from arq.worker import Worker

from jobs.resources import RESOURCES
from studio.orders import OrderState
from studio.settings import Settings
from tests.chaos_support import assert_settled
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

pytestmark = pytest.mark.chaos

WAIT_S = 240.0  # a hang detector only
# Slow enough (two generator batches) that the second worker takes the job mid-render.
SLOW = {"portraits_per_order": 8, "render_steps": 30, "render_width": 192, "render_height": 240}
SETTLED = {OrderState.DELIVERED, OrderState.REFUNDED, OrderState.FAILED}


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir, **SLOW)


async def _ready(worker: Worker) -> None:
    deadline = time.monotonic() + WAIT_S
    while RESOURCES not in worker.ctx:
        assert time.monotonic() < deadline, "the render worker never became ready"
        await asyncio.sleep(0.05)


async def test_two_render_workers_racing_for_one_order_deliver_it_once(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user = bot_env, 3301
    studio = env.studio
    assert (await env.pay(user, await env.reach_invoice(user)))["ok"]
    order = await env.current_order(user)
    await render_workers()
    await wait_for_state(studio, order.id, {OrderState.RENDERING}, timeout=WAIT_S)
    second = await render_workers()  # loaded after the first: model loads do not overlap
    await _ready(second)

    # The running job's in-progress key vanishes: the idle worker takes the same job.
    await studio.redis.delete(in_progress_key_prefix + order.id)
    deadline = time.monotonic() + WAIT_S
    while int(await studio.redis.get(retry_key_prefix + order.id) or 0) < 2:
        assert time.monotonic() < deadline, "the second worker never took the job"
        await asyncio.sleep(0.02)
    ended = await wait_for_state(studio, order.id, SETTLED, timeout=WAIT_S)

    assert ended.state is OrderState.DELIVERED, ended.failure
    await assert_settled(studio, env.emulator, [order], env.settings.portraits_per_order)
