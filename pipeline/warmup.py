"""Warm-up: one generation at each batch shape an order will run, before the first order.

The first call at a shape pays one-off costs (CUDA kernel selection, memory pool growth, and with
`torch.compile` a whole compilation, minutes for SDXL): paid at worker start, it does not land on
the first paying user. The images are thrown away; nothing personal is involved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.faces import ARCFACE_SPACE
from pipeline.generators import Generator
from pipeline.identity import IdentityProfile
from pipeline.styles import STYLE_PACKS

logger = logging.getLogger(__name__)

# A flat grey stands in for the face crop and the reference images.
_GREY_SIDE = 224


@dataclass(frozen=True)
class WarmUp:
    """What the warm-up ran: each batch size once, and how long each took."""

    batch_sizes: tuple[int, ...]
    seconds: tuple[float, ...]


def warm_up_profile() -> IdentityProfile:
    """A stand-in identity: a unit ArcFace-sized vector and a grey crop (no person's data)."""
    embedding = np.zeros(ARCFACE_SPACE.dim, np.float32)
    embedding[0] = 1.0
    grey = np.full((_GREY_SIDE, _GREY_SIDE, 3), 128, np.uint8)
    return IdentityProfile(
        mean_embedding=embedding,
        top_embeddings=embedding[None],
        reference_crops=[grey],
        kept=[0],
        ranked=[0],
    )


def warm_up(generator: Generator, batch_sizes: Iterable[int], pack_id: str = "business") -> WarmUp:
    """Run one batch of each size in `batch_sizes` through `generator` (blocking)."""
    pack = STYLE_PACKS[pack_id]
    profile = warm_up_profile()
    grey = profile.reference_crops[0]
    references = [grey] * generator.references_wanted
    sizes = tuple(sorted(set(batch_sizes), reverse=True))
    seconds = []
    for size in sizes:
        shots = [pack.shots[i % len(pack.shots)] for i in range(size)]
        start = time.perf_counter()
        generator.generate(profile, pack, shots, list(range(size)), references=references)
        seconds.append(time.perf_counter() - start)
        logger.info("warm-up: batch of %d in %.2f s", size, seconds[-1])
    return WarmUp(sizes, tuple(seconds))
