"""The intake worker: real checks on synthetic faces, grouped reasons, throttled status edits."""

from __future__ import annotations

import asyncio
import io

from arq.worker import Worker
from PIL import Image

from bot.texts import text
from emulator.client import latest_text
from jobs.intake import CHECK_PHOTO_MAX_TRIES, HeadshotCache, check_photo
from jobs.resources import IntakeResources, resources
from pipeline.testing.synthetic_photos import synthetic_face_photo, synthetic_face_rgb
from pipeline.testing.tiny_face_pack import tint_apparent_age
from studio.photos import PhotoStatus
from tests.fixtures.bot import BotEnv, is_status_message

USER = 7401


async def test_rejected_selfies_are_counted_by_translated_reason(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER, identity=1)
    await env.client.send_photo(USER, synthetic_face_photo(2, 1))  # someone else
    await env.client.send_photo(USER, synthetic_face_photo(3, 2))  # someone else again
    await env.client.send_photo(USER, synthetic_face_photo(1, 3, kind="two_faces"))
    await env.client.send_photo(USER, synthetic_face_photo(1, 4, kind="no_face"))
    await env.client.send_photo(USER, synthetic_face_photo(1, 5))
    status = await env.wait_for(
        USER,
        lambda m: (
            is_status_message(m)
            and "Checking" not in latest_text(m)
            and "no face found: 1" in latest_text(m)
        ),
    )
    body = latest_text(status)
    assert "Accepted: 1 of 3" in body
    assert "it doesn't look like the person in the headshot: 2" in body
    assert "more than one face: 1" in body


async def test_a_headshot_without_a_face_is_refused_and_another_one_accepted(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.client.send_photo(USER, synthetic_face_photo(1, 0, kind="no_face"))
    await env.wait_text(USER, "I can't use this headshot: no face found")
    status = await env.send_headshot(USER)
    assert "Accepted: 0 of 3" in latest_text(status)


async def test_another_worker_recomputes_the_headshot_embedding_in_memory(
    bot_env: BotEnv, intake_worker: Worker
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    # As if a different worker process (empty cache) picked up the next selfie.
    intake = resources(intake_worker.ctx, IntakeResources)
    intake.headshots = HeadshotCache()
    await env.client.send_photo(USER, synthetic_face_photo(2, 1))
    await env.wait_for(
        USER, lambda m: "doesn't look like the person in the headshot: 1" in latest_text(m)
    )
    assert intake.headshots.get((await env.current_order(USER)).id) is not None


async def test_a_check_for_a_photo_removed_meanwhile_does_nothing(
    bot_env: BotEnv, intake_worker: Worker
) -> None:
    env = bot_env
    await env.consent(USER)
    order = await env.current_order(USER)
    before = await env.messages(USER)
    await check_photo(intake_worker.ctx, order.id, "no-such-token")
    await check_photo(intake_worker.ctx, "no-such-order", "no-such-token")
    assert await env.messages(USER) == before


async def test_a_ten_photo_album_edits_the_status_message_about_once_a_second(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    env.settings.max_selfies = 12
    env.settings.min_selfies = 10
    await env.consent(USER)
    status = await env.send_headshot(USER)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await env.client.send_album(USER, [synthetic_face_photo(1, v) for v in range(1, 11)])
    await env.wait_for(USER, lambda m: "Accepted: 10 of 10" in latest_text(m), timeout=30)
    elapsed = loop.time() - started
    edits = [
        call
        for call in await env.client.calls("editMessageText", chat_id=USER)
        if call["status"] == 200
    ]
    # One status message for the whole album, edited about once per second at most.
    assert sum(is_status_message(m) for m in await env.messages(USER)) == 1
    assert 1 <= len(edits) <= int(elapsed) + 2, (len(edits), elapsed)
    assert len(edits) < 10
    order = await env.current_order(USER)
    assert order.status_message_id == status["message_id"]
    assert order.photos.accepted == 10 and order.photos.pending == 0
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    assert all(p.status is PhotoStatus.ACCEPTED for p in photos.values())


async def test_a_headshot_whose_download_fails_once_is_accepted_after_a_retry(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    # arq retries only Retry: the transient failure must become one, not a stuck pending photo.
    await env.client.inject_fault("getFile", count=1, status=500)
    await env.client.send_photo(USER, synthetic_face_photo(1, 0))
    status = await env.status_message(USER, timeout=20.0)
    assert "0" in latest_text(status)
    order = await env.current_order(USER)
    assert order.status_message_id == status["message_id"]


def tinted_photo(identity: int, variant: int, years: float) -> bytes:
    """A synthetic photo whose tiny-pack age estimate is moved by about `years`."""
    rgb = tint_apparent_age(synthetic_face_rgb(identity, variant), years)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


async def test_faces_that_look_under_18_are_refused_with_a_clear_reason(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    # Synthetic faces read as 23-38 in the tiny pack; -18 years makes one read about 12.
    await env.client.send_photo(USER, tinted_photo(1, 0, -18))
    await env.wait_text(USER, "I can't use this headshot: " + text("en", "reason_minor"))
    order = await env.current_order(USER)
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    assert [(p.status, p.reason) for p in photos.values()] == [(PhotoStatus.REJECTED, "minor")]
    await env.send_headshot(USER)
    await env.client.send_photo(USER, tinted_photo(1, 1, -18))  # the same person, as a child
    await env.client.send_photo(USER, tinted_photo(1, 2, +5))  # the same person, about 35
    status = await env.wait_for(
        USER,
        lambda m: (
            is_status_message(m)
            and "Checking" not in latest_text(m)
            and "Accepted: 1 of" in latest_text(m)
            and text("en", "reason_minor") in latest_text(m)
        ),
    )
    assert f"{text('en', 'reason_minor')}: 1" in latest_text(status)


async def test_a_selfie_is_refused_when_the_headshot_cannot_be_rechecked(
    bot_env: BotEnv, intake_worker: Worker
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    # Another worker (empty cache) takes the selfie, and the headshot's download keeps failing
    # on every try: the selfie is refused, never accepted unchecked.
    intake = resources(intake_worker.ctx, IntakeResources)
    intake.headshots = HeadshotCache()
    downloads = await env.client.arrivals("getFile")
    await env.client.inject_fault("getFile", count=CHECK_PHOTO_MAX_TRIES, status=500)
    await env.client.send_photo(USER, synthetic_face_photo(2, 1))  # someone else
    reason = text("en", "reason_identity_unverified")
    status = await env.wait_for(USER, lambda m: f"{reason}: 1" in latest_text(m), timeout=30)
    assert "Accepted: 0 of" in latest_text(status)
    order = await env.current_order(USER)
    assert order.photos.rejected == {"identity_unverified": 1} and order.photos.pending == 0
    # Every try asked for the headshot (and was retried); none downloaded the selfie.
    assert await env.client.arrivals("getFile") - downloads == CHECK_PHOTO_MAX_TRIES


async def test_a_headshot_recheck_that_fails_once_is_retried_and_then_compares(
    bot_env: BotEnv, intake_worker: Worker
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    intake = resources(intake_worker.ctx, IntakeResources)
    intake.headshots = HeadshotCache()
    await env.client.inject_fault("getFile", count=1, status=500)
    await env.client.send_photo(USER, synthetic_face_photo(2, 1))  # someone else
    await env.wait_for(
        USER,
        lambda m: "doesn't look like the person in the headshot: 1" in latest_text(m),
        timeout=20,
    )
    await env.client.send_photo(USER, synthetic_face_photo(1, 2))  # the user
    await env.wait_for(USER, lambda m: "Accepted: 1 of" in latest_text(m), timeout=20)
    order = await env.current_order(USER)
    assert order.photos.rejected == {"different_person": 1}
