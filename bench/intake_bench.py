"""CPU per intake photo outside face analysis: decode and the perceptual hash, at 1.2 and 12 MP.

    .venv/bin/python bench/intake_bench.py [--repeat 5]

Synthetic face photos (pipeline.testing) as JPEG at 1280x960 and 4000x3000. For each: CPU time
(process_time, median of --repeat) of `decode_image`, of `image_fingerprint` as it is now
(downscale the uint8 image first, grey at 32x32), and of the earlier form kept here for the
comparison (a full-size float grey copy, then the resize), computed once vs twice per photo.
The figures are from whatever machine runs it; compare the rows, not absolute numbers.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from PIL import Image

from pipeline.checks import image_fingerprint
from pipeline.decode import decode_image
from pipeline.testing.synthetic_photos import synthetic_face_photo

SIZES = {"1.2 MP (1280x960)": (1280, 960), "12 MP (4000x3000)": (4000, 3000)}


def earlier_fingerprint(rgb: np.ndarray) -> int:
    """The hash before this change: float grey of the full image, then 32x32."""
    grey_full = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)
    grey = cv2.resize(grey_full, (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(grey)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def cpu_ms(work: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def jpeg(size: tuple[int, int]) -> bytes:
    small = Image.open(io.BytesIO(synthetic_face_photo(1, 3))).convert("RGB")
    out = io.BytesIO()
    small.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # CPU time of one photo, as one intake job sees it
    print("CPU ms per photo (median of", args.repeat, "runs); cv2 on one thread")
    for label, size in SIZES.items():
        data = jpeg(size)
        rgb = decode_image(data)
        decode = cpu_ms(lambda: decode_image(data), args.repeat)  # noqa: B023
        now = cpu_ms(lambda: image_fingerprint(rgb), args.repeat)  # noqa: B023
        before = cpu_ms(lambda: earlier_fingerprint(rgb), args.repeat)  # noqa: B023
        distance = (image_fingerprint(rgb) ^ earlier_fingerprint(rgb)).bit_count()
        print(
            f"{label}: decode {decode:.1f}; hash before {before:.1f} x2 = {2 * before:.1f}; "
            f"hash now {now:.1f} x1; outside face analysis before {decode + 2 * before:.1f}, "
            f"now {decode + now:.1f}; the two hashes differ by {distance} of 64 bits"
        )


if __name__ == "__main__":
    main()
