"""The style-pack catalogue as the bot shows it, from `pipeline.styles.STYLE_PACKS`.

That module is pure data (no torch): the one thing bot/ takes from pipeline/.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from pipeline.styles import STYLE_PACKS


@dataclass(frozen=True)
class PackInfo:
    """One pack's id and its name and one-line description per language."""

    id: str
    names: dict[str, str]
    descriptions: dict[str, str]

    def name(self, lang: str) -> str:
        return self.names.get(lang) or self.names["en"]

    def description(self, lang: str) -> str:
        return self.descriptions.get(lang) or self.descriptions["en"]


def style_packs() -> tuple[PackInfo, ...]:
    """Every pack a user can choose, in catalogue order."""
    return tuple(
        PackInfo(
            pack.id,
            {"en": pack.name_en, "zh": pack.name_zh},
            {"en": pack.description_en, "zh": pack.description_zh},
        )
        for pack in STYLE_PACKS.values()
    )


def find_pack(pack_id: str) -> PackInfo | None:
    return next((pack for pack in style_packs() if pack.id == pack_id), None)


# Sample images: the operator's files, else a placeholder drawn in memory --------------------

SAMPLE_SIZE = (640, 800)  # portrait, like the portraits themselves
PALETTE_COLOURS = 4


@dataclass(frozen=True)
class PackSample:
    """One pack's sample image as it is sent; `digest` names these bytes in the file_id cache."""

    pack: PackInfo
    data: bytes
    digest: str
    placeholder: bool


def pack_sample(pack: PackInfo, samples_dir: Path | None) -> PackSample:
    """`<samples_dir>/<pack_id>.jpg` when the operator put one there, else a placeholder."""
    path = samples_dir / f"{pack.id}.jpg" if samples_dir is not None else None
    placeholder = path is None or not path.is_file()
    data = placeholder_sample(pack) if placeholder or path is None else path.read_bytes()
    return PackSample(pack, data, hashlib.sha256(data).hexdigest()[:16], placeholder)


def pack_palette(pack: PackInfo) -> list[tuple[int, int, int]]:
    """A few colours that stand for the pack, derived from its id (the same on every run)."""
    seed = hashlib.sha256(pack.id.encode()).digest()
    return [(seed[i * 3], seed[i * 3 + 1], seed[i * 3 + 2]) for i in range(PALETTE_COLOURS)]


def placeholder_sample(pack: PackInfo) -> bytes:
    """A JPEG, made in memory and never written anywhere: the pack's name over its palette."""
    width, height = SAMPLE_SIZE
    image = Image.new("RGB", SAMPLE_SIZE, (24, 24, 28))
    draw = ImageDraw.Draw(image)
    band = width // PALETTE_COLOURS
    for i, colour in enumerate(pack_palette(pack)):
        draw.rectangle((i * band, height * 2 // 3, (i + 1) * band, height), fill=colour)
    font = ImageFont.load_default(size=44)
    draw.text((width // 2, height // 3), pack.names["en"], fill="white", font=font, anchor="mm")
    small = ImageFont.load_default(size=24)
    draw.text(
        (width // 2, height // 3 + 60), "sample", fill=(200, 200, 200), font=small, anchor="mm"
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
