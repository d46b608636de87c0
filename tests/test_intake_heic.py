"""HEIC/HEIF photos (iPhone) are accepted through the real bot, within the same safety limits."""

from __future__ import annotations

import io

import pillow_heif
from PIL import Image

from emulator.client import latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio.photos import PhotoRole, PhotoStatus
from tests.fixtures.bot import BotEnv, is_status_message

USER = 7401


def heic(image: Image.Image, quality: int = 90) -> bytes:
    """`image` encoded as HEIC by libheif (pillow-heif), as an iPhone would send it."""
    heif = pillow_heif.from_pillow(image)
    buffer = io.BytesIO()
    heif.save(buffer, quality=quality)
    data = buffer.getvalue()
    assert data[4:12] in (b"ftypheic", b"ftypmif1", b"ftypheix"), data[:16]
    return data


def heic_face(identity: int, variant: int) -> bytes:
    return heic(Image.open(io.BytesIO(synthetic_face_photo(identity, variant))).convert("RGB"))


async def test_a_heic_headshot_and_selfie_get_normal_verdicts(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.client.send_document(USER, heic_face(1, 0), "IMG_0001.HEIC", "image/heic")
    await env.wait_for(USER, is_status_message)  # the headshot is accepted: selfie step open
    await env.client.send_document(USER, heic_face(1, 1), "IMG_0002.HEIF", "image/heif")
    await env.wait_for(USER, lambda m: "Accepted: 1 of 3" in latest_text(m))
    order = await env.current_order(USER)
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    assert sorted((p.role, p.status) for p in photos.values()) == sorted(
        [(PhotoRole.HEADSHOT, PhotoStatus.ACCEPTED), (PhotoRole.SELFIE, PhotoStatus.ACCEPTED)]
    )


async def test_a_heic_over_the_pixel_cap_is_refused_as_too_large(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    huge = heic(Image.new("RGB", (9000, 5000)), quality=10)  # 45 MP, over the 40 MP cap
    assert len(huge) < 1024 * 1024  # small on the wire: only the header tells
    await env.client.send_document(USER, huge, "IMG_9999.HEIC", "image/heic")
    await env.wait_for(USER, lambda m: "too many pixels: 1" in latest_text(m))
    order = await env.current_order(USER)
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    selfies = [p for p in photos.values() if p.role is PhotoRole.SELFIE]
    assert [(p.status, p.reason) for p in selfies] == [(PhotoStatus.REJECTED, "too_many_pixels")]
