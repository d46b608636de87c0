"""CPU per intake photo outside face analysis: decode and the perceptual hash, at 1.2 and 12 MP.

    .venv/bin/python bench/intake_bench.py [--repeat 5]

Synthetic face photos (pipeline.testing) as JPEG at 1280x960 and 4000x3000. For each: CPU time
(process_time, median of --repeat) of `decode_image` at full size (the earlier intake decode,
still the render's) and as intake calls it (`min_decoded_side=ANALYSIS_MIN_SIDE`: a large JPEG
decoded at 1/2, 1/4 or 1/8 by libjpeg), of `image_fingerprint` as it is now
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

from pipeline.checks import ANALYSIS_MIN_SIDE, image_fingerprint
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
        full = decode_image(data)
        rgb = decode_image(data, min_decoded_side=ANALYSIS_MIN_SIDE)
        decode_full = cpu_ms(lambda: decode_image(data), args.repeat)  # noqa: B023
        decode = cpu_ms(
            lambda: decode_image(data, min_decoded_side=ANALYSIS_MIN_SIDE),  # noqa: B023
            args.repeat,
        )
        now = cpu_ms(lambda: image_fingerprint(rgb), args.repeat)  # noqa: B023
        hash_full = cpu_ms(lambda: image_fingerprint(full), args.repeat)  # noqa: B023
        before = cpu_ms(lambda: earlier_fingerprint(full), args.repeat)  # noqa: B023
        distance = (image_fingerprint(rgb) ^ earlier_fingerprint(full)).bit_count()
        print(
            f"{label}: decode full {decode_full:.1f}, as intake ({rgb.shape[1]}x{rgb.shape[0]}) "
            f"{decode:.1f}; hash earliest {before:.1f} x2 = {2 * before:.1f}, on the full "
            f"image {hash_full:.1f}, on intake's {now:.1f}; outside face analysis: earliest "
            f"{decode_full + 2 * before:.1f}, full decode {decode_full + hash_full:.1f}, "
            f"now {decode + now:.1f}; the hash moved {distance} of 64 bits"
        )


if __name__ == "__main__":
    main()
