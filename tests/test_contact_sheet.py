"""Preview sheets: every portrait lands in its own tile, the sheet fits Telegram and is labelled."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.contact_sheet import SHEET_MAX_SIDE, grid_for, preview_sheets, sheet_ranges
from pipeline.labels import read_aigc

COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (832, 1216)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("tiles", "grid"),
    [(1, (1, 1)), (2, (2, 1)), (3, (2, 2)), (4, (2, 2)), (6, (3, 2)), (9, (3, 3))],
)
def test_grids_are_square_ish_without_empty_rows(tiles: int, grid: tuple[int, int]) -> None:
    assert grid_for(tiles) == grid


def test_twenty_portraits_are_five_sheets_of_four() -> None:
    assert [len(r) for r in sheet_ranges(20, 4)] == [4, 4, 4, 4, 4]
    assert [len(r) for r in sheet_ranges(21, 4)] == [4, 4, 4, 4, 4, 1]
    with pytest.raises(ValueError):
        sheet_ranges(4, 0)


def test_each_portrait_is_in_its_tile_and_the_sheet_is_labelled() -> None:
    jpegs = [_jpeg(c) for c in COLOURS]
    first, second = preview_sheets(jpegs, 4, content_id="order-1")

    sheet = Image.open(io.BytesIO(first))
    assert max(sheet.size) <= SHEET_MAX_SIDE
    pixels = np.asarray(sheet.convert("RGB")).astype(int)
    h, w = pixels.shape[:2]
    # Tile centres, left to right then top to bottom, show portraits 1-4 in order.
    centres = [
        (h // 4, w // 4),
        (h // 4, 3 * w // 4),
        (3 * h // 4, w // 4),
        (3 * h // 4, 3 * w // 4),
    ]
    for (y, x), colour in zip(centres, COLOURS[:4], strict=True):
        assert np.abs(pixels[y, x] - np.array(colour)).max() < 12, (y, x, pixels[y, x])
    # The sheet is a new image: its own visible mark (a dark plate bottom right) and label.
    assert pixels[h - 3, w - 3].max() < 110
    label = read_aigc(first)
    assert label is not None and label["Label"] == "1"
    assert (label["ContentProducer"], label["ProduceID"]) == ("Portrait Studio", "order-1-sheet-1")
    # The remainder: one portrait alone on the last sheet, still labelled.
    last = Image.open(io.BytesIO(second))
    assert np.abs(np.asarray(last.convert("RGB"))[100, 100].astype(int) - COLOURS[4]).max() < 12
    assert read_aigc(second) is not None


def test_one_per_sheet_sends_the_album_jpegs_untouched() -> None:
    jpegs = [_jpeg(c) for c in COLOURS[:2]]
    assert preview_sheets(jpegs, 1, content_id="order-1") == jpegs


def test_large_tiles_are_scaled_to_telegrams_photo_size() -> None:
    sheets = preview_sheets([_jpeg(c) for c in COLOURS] * 2, 9, content_id="o")
    sizes = [Image.open(io.BytesIO(s)).size for s in sheets]
    assert all(max(size) <= SHEET_MAX_SIDE for size in sizes), sizes
    assert max(sizes[0]) > 2500  # scaled to fit, not shrunk further than needed
