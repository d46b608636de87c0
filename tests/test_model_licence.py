"""The licence guard: in production, no payment is taken on a stack with non-commercial weights.

The real bot and intake worker against the emulator, in production mode, on the research stack
(insightface + IP-Adapter FaceID: non-commercial): the pre-checkout is refused, naming the files,
until the operator states a licence (`MODEL_LICENCE_CONFIRMED=research`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from studio import keys
from studio.model_licence import non_commercial_files, unlicensed_model_files
from studio.orders import OrderState
from studio.settings import Mode, Settings, generate_master_key
from tests.fixtures.bot import BotEnv
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.models import TINY_FACE_PACK
from tests.fixtures.studio import SettingsFactory

USER = 7421


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_face_root: Path
) -> Settings:
    """Production settings (real secrets) on the research stack, tiny models standing in."""
    return make_settings(
        mode=Mode.PROD,
        master_key=generate_master_key(),
        payload_secret=generate_master_key(),
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        face_dir=tiny_face_root,
        face_pack=TINY_FACE_PACK,
        bot_concurrency=32,
        model_stack="research",
    )


async def test_no_payment_on_non_commercial_weights_until_a_licence_is_stated(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    invoice = await env.reach_invoice(USER)
    refused = await env.pay(USER, invoice)
    assert not refused["ok"]
    message = refused["error_message"]
    print(message)
    assert message.startswith("Payments are paused")
    assert "insightface/models/buffalo_l/w600k_r50.onnx" in message
    assert "ip-adapter/ip-adapter-faceid_sdxl.bin" in message
    assert "sdxl" not in message.replace("faceid_sdxl", "")  # its licence allows paid use
    assert (await env.current_order(USER)).state is OrderState.PAYMENT
    assert await env.studio.redis.zcard(keys.LEDGER_INDEX) == 0
    # The operator states that they hold a licence for this stack's weights.
    env.settings.model_licence_confirmed = "research"
    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    await env.wait_text(USER, "Your place in the queue: 1")
    assert (await env.current_order(USER)).state is OrderState.PAID
    assert await env.studio.redis.zcard(keys.LEDGER_INDEX) == 1


async def test_the_refusal_is_translated(bot_env: BotEnv) -> None:
    env = bot_env
    from tests.fixtures.bot import reach_invoice_in

    invoice = await reach_invoice_in(env, USER, "zh-hans")
    refused = await env.pay(USER, invoice)
    assert not refused["ok"]
    assert refused["error_message"].startswith("付款已暂停")
    assert "insightface/models/buffalo_l/det_10g.onnx" in refused["error_message"]


def test_the_guard_applies_in_production_only_and_never_to_the_commercial_stack(
    make_settings: SettingsFactory,
) -> None:
    secrets = {"master_key": generate_master_key(), "payload_secret": generate_master_key()}
    research = make_settings(mode=Mode.PROD, model_stack="research", **secrets)
    assert unlicensed_model_files(research) == non_commercial_files("research")
    assert len(non_commercial_files("research")) == 6
    assert unlicensed_model_files(make_settings(model_stack="research")) == ()  # dev
    commercial = make_settings(mode=Mode.PROD, model_stack="commercial", **secrets)
    assert unlicensed_model_files(commercial) == ()
    # A licence statement names the stack it covers; another stack's does not count.
    other = make_settings(
        mode=Mode.PROD, model_stack="research", model_licence_confirmed="commercial", **secrets
    )
    assert unlicensed_model_files(other) == non_commercial_files("research")


def test_production_runs_the_commercial_stack_unless_told_otherwise() -> None:
    """A paid service gets the stack it may run by default; dev keeps the research stack."""
    strong: dict[str, Any] = {
        "mode": "prod",
        "telegram_bot_token": "123456:" + "k" * 35,
        "master_key": generate_master_key(),
        "payload_secret": "Zq8-" + generate_master_key()[:40],
    }
    assert Settings(_env_file=None, **strong).model_stack == "commercial"  # type: ignore[call-arg]
    explicit = Settings(_env_file=None, model_stack="research", **strong)  # type: ignore[call-arg]
    assert explicit.model_stack == "research"
    assert Settings(_env_file=None).model_stack == "research"  # type: ignore[call-arg]
