"""AI labels on every delivered image: a visible mark in the pixels and provenance metadata."""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr, unescape

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

# The mark's font: a subset of Noto Sans CJK SC Bold (OFL, pipeline/fonts/OFL.txt) holding just the
# glyphs the mark draws (printable ASCII, "·", 生成), so the Chinese is real type, not bitmaps.
MARK_FONT = Path(__file__).resolve().parent / "fonts" / "mark-cjk-subset.otf"
# GB 45438-2025 implicit label: the metadata key and its XMP namespace (TC260's).
AIGC_KEY = "AIGC"
AIGC_XMP_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
_EXIF_XP_COMMENT = 0x9C9C  # Windows' UTF-16LE comment tag: Unicode text may go here
_EXIF_USER_COMMENT = 0x9286  # Exif IFD; an 8-byte charset code, then the text
_UNICODE_PREFIX = b"UNICODE\x00"


@dataclass(frozen=True)
class LabelConfig:
    """Who we are in the metadata, and how the visible mark is drawn."""

    provider: str = "Portrait Studio"
    # A font with Latin and CJK glyphs for the mark; None uses the packaged subset (MARK_FONT).
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


def _font(size: int, font_path: str | None) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path or str(MARK_FONT), size)


def _line_size(line: str, font_px: int, config: LabelConfig) -> tuple[int, int]:
    """Ink width and height of one line, from the font's own bounding box."""
    left, top, right, bottom = _font(font_px, config.font_path).getbbox(line)
    return int(right - left), int(bottom - top)


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


def render_mark(layout: MarkLayout, config: LabelConfig | None = None) -> Image.Image:
    """The mark's ink alone, as an "L" mask the size of its plate (255 = white ink)."""
    config = config or LabelConfig()
    x0, y0, x1, y1 = layout.box
    ink = Image.new("L", (x1 - x0, y1 - y0), 0)
    draw = ImageDraw.Draw(ink)
    font = _font(layout.font_px, config.font_path)
    gap = max(1, layout.font_px // 6)
    y = layout.pad
    for line in layout.lines:
        left, top, _, bottom = font.getbbox(line)
        # Anchor by the ink box, not the font's ascent, so nothing lands outside the plate.
        draw.text((layout.pad - left, y - top), line, font=font, fill=255)
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


def aigc_label(provider: str, cid: str) -> dict[str, str]:
    """The GB 45438-2025 implicit label: content attribute, producer and content id.

    `Label` "1" means AI-generated (2: possibly, 3: suspected); the propagator fields are for
    platforms that pass the file on, and stay empty at the source.
    """
    return {
        "Label": "1",
        "ContentProducer": provider,
        "ProduceID": cid,
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }


def _aigc_json(provider: str, cid: str) -> str:
    return json.dumps(aigc_label(provider, cid), ensure_ascii=False, separators=(",", ":"))


def _xmp(provider: str, cid: str) -> str:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:TC260="{AIGC_XMP_NS}" '
        f'Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}" '
        f"TC260:AIGC={quoteattr(_aigc_json(provider, cid))}>"
        f"<dc:creator><rdf:Seq><rdf:li>{escape(provider)}</rdf:li></rdf:Seq></dc:creator>"
        f"<dc:identifier>{escape(cid)}</dc:identifier>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def _exif(provider: str, cid: str) -> Image.Exif:
    """ASCII tags hold ASCII only; the bilingual text goes in the Unicode comment tags."""
    exif = Image.Exif()
    ascii_provider = provider if provider.isascii() else ""
    by = f" by {ascii_provider}" if ascii_provider else ""
    exif[_EXIF_DESCRIPTION] = f"AI-generated image{by}; content id {cid}"
    if ascii_provider:
        exif[_EXIF_SOFTWARE] = ascii_provider
        exif[_EXIF_ARTIST] = ascii_provider
    comment = f"{MARK_TEXT} — {provider}; content id {cid}"
    exif[_EXIF_XP_COMMENT] = comment.encode("utf-16-le") + b"\x00\x00"
    ifd = exif.get_ifd(_EXIF_IFD)
    ifd[_EXIF_IMAGE_UNIQUE_ID] = cid
    # Pillow writes little-endian TIFF ("II"), so UTF-16LE is the byte order Exif asks for.
    ifd[_EXIF_USER_COMMENT] = _UNICODE_PREFIX + comment.encode("utf-16-le")
    return exif


def encode_labelled_png(image: Image.Image, provider: str, cid: str) -> bytes:
    """PNG with tEXt/iTXt provenance: ai_generated, provider, content_id, AIGC, XMP source type."""
    info = PngImagePlugin.PngInfo()
    info.add_text("ai_generated", "true")
    info.add_itxt("provider", provider)
    info.add_text("content_id", cid)
    info.add_itxt(AIGC_KEY, _aigc_json(provider, cid))
    info.add_itxt("Description", f"{MARK_TEXT} — {provider}", lang="en")
    info.add_itxt("XML:com.adobe.xmp", _xmp(provider, cid))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info, exif=_exif(provider, cid).tobytes())
    return buf.getvalue()


def encode_labelled_jpeg(image: Image.Image, provider: str, cid: str, quality: int = 90) -> bytes:
    """JPEG with EXIF provenance (description, ImageUniqueID = content id) and XMP (AIGC)."""
    buf = io.BytesIO()
    image.save(
        buf,
        format="JPEG",
        quality=quality,
        exif=_exif(provider, cid).tobytes(),
        xmp=_xmp(provider, cid).encode("utf-8"),
    )
    return buf.getvalue()


def read_aigc(data: bytes) -> dict[str, str] | None:
    """The GB 45438 implicit label of a PNG or JPEG we produced (None if absent)."""
    img = Image.open(io.BytesIO(data))
    text = getattr(img, "text", {}) or {}
    raw: str | None = text.get(AIGC_KEY)
    if raw is None:
        xmp = img.info.get("xmp") or text.get("XML:com.adobe.xmp")
        if xmp:
            xml = xmp.decode("utf-8") if isinstance(xmp, bytes) else str(xmp)
            found = re.search(r'TC260:AIGC=("[^"]*"|\'[^\']*\')', xml)
            raw = unescape(found.group(1)[1:-1], {"&quot;": '"', "&apos;": "'"}) if found else None
    if raw is None:
        return None
    parsed = json.loads(raw)
    return {str(k): str(v) for k, v in parsed.items()}


def read_label(data: bytes) -> dict[str, str]:
    """Provenance fields found in a PNG or JPEG we produced (empty if none)."""
    img = Image.open(io.BytesIO(data))
    found: dict[str, str] = {}
    text = getattr(img, "text", {}) or {}
    for key in ("ai_generated", "provider", "content_id"):
        if key in text:
            found[key] = str(text[key])
    aigc = read_aigc(data)
    if aigc is not None:
        found.setdefault("provider", aigc["ContentProducer"])
        found.setdefault("content_id", aigc["ProduceID"])
        if aigc.get("Label") == "1":
            found.setdefault("ai_generated", "true")
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
