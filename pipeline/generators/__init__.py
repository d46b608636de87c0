"""Generators, one module per model stack, behind one small interface.

`research`: SDXL + IP-Adapter FaceID (`sdxl_faceid`), conditioned on the identity profile's
embedding. `commercial`: FLUX.2 [klein] (`flux2_klein`), conditioned on reference images (the
headshot and the selfies closest to the profile's centre). A new stack is a new module here that
defines a generator class, plus one line in `GENERATORS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

    from pipeline.identity import IdentityProfile
    from pipeline.styles import Shot, StylePack

Progress = Callable[[int, int], None]

# Stack name -> "module:Class" of its generator; imported only when that stack is loaded.
GENERATORS: dict[str, str] = {
    "research": "pipeline.generators.sdxl_faceid:PortraitGenerator",
    "commercial": "pipeline.generators.flux2_klein:Flux2KleinGenerator",
}


class Generator(Protocol):
    """What the portrait pipeline needs of a loaded generator; `generate` is synchronous."""

    # The stack this generator belongs to (a key of GENERATORS).
    stack: str

    @property
    def references_wanted(self) -> int:
        """How many reference images `generate` conditions on (0: it uses the profile only)."""
        ...

    def generate(
        self,
        profile: IdentityProfile,
        pack: StylePack,
        shots: Sequence[Shot],
        seeds: Sequence[int],
        progress: Progress | None = None,
        *,
        references: Sequence[np.ndarray] = (),
    ) -> list[Image.Image]:
        """One image per (shot, seed); `references` are RGB arrays, best first, memory only."""
        ...

    def batch_sizes(self, count: int) -> list[int]:
        """The batch shapes `generate` runs for `count` images, distinct, largest first."""
        ...


class GeneratorClass(Protocol):
    """The class side: how a stack's generator is loaded from files or built at full size."""

    def load(self, config: Any, device: str = ..., dtype: torch.dtype | None = ...) -> Generator:
        """From local folders (from_pretrained layout); blocking."""
        ...

    def random_full_size(
        self, config: Any = ..., device: str = ..., dtype: torch.dtype | None = ...
    ) -> Generator:
        """The real architecture with random weights: real cost for benchmarks, no hub."""
        ...


def batch_sizes(count: int, batch_size: int, pad: bool) -> list[int]:
    """The distinct batch shapes of `count` images in batches of `batch_size`, largest first.

    `pad`: the last, short batch is filled up to `batch_size` (one shape for a compiled model).
    """
    if count <= 0:
        return []
    if pad:
        return [batch_size]
    return sorted({min(count, batch_size), count % batch_size or batch_size}, reverse=True)


def generator_class(stack: str) -> GeneratorClass:
    """The generator class of a model stack (imports its module on first use)."""
    try:
        target = GENERATORS[stack]
    except KeyError:
        known = sorted(GENERATORS)
        raise ValueError(f"unknown model stack {stack!r}; expected one of {known}") from None
    module, _, name = target.partition(":")
    found: GeneratorClass = getattr(importlib.import_module(module), name)
    return found


__all__ = [
    "GENERATORS",
    "Generator",
    "GeneratorClass",
    "Progress",
    "batch_sizes",
    "generator_class",
]
