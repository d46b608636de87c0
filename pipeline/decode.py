"""Safe decoding of untrusted uploads into RGB arrays, and encoding of outputs."""

from __future__ import annotations

import io
import logging
import struct
import warnings
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

# HEIF covers HEIC (iPhone photos); its decoder is pillow-heif, registered on first decode.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "HEIF")


@dataclass(frozen=True)
class DecodeLimits:
    """Upper and lower bounds an upload must respect before we spend CPU on it."""

    # Telegram documents can be 20 MB through getFile; anything bigger is not a photo we want.
    max_bytes: int = 20 * 1024 * 1024
    # 40 MP covers every phone camera; beyond that a "photo" is more likely an attack.
    max_pixels: int = 40_000_000
    # Below this a face cannot reach the recogniser's 112 px input with any fidelity.
    min_side: int = 64
    formats: tuple[str, ...] = ALLOWED_FORMATS


class ImageRejected(Exception):
    """An upload we refuse to decode; `reason` is a stable code callers map to messages."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@cache
def _register_heif() -> None:
    """Teach PIL to open HEIC/HEIF, once, on first use (importing us changes nothing).

    PIL's own guards still apply: the header gives the size before any pixel is decoded, so the
    pixel cap and the decompression bomb check run as for every other format.
    """
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _check_header(data: bytes, limits: DecodeLimits) -> Image.Image:
    if "HEIF" in limits.formats:
        _register_heif()
    if not data:
        raise ImageRejected("empty")
    if len(data) > limits.max_bytes:
        raise ImageRejected("too_large_bytes", f"{len(data)} bytes")
    try:
        # `formats` restricts which decoders PIL may try, so the type is judged from content.
        img = Image.open(io.BytesIO(data), formats=list(limits.formats))
    except UnidentifiedImageError as exc:
        # Distinguish "an image we do not accept" from "not an image at all".
        try:
            other = Image.open(io.BytesIO(data))
            fmt = other.format or "unknown"
        except Exception:
            raise ImageRejected("not_an_image") from exc
        raise ImageRejected("unsupported_format", fmt) from exc
    except Image.DecompressionBombError as exc:
        raise ImageRejected("decompression_bomb") from exc
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        # A header PIL recognises but cannot parse (e.g. one claiming an absurd size).
        raise ImageRejected("corrupt", type(exc).__name__) from exc
    return img


def decode_image(
    data: bytes, limits: DecodeLimits | None = None, min_decoded_side: int | None = None
) -> np.ndarray:
    """Decode JPEG/PNG/WebP/HEIC bytes into an upright HxWx3 uint8 RGB array with no metadata.

    `min_decoded_side`: a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT
    scaling, far cheaper than a full decode and a resize) while both sides stay at or above
    it. Every limit is still judged on the size the header states. None: full size.
    """
    limits = limits or DecodeLimits()
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A process-wide PIL switch that would pass a cut-off upload as a grey-padded photo.
        raise RuntimeError("PIL's LOAD_TRUNCATED_IMAGES is set; refusing to decode uploads")
    with warnings.catch_warnings():
        # PIL only warns between 1x and 2x its own pixel limit; any bomb hint is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = _check_header(data, limits)
        except Image.DecompressionBombWarning as exc:
            raise ImageRejected("decompression_bomb") from exc
        width, height = img.size
        if width * height > limits.max_pixels:
            raise ImageRejected("too_many_pixels", f"{width}x{height}")
        if min(width, height) < limits.min_side:
            raise ImageRejected("too_small", f"{width}x{height}")
        try:
            animated = getattr(img, "is_animated", False) and getattr(img, "n_frames", 1) > 1
        except (OSError, SyntaxError, ValueError, struct.error) as exc:  # counting frames reads on
            raise ImageRejected("corrupt", type(exc).__name__) from exc
        if animated:
            raise ImageRejected("animated")
        if min_decoded_side is not None and img.format == "JPEG":
            # Picks the largest scale that keeps both sides >= the size asked for.
            img.draft(None, (min_decoded_side, min_decoded_side))
        try:
            img.load()
            # exif_transpose reads the orientation tag; the array we return has no metadata.
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img)
        except Image.DecompressionBombWarning as exc:
            raise ImageRejected("decompression_bomb") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("corrupt", type(exc).__name__) from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit greyscale: scale to 8 bits instead of letting PIL clip at 255.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if img.mode.startswith("I") else max(float(arr.max()), 1.0)
        arr8 = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, mode="L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Flatten transparency on white, the way a chat client shows it.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """Encode an RGB array as a baseline JPEG with no metadata."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an RGB array as a PNG with no metadata."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()
