"""AI labels on every delivered image: a visible mark in the pixels and provenance metadata."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from pipeline.watermark import embed, payload_from_content_id

MARK_TEXT = "AI-generated · AI生成"
_ONE_LINE = (MARK_TEXT,)
_TWO_LINES = ("AI-generated", "AI生成")
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
    # The invisible watermark (pipeline.watermark) carrying the content id.
    invisible_watermark: bool = True
    # Below min_mark_px (narrow images) the mark first wraps to two lines, then shrinks to this;
    # a whole mark in tiny type beats a legible half of one.
    floor_mark_px: int = 4


@dataclass(frozen=True)
class MarkLayout:
    """Where the mark goes: its lines, type size and plate box (x0, y0, x1, y1), x1/y1 exclusive."""

    lines: tuple[str, ...]
    font_px: int
    pad: int
    box: tuple[int, int, int, int]


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


def _split_cjk(line: str, cjk_font: bool) -> tuple[str, str]:
    """(drawn with the font, drawn from bitmaps): without a CJK font, 生成 comes from _GLYPHS."""
    if cjk_font:
        return line, ""
    latin = line.rstrip("".join(_GLYPHS))
    return latin, line[len(latin) :]


def _glyph_px(font_px: int) -> int:
    # The built-in glyphs sit on the cap height of the Latin text beside them.
    return max(3, round(font_px * 0.8))


def _line_size(line: str, font_px: int, config: LabelConfig) -> tuple[int, int]:
    """Ink width and height of one line, from the font's own bounding boxes."""
    font = _latin_font(font_px, config.font_path)
    latin, cjk = _split_cjk(line, config.font_path is not None)
    left, top, right, bottom = font.getbbox(latin)
    glyphs = len(cjk) * _glyph_px(font_px) + (max(1, font_px // 8) if cjk else 0)
    return int(right - left) + glyphs, int(bottom - top)


def _plate_size(lines: tuple[str, ...], font_px: int, config: LabelConfig) -> tuple[int, int, int]:
    pad = max(1, font_px // 4)
    sizes = [_line_size(line, font_px, config) for line in lines]
    gap = max(1, font_px // 6)
    width = max(w for w, _ in sizes) + 2 * pad
    height = sum(h for _, h in sizes) + gap * (len(lines) - 1) + 2 * pad
    return width, height, pad


def mark_layout(width: int, height: int, config: LabelConfig | None = None) -> MarkLayout:
    """Fit the whole mark into a width x height image: one line, else two, shrinking as needed."""
    config = config or LabelConfig()
    wanted = max(config.min_mark_px, round(height * config.mark_height_fraction))
    for lines, floor in ((_ONE_LINE, config.min_mark_px), (_TWO_LINES, config.floor_mark_px)):
        size = wanted
        plate_w, plate_h, pad = _plate_size(lines, size, config)
        if plate_w > width or plate_h > height:
            # Text width is about linear in size: jump close, then step down to be exact.
            size = min(size, int(size * min(width / plate_w, height / plate_h)) + 1)
            while size > floor:
                plate_w, plate_h, pad = _plate_size(lines, size, config)
                if plate_w <= width and plate_h <= height:
                    break
                size -= 1
            plate_w, plate_h, pad = _plate_size(lines, size, config)
        if plate_w <= width and plate_h <= height:
            return MarkLayout(lines, size, pad, (width - plate_w, height - plate_h, width, height))
    raise ValueError(f"image {width}x{height} is too small for the AI mark")


def _glyph_mask(glyph: str, px: int) -> Image.Image:
    rows = _GLYPHS[glyph]
    bitmap = np.array([[255 if bit == "#" else 0 for bit in row] for row in rows], np.uint8)
    resample = Image.Resampling.NEAREST if px >= len(rows) else Image.Resampling.BOX
    return Image.fromarray(bitmap, "L").resize((px, px), resample)


def render_mark(layout: MarkLayout, config: LabelConfig | None = None) -> Image.Image:
    """The mark's ink alone, as an "L" mask the size of its plate (255 = white ink)."""
    config = config or LabelConfig()
    x0, y0, x1, y1 = layout.box
    ink = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(ink)
    font = _latin_font(layout.font_px, config.font_path)
    gap = max(1, layout.font_px // 6)
    y = layout.pad
    for line in layout.lines:
        latin, cjk = _split_cjk(line, config.font_path is not None)
        left, top, right, bottom = font.getbbox(latin)
        # Anchor by the ink box, not the font's ascent, so nothing lands outside the plate.
        draw.text((layout.pad - left, y - top), latin, font=font, fill=255)
        gx = layout.pad + int(right - left) + max(1, layout.font_px // 8)
        cap_bottom = font.getbbox("A")[3]
        glyph_px = _glyph_px(layout.font_px)
        gy = y + max(0, int(cap_bottom - top) - glyph_px)
        for glyph in cjk:
            ink.paste(255, (gx, gy), _glyph_mask(glyph, glyph_px))
            gx += glyph_px
        y += int(bottom - top) + gap
    return ink


def add_visible_mark(image: Image.Image, config: LabelConfig | None = None) -> Image.Image:
    """Bottom-right "AI-generated · AI生成" on a dark translucent plate, burned into pixels."""
    config = config or LabelConfig()
    img = image.convert("RGB")
    layout = mark_layout(img.width, img.height, config)
    x0, y0, x1, y1 = layout.box
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).rectangle([x0, y0, x1 - 1, y1 - 1], fill=(0, 0, 0, 150))
    plated = Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")
    # Ink coverage as alpha over the plate keeps anti-aliased edges of small type readable.
    plated.paste((255, 255, 255), (x0, y0), render_mark(layout, config))
    return plated


def apply_labels(image: Image.Image, cid: str, config: LabelConfig | None = None) -> Image.Image:
    """The visible mark, then the invisible watermark carrying `cid` (pixels only, no metadata).

    The watermark goes last so it is computed on exactly the pixels we deliver: its
    embedding cancels the picture's own share of each carrier, and a plate composited
    afterwards would bring that share back in the bottom-right blocks. Its faint texture
    over the plate does not hurt the mark's legibility.
    """
    config = config or LabelConfig()
    marked = add_visible_mark(image, config)
    if not config.invisible_watermark:
        return marked
    return Image.fromarray(embed(np.asarray(marked), payload_from_content_id(cid)))


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
    x0, y0, x1, y1 = mark_layout(rgb.shape[1], rgb.shape[0], config).box
    luma = rgb[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
    return bool((luma > 200).mean() > 0.05 and (luma < 110).mean() > 0.3)
