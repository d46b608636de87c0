"""Invisible watermark benchmark: bit error rate and detection under JPEG and resizing, PSNR, time.

    python bench/watermark_bench.py              # real photos from installed packages, ~10 s
    python bench/watermark_bench.py --repeat 20  # steadier timings

For each photo (resized to the product's 896x1152) it embeds a content id, then decodes
after JPEG at quality 90/80/70/60/50, a 0.5x resize, and a 0.5x resize plus JPEG 70. It
prints bit error rate (BER), the detector's pilot score (normal z; unmarked ~N(0, 1),
a clean mark 8) and PSNR of the marked image against the original.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZE = (896, 1152)


def _photos() -> dict[str, np.ndarray]:
    import cv2
    import insightface
    from PIL import Image
    from skimage import data

    group = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    sources = {
        "astronaut": data.astronaut(),
        "coffee": data.coffee(),
        "chelsea": data.chelsea(),
        "group": np.asarray(Image.open(group).convert("RGB")),
        "smooth": cv2.GaussianBlur(data.chelsea(), (0, 0), 4),
    }
    return {k: cv2.resize(v, SIZE, interpolation=cv2.INTER_CUBIC) for k, v in sources.items()}


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _half(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)


ATTACKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "none": lambda rgb: rgb,
    "jpeg90": lambda rgb: _jpeg(rgb, 90),
    "jpeg80": lambda rgb: _jpeg(rgb, 80),
    "jpeg70": lambda rgb: _jpeg(rgb, 70),
    "jpeg60": lambda rgb: _jpeg(rgb, 60),
    "jpeg50": lambda rgb: _jpeg(rgb, 50),
    "half": _half,
    "half+jpeg70": lambda rgb: _jpeg(_half(rgb), 70),
}


def _z(confidence: float) -> float:
    """Back from confidence (normal CDF) to the pilot score, by bisection (no scipy)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 1.0 - 0.5 * math.erfc(mid / math.sqrt(2)) < confidence:
            lo = mid
        else:
            hi = mid
    return lo


def main() -> None:
    from pipeline.labels import content_id
    from pipeline.watermark import detect, embed, is_marked, payload_from_content_id

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing repetitions")
    args = parser.parse_args()

    photos = _photos()
    names = list(ATTACKS)
    print(f"{'photo':<10} {'PSNR dB':>7}  " + "  ".join(f"{n:>12}" for n in names))
    print(f"{'':<10} {'':>7}  " + "  ".join(f"{'BER  z':>12}" for _ in names))
    totals: dict[str, list[float]] = {n: [] for n in names}
    missed: dict[str, int] = dict.fromkeys(names, 0)
    for i, (name, photo) in enumerate(photos.items()):
        bits = payload_from_content_id(content_id("bench", i, 7))
        marked = embed(photo, bits)
        mse = float(np.mean((marked.astype(np.float64) - photo) ** 2))
        cells = []
        for attack, fn in ATTACKS.items():
            decoded, confidence = detect(fn(marked))
            ber = float(np.mean(decoded != bits))
            totals[attack].append(ber)
            missed[attack] += not is_marked(confidence)
            cells.append(f"{ber:5.3f} {_z(confidence):5.1f}")
        print(f"{name:<10} {10 * math.log10(255**2 / mse):7.1f}  " + "  ".join(cells))
    print(
        f"{'mean BER':<10} {'':>7}  "
        + "  ".join(f"{statistics.mean(v):12.4f}" for v in totals.values())
    )
    print(f"{'missed':<10} {'':>7}  " + "  ".join(f"{missed[n]:>12d}" for n in names))

    unmarked = [_z(detect(fn(p))[1]) for p in photos.values() for fn in ATTACKS.values()]
    print(
        f"unmarked images: {len(unmarked)}, pilot z max {max(unmarked):.2f}, "
        f"detected {sum(is_marked(1.0 - 0.5 * math.erfc(z / math.sqrt(2))) for z in unmarked)}"
    )

    photo = photos["group"]
    bits = payload_from_content_id(content_id("bench", 0, 7))
    embed(photo, bits)
    marked = embed(photo, bits)
    jobs: dict[str, Callable[[], object]] = {
        "embed": lambda: embed(photo, bits),
        "detect": lambda: detect(marked),
    }
    for label, job in jobs.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            job()
            times.append(time.perf_counter() - start)
        print(
            f"{label} {SIZE[0]}x{SIZE[1]}: median {statistics.median(times) * 1e3:.1f} ms, "
            f"best {min(times) * 1e3:.1f} ms"
        )


if __name__ == "__main__":
    main()
