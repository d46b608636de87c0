"""Deterministic synthetic "photos" that the tiny face pack sees as faces of a given identity.

A face is a bright square carrying a 7x7 colour pattern drawn from the identity number;
the variant number moves it, resizes it, changes the background, the exposure gain and the
grain. Everything is drawn on a canvas whose longer side is 640 px (the detector's input
size) with face centres on the detector's 32 px grid, then resized to the requested size.
The default CheckConfig accepts kind="one" at 128 px and larger. On a square photo,
variants 0-25 are never near-duplicates of each other under `checks.image_fingerprint`
(from 26 on, layouts start to repeat with another face size).
"""

from __future__ import annotations

import io
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from pipeline.testing.tiny_face_pack import RECOGNISER_GRID

PhotoKind = Literal[
    "one", "two_faces", "background_face", "no_face", "dark", "bright", "blurry", "small_face"
]
_CANVAS = 640
_GRID = 32
_FACE_BASE = np.array([222.0, 196.0, 176.0])  # a light skin tone, well above the background
_TINT = 34.0


def _pattern(identity: int) -> np.ndarray:
    rng = np.random.default_rng(10_000 + identity)
    return rng.uniform(-_TINT, _TINT, (RECOGNISER_GRID, RECOGNISER_GRID, 3))


def _draw_face(
    canvas: np.ndarray, identity: int, cx: int, cy: int, side: int, rng: np.random.Generator
) -> None:
    cells = RECOGNISER_GRID
    side = max(cells, side // cells * cells)
    tile = np.kron(_pattern(identity), np.ones((side // cells, side // cells, 1)))
    face = _FACE_BASE + tile + rng.normal(0.0, 4.0, tile.shape)
    x0, y0 = cx - side // 2, cy - side // 2
    h, w = canvas.shape[:2]
    xs, ys = max(0, x0), max(0, y0)
    xe, ye = min(w, x0 + side), min(h, y0 + side)
    canvas[ys:ye, xs:xe] = face[ys - y0 : ye - y0, xs - x0 : xe - x0]


def synthetic_face_rgb(
    identity: int, variant: int = 0, size: tuple[int, int] = (640, 640), kind: PhotoKind = "one"
) -> np.ndarray:
    """An HxWx3 uint8 RGB array; `size` is (width, height)."""
    width, height = size
    scale = _CANVAS / max(width, height)
    cw, ch = round(width * scale), round(height * scale)
    rng = np.random.default_rng(1_000_003 * identity + variant)
    # Dark, slightly graded background with grain: nothing in it passes for a face.
    base = rng.uniform(35, 70, 3)
    # A gradient in a per-variant direction, so variants differ beyond the face position.
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:ch, 0:cw] / _CANVAS
    ramp = (25.0 * (np.cos(angle) * xx + np.sin(angle) * yy))[:, :, None]
    canvas = base + ramp + rng.normal(0.0, 5.0, (ch, cw, 3))
    cols, rows = cw // _GRID, ch // _GRID
    side = int(_GRID * (7 + (variant + variant // 15) % 3))  # 224, 256 or 288 canvas px
    if kind == "small_face":
        side = 2 * _GRID
    if kind == "two_faces":
        side = int(_GRID * 5)
        y = rows // 2 * _GRID + _GRID // 2
        _draw_face(canvas, identity, cw // 4 // _GRID * _GRID + _GRID // 2, y, side, rng)
        _draw_face(canvas, identity + 7919, 3 * cw // 4 // _GRID * _GRID + _GRID // 2, y, side, rng)
    elif kind != "no_face":
        # Positions two cells apart (up to 5 x 5) times 3 sizes: on a square photo variants
        # 0..74 never share a layout, and layouts differ enough for the perceptual hash.
        sx = max(0, min(2, ((cols - side // _GRID) // 2 - 1) // 2))
        sy = max(0, min(2, ((rows - side // _GRID) // 2 - 1) // 2))
        slots = (2 * sx + 1) * (2 * sy + 1)
        slot = (variant * 7) % slots
        dx = 2 * (slot % (2 * sx + 1) - sx)
        dy = 2 * (slot // (2 * sx + 1) - sy)
        cx = (cols // 2 + dx) * _GRID + _GRID // 2
        cy = (rows // 2 + dy) * _GRID + _GRID // 2
        _draw_face(canvas, identity, cx, cy, side, rng)
        if kind == "background_face":
            bx = _GRID // 2 + _GRID * (1 if cx > cw // 2 else cols - 2)
            _draw_face(canvas, identity + 104_729, bx, _GRID * 2 + _GRID // 2, _GRID, rng)
    gain = 1.0 + 0.08 * ((variant % 5) - 2) / 2
    if kind == "dark":
        gain = 0.22
    elif kind == "bright":
        gain = 1.6
    if kind == "blurry":
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigmaX=side / 6)
    if (cw, ch) != (width, height):
        canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
    if kind != "blurry":
        # Sensor grain at the output resolution: what makes a real photo read as sharp.
        canvas = canvas + rng.normal(0.0, 6.0, canvas.shape)
    rgb = np.clip(canvas * gain, 0, 255).astype(np.uint8)
    return rgb


def synthetic_face_photo(
    identity: int,
    variant: int = 0,
    size: tuple[int, int] = (640, 640),
    kind: PhotoKind = "one",
    quality: int = 92,
) -> bytes:
    """The same picture as `synthetic_face_rgb`, encoded as a JPEG like a phone upload."""
    buf = io.BytesIO()
    Image.fromarray(synthetic_face_rgb(identity, variant, size, kind)).save(
        buf, format="JPEG", quality=quality
    )
    return buf.getvalue()
