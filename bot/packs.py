"""The style-pack catalogue as the bot shows it, from `pipeline.styles.STYLE_PACKS`.

That module is pure data (no torch): the one thing bot/ takes from pipeline/.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

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
    """A PNG made in memory and never written anywhere: a dark card over the pack's palette.

    Written with the standard library alone: the bot's install has no imaging library (the
    pack's name goes in the caption). The operator's own samples replace these.
    """
    width, height = SAMPLE_SIZE
    card = bytes((24, 24, 28)) * width
    band = width // PALETTE_COLOURS
    palette = b"".join(bytes(colour) * band for colour in pack_palette(pack))
    palette += palette[-3:] * (width - band * PALETTE_COLOURS)
    split = height * 2 // 3
    # Each PNG row starts with its filter type (0: none).
    raw = b"".join(b"\x00" + (card if y < split else palette) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
