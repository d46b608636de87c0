"""Faults on the way to a photo's pixels: 500s, 429s, slow answers and stalled downloads.

Each check that fails for now is retried (arq Retry) and ends in a verdict: accepted once a try
gets through, or refused as "could not download" on the last try; never left "being checked".
A stalled download (bytes trickling in) is cut at PHOTO_DOWNLOAD_TIMEOUT_S: before, arq's job
timeout (120 s) killed the check without a retry and the headshot stayed pending for good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.texts import text
from emulator.keys import STATE_KEY
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio.photos import PhotoStatus
from studio.settings import Settings
from tests.fixtures.bot import BotEnv
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.models import TINY_FACE_PACK
from tests.fixtures.studio import SettingsFactory

pytestmark = pytest.mark.chaos

DOWNLOAD_TIMEOUT_S = 1.0
TRIES = 3  # jobs.intake.CHECK_PHOTO_MAX_TRIES
STALLED = {"status": None, "trickle": 0.25}  # one byte every 4 s: longer than any try may take


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_face_root: Path
) -> Settings:
    return make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        face_dir=tiny_face_root,
        face_pack=TINY_FACE_PACK,
        bot_concurrency=32,
        photo_download_timeout_s=DOWNLOAD_TIMEOUT_S,
    )


@pytest.mark.parametrize(
    ("method", "fault"),
    [
        ("getFile", {"status": 500}),
        ("getFile", {"status": 429, "retry_after": 1}),
        ("getFile", {"status": None, "delay": 3 * DOWNLOAD_TIMEOUT_S}),  # an answer too late
        ("download", {"status": 500}),
        ("download", STALLED),
    ],
    ids=["getFile-500", "getFile-429", "getFile-timeout", "download-500", "download-stalled"],
)
async def test_a_check_that_fails_for_now_is_retried_until_it_gets_through(
    bot_env: BotEnv, method: str, fault: dict[str, Any]
) -> None:
    env, user = bot_env, 3201
    await env.consent(user)
    await env.client.inject_fault(method, count=TRIES - 1, **fault)

    await env.client.send_photo(user, synthetic_face_photo(1, 0))

    await env.status_message(user, timeout=60)  # the headshot was accepted on the last try
    order = await env.current_order(user)
    assert order.photos.headshot is PhotoStatus.ACCEPTED
    assert not env.emulator.app[STATE_KEY].faults.get(method)  # every faulty try was made


@pytest.mark.parametrize(
    ("method", "fault"),
    [("getFile", {"status": 502}), ("download", STALLED)],
    ids=["getFile-502", "download-stalled"],
)
async def test_a_check_that_fails_on_every_try_ends_in_a_verdict(
    bot_env: BotEnv, method: str, fault: dict[str, Any]
) -> None:
    env, user = bot_env, 3202
    await env.consent(user)
    await env.client.inject_fault(method, count=TRIES, **fault)

    await env.client.send_photo(user, synthetic_face_photo(1, 0))

    reason = text("en", "reason_download_failed")
    await env.wait_text(user, text("en", "headshot_rejected", reason=reason), timeout=60)
    order = await env.current_order(user)
    assert order.photos.headshot is PhotoStatus.REJECTED  # not "being checked" for ever
    assert not env.emulator.app[STATE_KEY].faults.get(method)
    # And the user can go on: the next headshot is checked as usual.
    await env.client.send_photo(user, synthetic_face_photo(1, 1))
    await env.status_message(user, timeout=60)
