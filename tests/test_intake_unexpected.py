"""A photo whose decoding breaks in an unforeseen way still ends in a clear verdict."""

from __future__ import annotations

import io
import struct

import pytest
from arq.worker import Retry
from PIL import Image

from bot.intake_status import reason_text
from emulator.client import latest_text
from jobs.intake import CHECK_PHOTO_MAX_TRIES, UNREADABLE, Verdict, _checked
from pipeline.decode import ImageRejected, decode_image
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio.photos import PhotoRole, PhotoStatus
from tests.fixtures.bot import BotEnv

USER = 7501
MAKE, ORIENTATION = 0x010F, 0x0112


def broken_ifd_jpeg(variant: int = 0) -> bytes:
    """A face JPEG whose EXIF IFD gives the Make tag the RATIONAL type instead of ASCII.

    PIL opens and decodes it, then its EXIF rewrite (orientation fix) breaks with an
    AttributeError: the kind of error no decoder's "corrupt" branch expects.
    """
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[MAKE] = "Camera1"
    raw = bytearray(exif.tobytes())
    tiff = 6  # after b"Exif\0\0"
    little = raw[tiff : tiff + 2] == b"II"
    order = "<" if little else ">"
    (ifd,) = struct.unpack_from(order + "I", raw, tiff + 4)
    (count,) = struct.unpack_from(order + "H", raw, tiff + ifd)
    for index in range(count):
        entry = tiff + ifd + 2 + 12 * index
        tag, kind = struct.unpack_from(order + "HH", raw, entry)
        if tag == MAKE:
            assert kind == 2
            struct.pack_into(order + "HI", raw, entry + 2, 5, 1)  # one RATIONAL
    image = Image.open(io.BytesIO(synthetic_face_photo(1, variant)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92, exif=bytes(raw))
    return buffer.getvalue()


def test_the_file_breaks_the_decoder_unexpectedly() -> None:
    """The precondition: this file escapes decode_image's own refusals."""
    with pytest.raises(Exception) as caught:
        decode_image(broken_ifd_jpeg())
    assert not isinstance(caught.value, ImageRejected), caught.value


async def test_an_unexpected_decoding_error_ends_in_a_verdict(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.client.send_document(USER, broken_ifd_jpeg(0), "IMG_1.jpg", "image/jpeg")
    refused = await env.wait_text(USER, "I can't use this headshot")
    assert "I couldn't read this photo" in latest_text(refused)
    await env.send_headshot(USER)
    await env.client.send_document(USER, broken_ifd_jpeg(1), "IMG_2.jpg", "image/jpeg")
    await env.wait_for(USER, lambda m: "I couldn't read this photo: 1" in latest_text(m))
    order = await env.current_order(USER)
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    verdicts = sorted((p.role, p.status, p.reason) for p in photos.values())
    assert verdicts == sorted(
        [
            (PhotoRole.HEADSHOT, PhotoStatus.REJECTED, "unreadable"),
            (PhotoRole.HEADSHOT, PhotoStatus.ACCEPTED, ""),
            (PhotoRole.SELFIE, PhotoStatus.REJECTED, "unreadable"),
        ]
    )
    assert (await env.current_order(USER)).photos.pending == 0


def test_the_reason_is_worded_in_both_languages() -> None:
    assert reason_text("en", "unreadable") == "I couldn't read this photo"
    assert reason_text("zh", "unreadable") == "我无法读取这张照片"


def _analyzer_fault() -> Verdict:
    raise RuntimeError("onnxruntime: session failed")


async def test_an_unexpected_check_error_is_retried_then_a_verdict() -> None:
    with pytest.raises(Retry):
        await _checked(1, _analyzer_fault)
    last = await _checked(CHECK_PHOTO_MAX_TRIES, _analyzer_fault)
    assert (last.ok, last.reason) == (False, UNREADABLE)
