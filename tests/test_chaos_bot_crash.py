"""The bot is SIGKILLed after approving a pre-checkout and before it sees successful_payment.

Telegram charges the user once it has the approval, and hands the successful_payment update to
whichever bot polls next. The restarted bot (or, had the update been lost, the payments
reconciler) completes the order: paid once, delivered once, nobody refunded.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.keys import STATE_KEY
from studio.orders import OrderState
from studio.settings import Settings
from tests.chaos_support import assert_settled
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import ROOT, render_bot_settings, settings_env, wait_for_state

pytestmark = pytest.mark.chaos

WAIT_S = 240.0  # a hang detector only
ANSWER_DELAY_S = 2.0  # the emulator holds the approval this long: the kill lands inside it
SETTLED = {OrderState.DELIVERED, OrderState.REFUNDED, OrderState.FAILED}


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


async def test_a_bot_killed_between_pre_checkout_and_payment_loses_no_order(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user = bot_env, 3401
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    for running in list(env.bots):
        await env.stop_bot(running)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env=settings_env(env.settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await env.client.inject_fault(
            "answerPreCheckoutQuery", count=1, status=None, delay=ANSWER_DELAY_S
        )
        paying = asyncio.create_task(env.pay(user, invoice))
        arrivals = env.emulator.app[STATE_KEY].arrivals
        deadline = time.monotonic() + WAIT_S
        while not arrivals["answerPreCheckoutQuery"]:  # the bot has sent its approval
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the bot never answered the pre-checkout"
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    paid = await paying
    assert paid["ok"], paid  # Telegram took the approval and charged the user
    unhandled = await env.studio.orders.get(order.id)
    assert unhandled is not None and unhandled.state is OrderState.PAYMENT

    await env.start_bot()  # the restart (a deploy, the supervisor)
    await render_workers()
    ended = await wait_for_state(env.studio, order.id, SETTLED, timeout=WAIT_S)

    assert ended.state is OrderState.DELIVERED, ended.failure
    assert ended.charge_id == paid["charge_id"]
    assert ended.queue_message_id  # the user was told their place (that message shows progress)
    await assert_settled(env.studio, env.emulator, [ended], env.settings.portraits_per_order)
