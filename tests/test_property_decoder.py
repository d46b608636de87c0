"""Property-based tests (hypothesis) of the upload decoder (pipeline/decode.py).

Whatever bytes arrive, `decode_image` gives back an upright HxWx3 uint8 array or refuses with an
`ImageRejected` reason the bot turns into a message: never another exception (a traceback and a
"something went wrong" instead of the specific answer).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pipeline.decode import ImageRejected, decode_image


def _decoded_or_refused(data: bytes) -> np.ndarray | None:
    try:
        rgb = decode_image(data)
    except ImageRejected as refusal:
        assert refusal.reason  # the code the bot maps to its message
        return None
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    return rgb


# Format, and the modes an encoder of that format writes (PIL's own rules).
MODES = {
    "JPEG": ("RGB", "L", "CMYK"),
    "PNG": ("RGB", "RGBA", "L", "LA", "P", "I;16"),
    "WEBP": ("RGB", "RGBA"),
}


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, int, int]:
    fmt = draw(st.sampled_from(sorted(MODES)))
    mode = draw(st.sampled_from(MODES[fmt]))
    width = draw(st.integers(min_value=64, max_value=160))
    height = draw(st.integers(min_value=64, max_value=160))
    seed = draw(st.integers(min_value=0, max_value=2**16))
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    img = Image.fromarray(noise, "RGB")
    if mode == "I;16":
        img = Image.fromarray(noise[:, :, 0].astype(np.uint16) * 257)  # mode I;16
    elif mode == "P":
        img = img.quantize(16)
    elif mode != "RGB":
        img = img.convert(mode)
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue(), width, height


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_any_bytes_are_decoded_or_refused_with_a_reason(data: bytes) -> None:
    _decoded_or_refused(data)


@settings(max_examples=120)
@given(images())
def test_every_format_and_mode_we_accept_comes_back_as_upright_rgb(
    image: tuple[bytes, int, int],
) -> None:
    data, width, height = image
    rgb = _decoded_or_refused(data)
    assert rgb is not None and rgb.shape == (height, width, 3)


@settings(max_examples=200)
@given(images(), st.data())
def test_a_cut_or_damaged_image_is_refused_or_whole_never_a_traceback(
    image: tuple[bytes, int, int], data: st.DataObject
) -> None:
    original, width, height = image
    if data.draw(st.booleans(), label="cut"):
        at = data.draw(st.integers(min_value=0, max_value=len(original) - 1), label="at")
        damaged = original[:at]
    else:
        at = data.draw(st.integers(min_value=0, max_value=len(original) - 1), label="at")
        byte = data.draw(st.integers(min_value=0, max_value=255), label="byte")
        damaged = original[:at] + bytes([byte]) + original[at + 1 :]
    rgb = _decoded_or_refused(damaged)
    if rgb is not None and len(damaged) < len(original):
        # A cut file decodes only when the cut is past its image data (a PNG's or WebP's
        # trailing chunks): then it is the whole picture, at the size its header states.
        assert rgb.shape == (height, width, 3)


def test_the_strategy_reaches_every_format() -> None:
    # The formats above are the ones the decoder accepts besides HEIC (tests/test_intake_heic.py).
    from pipeline.decode import ALLOWED_FORMATS

    assert set(MODES) <= set(ALLOWED_FORMATS)
    with pytest.raises(ImageRejected):
        decode_image(b"")
