"""Safe decoding: every bad upload gets its reason code; good ones come back upright RGB."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pipeline.decode import DecodeLimits, ImageRejected, decode_image, encode_jpeg, encode_png


def _gradient(w: int = 120, h: int = 80) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None, None]
    rgb = np.concatenate(
        [
            np.broadcast_to(x, (h, w, 1)),
            np.broadcast_to(y, (h, w, 1)),
            np.full((h, w, 1), 90, np.float32),
        ],
        axis=2,
    )
    return rgb.astype(np.uint8)


def _reason(data: bytes, limits: DecodeLimits | None = None) -> str:
    with pytest.raises(ImageRejected) as info:
        decode_image(data, limits)
    return info.value.reason


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny file claiming huge dimensions, with a highly compressible body."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * width
    body = zlib.compress(row * 64, 9)  # truncated body: the header alone must be refused
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def test_jpeg_png_webp_decode_to_rgb() -> None:
    rgb = _gradient()
    for fmt in ("JPEG", "PNG", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format=fmt, quality=95)
        out = decode_image(buf.getvalue())
        assert out.shape == (80, 120, 3) and out.dtype == np.uint8
        assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 4, fmt


def test_exif_orientation_applied_and_metadata_dropped() -> None:
    rgb = _gradient(120, 80)
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    exif[0x010F] = "SecretCam"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(buf.getvalue())
    assert out.shape == (120, 80, 3)  # now portrait: the orientation was applied
    expected = np.asarray(Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270))
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 4
    reencoded = Image.open(io.BytesIO(encode_jpeg(out)))
    assert not reencoded.getexif() and "icc_profile" not in reencoded.info


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is a text file named photo.jpg\n" * 3, "not_an_image"),
    ],
)
def test_trivially_bad_inputs(data: bytes, reason: str) -> None:
    assert _reason(data) == reason


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode_jpeg(_gradient(200, 200))
    assert _reason(data[: len(data) // 2]) == "corrupt"


def test_gif_is_unsupported() -> None:
    buf = io.BytesIO()
    Image.fromarray(_gradient()).save(buf, format="GIF")
    assert _reason(buf.getvalue()) == "unsupported_format"


def test_png_bomb_refused_before_decoding() -> None:
    assert _reason(_png_bomb(100_000, 100_000)) == "decompression_bomb"
    # Between PIL's limit and ours: refused by our own pixel budget.
    assert _reason(_png_bomb(7000, 7000)) == "too_many_pixels"


def test_size_limits() -> None:
    data = encode_png(_gradient())
    assert _reason(data, DecodeLimits(max_bytes=len(data) - 1)) == "too_large_bytes"
    assert _reason(encode_png(_gradient(40, 40))) == "too_small"


def test_animated_webp_refused() -> None:
    frames = [Image.fromarray(_gradient()), Image.fromarray(255 - _gradient())]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], duration=100)
    assert _reason(buf.getvalue()) == "animated"


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    rgb = _gradient()
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, format="JPEG", quality=95)
    out = decode_image(buf.getvalue())
    assert out.shape == (80, 120, 3)
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 6


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = (np.linspace(0, 65535, 100 * 80).reshape(80, 100)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="PNG")
    assert Image.open(io.BytesIO(buf.getvalue())).mode.startswith("I")
    out = decode_image(buf.getvalue())
    assert out.shape == (80, 100, 3)
    # Clipping would make the bright half a flat 255; scaling keeps the ramp.
    assert out[0, 0, 0] < 5 and out[-1, -1, 0] > 250 and 100 < out[40, 50, 0] < 155


def test_a_header_claiming_a_huge_size_is_a_verdict_not_an_oserror() -> None:
    import struct
    import zlib

    from pipeline.decode import ImageRejected, decode_image

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    for width, height in ((0x7FFFFFFF, 0x7FFFFFFF), (0, 0), (0xFFFFFFFF, 1)):
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
        with pytest.raises(ImageRejected):
            decode_image(png)


def _photo_like(w: int, h: int) -> np.ndarray:
    """Smooth gradient plus mid-frequency texture: a decode that goes wrong shows in pixels."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = 40 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    rgb = np.stack(
        [xx / w * 200 + texture, yy / h * 200 - texture, np.full_like(xx, 90) + texture / 2], -1
    )
    return np.clip(rgb + 28, 0, 255).astype(np.uint8)


def _jpeg(rgb: np.ndarray, **save: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92, **save)
    return buf.getvalue()


def test_reduced_jpeg_decode_matches_full_decode_downscaled() -> None:
    data = _jpeg(_photo_like(2400, 1800))
    full = decode_image(data)
    small = decode_image(data, min_decoded_side=400)
    # 1800 // 400 = 4: decoded at a quarter, both sides still >= 400.
    assert small.shape == (450, 600, 3) and small.dtype == np.uint8
    expected = np.asarray(Image.fromarray(full).resize((600, 450), Image.Resampling.BOX))
    assert np.abs(small.astype(int) - expected.astype(int)).mean() < 3
    # A size the file does not exceed twice over: decoded as it is.
    assert decode_image(data, min_decoded_side=1000).shape == full.shape


def test_reduced_decode_applies_only_to_jpeg() -> None:
    png = encode_png(_photo_like(800, 600))
    assert decode_image(png, min_decoded_side=100).shape == (600, 800, 3)


def test_reduced_decode_still_refuses_a_truncated_jpeg() -> None:
    data = _jpeg(_photo_like(2400, 1800))
    for cut in (len(data) // 2, len(data) - 200):
        assert _reason(data[:cut]) == "corrupt"
        with pytest.raises(ImageRejected) as info:
            decode_image(data[:cut], min_decoded_side=300)
        assert info.value.reason == "corrupt"
    progressive = _jpeg(_photo_like(2400, 1800), progressive=True)
    with pytest.raises(ImageRejected) as info:
        decode_image(progressive[: len(progressive) // 2], min_decoded_side=300)
    assert info.value.reason == "corrupt"


def _with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header (SOF0) claiming another size."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def test_reduced_decode_judges_the_limits_on_the_header_size() -> None:
    data = _jpeg(_photo_like(640, 480))
    assert _reason(_with_jpeg_size(data, 65000, 65000), None) == "decompression_bomb"
    with pytest.raises(ImageRejected) as info:
        decode_image(_with_jpeg_size(data, 65000, 65000), min_decoded_side=64)
    assert info.value.reason == "decompression_bomb"
    # 8000x6000 at 1/8 would be 1000x750, but the file is refused for its 48 MP.
    with pytest.raises(ImageRejected) as info:
        decode_image(_with_jpeg_size(data, 8000, 6000), min_decoded_side=64)
    assert info.value.reason == "too_many_pixels"
    tight = DecodeLimits(max_pixels=640 * 480 - 1)
    with pytest.raises(ImageRejected) as info:
        decode_image(data, tight, min_decoded_side=64)
    assert info.value.reason == "too_many_pixels"


def test_reduced_decode_keeps_orientation_and_cmyk() -> None:
    rgb = _photo_like(2000, 1000)
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    out = decode_image(_jpeg(rgb, exif=exif.tobytes()), min_decoded_side=400)
    assert out.shape == (1000, 500, 3)  # halved, then turned upright
    upright = Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_270)
    expected = np.asarray(upright.resize((500, 1000), Image.Resampling.BOX))
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 4
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, format="JPEG", quality=95)
    cmyk = decode_image(buf.getvalue(), min_decoded_side=400)
    assert cmyk.shape == (500, 1000, 3)
    plain = np.asarray(Image.fromarray(rgb).resize((1000, 500), Image.Resampling.BOX))
    assert np.abs(cmyk.astype(int) - plain.astype(int)).mean() < 8


def test_decoding_refuses_to_run_with_truncated_images_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import ImageFile

    data = _jpeg(_photo_like(2400, 1800))
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        decode_image(data[: len(data) // 2], min_decoded_side=300)
