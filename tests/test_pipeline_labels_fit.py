"""The visible AI mark fits entirely inside every output size, 64 to 2048 px wide."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.labels import (
    MarkLayout,
    add_visible_mark,
    mark_layout,
    mark_present,
    render_mark,
)

GREY = 128
# Portrait (the product's 896x1152 ratio), strips and very tall: every width at several heights.
WIDTHS = [64, 80, 96, 128, 160, 200, 320, 512, 896, 1024, 1536, 2048]
SIZES = [(w, h) for w in WIDTHS for h in (round(w * 1152 / 896), w // 4 + 16, 2048)]


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _ink(rgb: np.ndarray) -> np.ndarray:
    # White ink over the plate (grey darkened by alpha 150/255); half coverage is the midpoint.
    plate = GREY * (1 - 150 / 255)
    return np.asarray(rgb, np.float32).mean(axis=2) > (plate + 255) / 2


def _aspect(mask: np.ndarray) -> float:
    x0, y0, x1, y1 = _bbox(mask)
    return (x1 - x0) / (y1 - y0)


def _reference_aspects() -> dict[int, float]:
    """Ink aspect of the one- and two-line marks drawn large, where nothing can be cut."""
    big = mark_layout(2048, 2048)
    assert len(big.lines) == 1
    two = MarkLayout(("AI-generated", "AI生成"), 61, 15, (0, 0, 600, 200))
    return {
        1: _aspect(np.asarray(render_mark(big)) > 127),
        2: _aspect(np.asarray(render_mark(two)) > 127),
    }


REFERENCE = _reference_aspects()


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_whole_mark_is_inside_the_image(width: int, height: int) -> None:
    image = Image.new("RGB", (width, height), (GREY, GREY, GREY))
    marked = np.asarray(add_visible_mark(image))
    layout = mark_layout(width, height)
    x0, y0, x1, y1 = layout.box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height

    # The mark alone: its ink keeps clear of the plate's edges, so nothing was cut.
    alone = np.asarray(render_mark(layout)) > 127
    ax0, ay0, ax1, ay1 = _bbox(alone)
    assert ax0 >= 1 and ay0 >= 1 and ax1 <= alone.shape[1] - 1 and ay1 <= alone.shape[0] - 1

    # In the image: the ink is exactly the mark alone, placed on the plate, off every edge.
    ink = _ink(marked)
    ix0, iy0, ix1, iy1 = _bbox(ink)
    assert ix0 > x0 and iy0 > y0 and ix1 < width and iy1 < height
    # (to a pixel: an anti-aliased edge pixel at half coverage may round either way)
    placed = (ix0 - x0, iy0 - y0, ix1 - x0, iy1 - y0)
    assert all(abs(a - b) <= 1 for a, b in zip(placed, (ax0, ay0, ax1, ay1), strict=True))
    assert ink.sum() == pytest.approx(alone.sum(), rel=0.1)

    # Same proportions as the mark drawn large: a truncated mark would be too narrow.
    assert _aspect(ink) == pytest.approx(REFERENCE[len(layout.lines)], rel=0.12)
    assert mark_present(marked)


def test_narrow_images_wrap_before_shrinking() -> None:
    assert mark_layout(896, 1152).lines == ("AI-generated · AI生成",)
    narrow = mark_layout(128, 160)
    assert narrow.lines == ("AI-generated", "AI生成") and narrow.font_px >= 12
    tiny = mark_layout(64, 80)
    assert tiny.lines == ("AI-generated", "AI生成") and 4 <= tiny.font_px < 12


def test_mark_grows_with_the_image() -> None:
    sizes = [mark_layout(w, round(w * 1152 / 896)).font_px for w in WIDTHS]
    assert sizes == sorted(sizes) and sizes[-1] > 4 * sizes[0]


def test_mark_alone_is_not_cut_by_its_own_canvas() -> None:
    for width, height in [(64, 80), (128, 160), (896, 1152)]:
        layout = mark_layout(width, height)
        x0, y0, x1, y1 = layout.box
        roomy = MarkLayout(
            layout.lines, layout.font_px, layout.pad + 20, (0, 0, x1 - x0 + 40, y1 - y0 + 40)
        )
        tight = np.asarray(render_mark(layout))
        spacious = np.asarray(render_mark(roomy))
        assert np.array_equal(spacious[20:-20, 20:-20], tight)
        assert not spacious[:20].any() and not spacious[-20:].any()
        assert not spacious[:, :20].any() and not spacious[:, -20:].any()


def test_too_small_for_any_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        mark_layout(16, 8)
