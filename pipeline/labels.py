"""AI labels on every delivered image: a visible mark in the pixels and provenance metadata."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

MARK_TEXT = "AI-generated · AI生成"
_LATIN_PART = "AI-generated · AI"
_EXIF_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_EXIF_ARTIST = 0x013B
_EXIF_IMAGE_UNIQUE_ID = 0xA420
_EXIF_IFD = 0x8769
# IPTC's term for media made by a generative model (what C2PA and platforms look for).
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

# 12x12 bitmaps of 生 and 成, used when no CJK font is configured: the mark must be
# bilingual even on a bare server, and shipping a 10 MB CJK font for two glyphs is silly.
_GLYPHS = {
    "生": [
        "....#..#....",
        "...##..#....",
        "..#.#######.",
        ".#.....#....",
        ".......#....",
        "..#########.",
        ".......#....",
        ".......#....",
        ".......#....",
        ".......#....",
        "############",
        "............",
    ],
    "成": [
        ".......#.#..",
        ".......#..#.",
        ".###########",
        ".#.....#....",
        ".#.....#...#",
        ".#####.#..#.",
        ".#...#..#.#.",
        ".#...#..##..",
        ".#...#..#...",
        "#..#.#.#.#..",
        "#...#.#...##",
        "............",
    ],
}


@dataclass(frozen=True)
class LabelConfig:
    """Who we are in the metadata, and how the visible mark is drawn."""

    provider: str = "Portrait Studio"
    # A font with CJK glyphs (e.g. Noto Sans CJK); None uses DejaVu plus built-in glyphs.
    font_path: str | None = None
    # Mark height as a share of the image height; 3 % stays legible on a phone and small.
    mark_height_fraction: float = 0.03
    min_mark_px: int = 12


def content_id(order_id: str, shot_index: int, seed: int) -> str:
    """Stable id for one delivered image: a re-run of the same order gives the same ids."""
    return hashlib.sha256(f"{order_id}|{shot_index}|{seed}".encode()).hexdigest()[:24]


def _latin_font(size: int, font_path: str | None) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    candidates = [font_path] if font_path else []
    candidates.append("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
    for path in candidates:
        if path and Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _draw_glyph(draw: ImageDraw.ImageDraw, glyph: str, x: int, y: int, size: int) -> int:
    rows = _GLYPHS[glyph]
    cell = max(1, size // len(rows))
    for r, row in enumerate(rows):
        for c, bit in enumerate(row):
            if bit == "#":
                draw.rectangle(
                    [x + c * cell, y + r * cell, x + (c + 1) * cell - 1, y + (r + 1) * cell - 1],
                    fill=(255, 255, 255),
                )
    return cell * len(rows[0])


def add_visible_mark(image: Image.Image, config: LabelConfig | None = None) -> Image.Image:
    """Bottom-right "AI-generated · AI生成" on a dark translucent plate, burned into pixels."""
    config = config or LabelConfig()
    img = image.convert("RGB")
    size = max(config.min_mark_px, round(img.height * config.mark_height_fraction))
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    cjk_font = config.font_path is not None
    font = _latin_font(size, config.font_path)
    text = MARK_TEXT if cjk_font else _LATIN_PART
    text_w = int(draw.textlength(text, font=font))
    glyph_w = 0 if cjk_font else 2 * (size // 12) * 12 + size // 4
    pad = max(2, size // 4)
    width = min(img.width, text_w + glyph_w + 2 * pad)
    x0, y0 = img.width - width, img.height - size - 2 * pad
    draw.rectangle([x0, y0, img.width, img.height], fill=(0, 0, 0, 150))
    draw.text((x0 + pad, y0 + pad), text, font=font, fill=(255, 255, 255, 255))
    if not cjk_font:
        gx = x0 + pad + text_w + size // 8
        for glyph in "生成":
            gx += _draw_glyph(draw, glyph, gx, y0 + pad + (size - size // 12 * 12) // 2, size)
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


def _xmp(provider: str, cid: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}">'
        f"<dc:creator><rdf:Seq><rdf:li>{provider}</rdf:li></rdf:Seq></dc:creator>"
        f"<dc:identifier>{cid}</dc:identifier>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def _exif(provider: str, cid: str) -> Image.Exif:
    exif = Image.Exif()
    exif[_EXIF_DESCRIPTION] = f"AI-generated image (AI生成) by {provider}; content id {cid}"
    exif[_EXIF_SOFTWARE] = provider
    exif[_EXIF_ARTIST] = provider
    exif.get_ifd(_EXIF_IFD)[_EXIF_IMAGE_UNIQUE_ID] = cid
    return exif


def encode_labelled_png(image: Image.Image, provider: str, cid: str) -> bytes:
    """PNG with tEXt/iTXt provenance: ai_generated, provider, content_id, XMP source type."""
    info = PngImagePlugin.PngInfo()
    info.add_text("ai_generated", "true")
    info.add_text("provider", provider)
    info.add_text("content_id", cid)
    info.add_itxt("Description", f"{MARK_TEXT} — {provider}", lang="en")
    info.add_itxt("XML:com.adobe.xmp", _xmp(provider, cid))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, exif=_exif(provider, cid).tobytes())
    return buf.getvalue()


def encode_labelled_jpeg(image: Image.Image, provider: str, cid: str, quality: int = 90) -> bytes:
    """JPEG with EXIF provenance (description, software, ImageUniqueID = content id)."""
    buf = io.BytesIO()
    image.save(
        buf,
        format="JPEG",
        quality=quality,
        exif=_exif(provider, cid).tobytes(),
        xmp=_xmp(provider, cid).encode("utf-8"),
    )
    return buf.getvalue()


def read_label(data: bytes) -> dict[str, str]:
    """Provenance fields found in a PNG or JPEG we produced (empty if none)."""
    img = Image.open(io.BytesIO(data))
    found: dict[str, str] = {}
    text = getattr(img, "text", {}) or {}
    for key in ("ai_generated", "provider", "content_id"):
        if key in text:
            found[key] = str(text[key])
    exif = img.getexif()
    if _EXIF_SOFTWARE in exif:
        found.setdefault("provider", str(exif[_EXIF_SOFTWARE]))
    uid = exif.get_ifd(_EXIF_IFD).get(_EXIF_IMAGE_UNIQUE_ID)
    if uid:
        found.setdefault("content_id", str(uid))
    if _EXIF_DESCRIPTION in exif and "AI-generated" in str(exif[_EXIF_DESCRIPTION]):
        found.setdefault("ai_generated", "true")
    return found


def mark_present(rgb: np.ndarray, config: LabelConfig | None = None) -> bool:
    """Whether the bottom-right plate of the visible mark is there (dark plate, white ink)."""
    config = config or LabelConfig()
    size = max(config.min_mark_px, round(rgb.shape[0] * config.mark_height_fraction))
    band = rgb[-size:, -min(rgb.shape[1], 4 * size) :].astype(np.float32)
    return bool((band.mean(axis=2) > 200).mean() > 0.05 and (band.mean(axis=2) < 110).mean() > 0.3)
