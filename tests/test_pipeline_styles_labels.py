"""Style packs as data, deterministic seeds, AI labels, and import hygiene."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
from PIL import Image

from pipeline.labels import (
    LabelConfig,
    add_visible_mark,
    encode_labelled_jpeg,
    encode_labelled_png,
    mark_present,
    read_label,
)
from pipeline.styles import ANGLES, EXPRESSIONS, STYLE_PACKS, seeds_for


def test_at_least_six_bilingual_packs_with_varied_shot_lists() -> None:
    assert len(STYLE_PACKS) >= 6
    assert {"business", "window", "golden", "bw", "film", "hanfu"} <= set(STYLE_PACKS)
    for pack_id, pack in STYLE_PACKS.items():
        assert pack.id == pack_id and pack_id.isascii() and len(pack_id) <= 16
        assert pack.name_en and pack.name_zh and pack.description_en and pack.description_zh
        assert any("\u4e00" <= ch <= "\u9fff" for ch in pack.name_zh + pack.description_zh)
        assert len(pack.shots) == 20
        assert {s.angle for s in pack.shots} == set(ANGLES)
        assert {s.expression for s in pack.shots} == set(EXPRESSIONS)
        assert len({s.lighting for s in pack.shots}) >= 3
        assert len({(s.angle, s.expression) for s in pack.shots}) == 16
        prompt = pack.prompt(pack.shots[1])
        assert "three-quarter left" in prompt and "half-body" in prompt and "{" not in prompt
        assert pack.negative_prompt
        # callback_data is at most 64 bytes; leave room for a verb and an order id.
        assert len(f"pack:{pack_id}:0123456789abcdef0123456789abcdef".encode()) <= 64


def test_seeds_come_from_the_order_id() -> None:
    a = seeds_for("order-1", 20)
    assert a == seeds_for("order-1", 20) and len(set(a)) == 20
    assert a != seeds_for("order-2", 20)
    assert seeds_for("order-1", 20, attempt=1) != a
    assert all(0 <= s < 2**32 for s in a)


def _photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(90, 170, (1152, 896, 3), dtype=np.uint8))


def test_visible_mark_is_burned_into_the_pixels() -> None:
    plain = _photo()
    marked = add_visible_mark(plain)
    before, after = np.asarray(plain), np.asarray(marked)
    assert not mark_present(before) and mark_present(after)
    changed = np.any(before != after, axis=2)
    rows, cols = np.nonzero(changed)
    # Only a small bottom-right plate changes.
    assert rows.min() > 1152 * 0.9 and cols.min() > 896 * 0.4
    assert changed.mean() < 0.05


def test_metadata_in_png_and_jpeg() -> None:
    marked = add_visible_mark(_photo())
    png = encode_labelled_png(marked, "Portrait Studio", "cid123")
    jpeg = encode_labelled_jpeg(marked, "Portrait Studio", "cid123")
    for data in (png, jpeg):
        assert read_label(data) == {
            "ai_generated": "true",
            "provider": "Portrait Studio",
            "content_id": "cid123",
        }
    assert b"trainedAlgorithmicMedia" in png and b"trainedAlgorithmicMedia" in jpeg
    # The mark survives the album JPEG.
    assert mark_present(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
    unlabelled = io.BytesIO()
    marked.save(unlabelled, format="PNG")
    assert read_label(unlabelled.getvalue()) == {}


def test_custom_provider_label() -> None:
    cfg = LabelConfig(provider="Acme")
    png = encode_labelled_png(add_visible_mark(_photo(), cfg), cfg.provider, "c1")
    assert read_label(png)["provider"] == "Acme"


def test_light_modules_import_without_torch() -> None:
    code = (
        "import sys; import pipeline.styles, pipeline.decode, pipeline.checks, "
        "pipeline.identity, pipeline.faces, pipeline.labels, pipeline.review; "
        "heavy = {'torch', 'diffusers', 'insightface'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
