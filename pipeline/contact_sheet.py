"""Preview sheets: several finished portraits tiled into one labelled photo.

Telegram counts every album item as a message against the chat's and the bot's limits, so twenty
portraits previewed one per photo cost twenty message units. A sheet of four costs one, and at
Telegram's 2560 px photo size each tile still shows at about 1280 px on the long side. The tiles
are the labelled album JPEGs (each keeps its own visible AI mark); the sheet gets its own mark
and metadata labels too, since it is a new image.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image

from pipeline.labels import LabelConfig, add_visible_mark, encode_labelled_jpeg
from pipeline.provenance import ProvenanceSigner

SHEET_MAX_SIDE = 2560  # the largest side Telegram keeps for a photo
GUTTER_PX = 8
BACKGROUND = (24, 24, 24)


def sheet_ranges(count: int, per_sheet: int) -> list[range]:
    """Portrait indices of each sheet, in order: full sheets, then the remainder."""
    if per_sheet < 1:
        raise ValueError(f"per_sheet={per_sheet}: expected at least 1")
    return [range(start, min(start + per_sheet, count)) for start in range(0, count, per_sheet)]


def grid_for(tiles: int) -> tuple[int, int]:
    """(columns, rows) for `tiles` portraits: as square as possible, never an empty row."""
    columns = math.ceil(math.sqrt(tiles))
    return columns, math.ceil(tiles / columns)


def compose_sheet(images: Sequence[Image.Image]) -> Image.Image:
    """The images tiled left to right, top to bottom, scaled to fit SHEET_MAX_SIDE."""
    if not images:
        raise ValueError("a sheet needs at least one image")
    columns, rows = grid_for(len(images))
    tile_w = max(im.width for im in images)
    tile_h = max(im.height for im in images)
    width = columns * tile_w + (columns - 1) * GUTTER_PX
    height = rows * tile_h + (rows - 1) * GUTTER_PX
    scale = min(1.0, SHEET_MAX_SIDE / max(width, height))
    tw, th, gap = int(tile_w * scale), int(tile_h * scale), max(1, int(GUTTER_PX * scale))
    sheet = Image.new("RGB", (columns * tw + (columns - 1) * gap, rows * th + (rows - 1) * gap))
    sheet.paste(BACKGROUND, (0, 0, sheet.width, sheet.height))
    for i, image in enumerate(images):
        tile = image.convert("RGB")
        tile.thumbnail((tw, th), Image.Resampling.LANCZOS)
        column, row = i % columns, i // columns
        x = column * (tw + gap) + (tw - tile.width) // 2
        y = row * (th + gap) + (th - tile.height) // 2
        sheet.paste(tile, (x, y))
    return sheet


def preview_sheets(
    jpegs: Sequence[bytes],
    per_sheet: int,
    content_id: str,
    labels: LabelConfig | None = None,
    quality: int = 90,
    signer: ProvenanceSigner | None = None,
) -> list[bytes]:
    """Labelled JPEG sheets of `per_sheet` portraits each; one sheet per portrait when 1.

    With `per_sheet` 1 the album JPEGs go out as they are (already labelled and signed).
    `content_id` names the set; sheet k's metadata carries "<content_id>-sheet-<k+1>". With a
    `signer`, each sheet carries its own C2PA manifest, like every other delivered file.
    """
    if per_sheet == 1:
        return list(jpegs)
    labels = labels or LabelConfig()
    out = []
    for k, indices in enumerate(sheet_ranges(len(jpegs), per_sheet)):
        tiles = [Image.open(io.BytesIO(jpegs[i])) for i in indices]
        sheet = add_visible_mark(compose_sheet(tiles), labels)
        cid = f"{content_id}-sheet-{k + 1}"
        jpeg = encode_labelled_jpeg(sheet, labels.provider, cid, quality)
        if signer is not None:
            jpeg = signer.sign(jpeg, "image/jpeg", cid, f"preview-{k + 1:02d}.jpg")
        out.append(jpeg)
    return out
