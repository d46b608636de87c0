"""The commercial stack's generator: FLUX.2 [klein] 4B (Apache-2.0) with multi-reference images.

Identity comes from reference images, not from a face embedding: the headshot and the selfies
closest to the identity profile's centre, cropped around the face by the pipeline, are VAE-encoded
and attended to by every denoising step. The prompt restages them per shot (angle, light,
expression; `StylePack.reference_prompt`). The references live in memory only: PIL images made
from the arrays the caller hands in, never written anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.generators import Progress, batch_sizes
from pipeline.identity import IdentityProfile
from pipeline.styles import Shot, StylePack

if TYPE_CHECKING:
    import torch
    from PIL import Image

logger = logging.getLogger(__name__)

# The pipeline refuses a reference with a side under 64 px.
MIN_REFERENCE_PX = 64


@dataclass(frozen=True)
class Flux2KleinConfig:
    """What the generator loads and how it samples; every path is a setting."""

    model: str  # folder (or hub id) of a Flux2KleinPipeline in from_pretrained layout
    steps: int = 4  # klein 4B is step-distilled for 4
    guidance: float = 1.0  # the distilled model ignores guidance; > 1 runs CFG for base models
    width: int = 896
    height: int = 1152
    # Reference images per portrait: the headshot plus the best selfies by the identity profile.
    references: int = 4
    # Longest side of each reference: every reference adds (px/16)^2 tokens to every step.
    reference_px: int = 512
    batch_size: int = 4
    max_sequence_length: int = 512
    # Qwen3 hidden states stacked into the prompt embedding (the released model's layers).
    text_encoder_out_layers: tuple[int, ...] = (9, 18, 27)
    compile: bool = False
    variant: str | None = None

    @property
    def pad_batches(self) -> bool:
        """A compiled transformer recompiles on a new batch shape: every batch then runs full."""
        return self.compile

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1")
        if self.width % 16 or self.height % 16:
            raise ValueError(f"size {self.width}x{self.height} must be a multiple of 16")
        if self.references < 1:
            raise ValueError(f"references={self.references}: klein needs at least one image")
        if self.reference_px < MIN_REFERENCE_PX:
            raise ValueError(f"reference_px={self.reference_px} is under {MIN_REFERENCE_PX}")


def tiny_flux2_config(models_dir: Path, **overrides: Any) -> Flux2KleinConfig:
    """Config for the tiny random pipeline that `pipeline.testing.tiny_flux2` builds."""
    base = Flux2KleinConfig(
        model=str(Path(models_dir) / "flux2_klein"),
        steps=2,
        width=64,
        height=80,
        references=3,
        reference_px=MIN_REFERENCE_PX,
    )
    return replace(base, **overrides)


def reference_image(rgb: np.ndarray, longest: int) -> Image.Image:
    """An RGB array as a PIL image whose longest side is at most `longest` (64 px a side at least).

    Never enlarged beyond 64 px: an upscaled crop adds tokens to every step and no detail.
    """
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]), "RGB")
    scale = min(longest / max(image.size), 1.0)
    width, height = (max(MIN_REFERENCE_PX, round(side * scale)) for side in image.size)
    return image.resize((width, height), Image.Resampling.LANCZOS)


class Flux2KleinGenerator:
    """A loaded Flux2KleinPipeline; `generate` is synchronous."""

    stack = "commercial"

    def __init__(self, pipe: Any, config: Flux2KleinConfig, device: str, dtype: torch.dtype):
        self.pipe = pipe
        self.config = config
        self.device = device
        self.dtype = dtype

    @property
    def references_wanted(self) -> int:
        return self.config.references

    @classmethod
    def load(
        cls, config: Flux2KleinConfig, device: str = "cpu", dtype: torch.dtype | None = None
    ) -> Flux2KleinGenerator:
        """Transformer, Qwen3 text encoder, tokenizer, VAE and scheduler via from_pretrained."""
        import torch
        from diffusers import Flux2KleinPipeline

        dtype = dtype or torch.float32
        pipe = Flux2KleinPipeline.from_pretrained(config.model, dtype=dtype, variant=config.variant)
        return cls._finish(pipe, config, device, dtype)

    @classmethod
    def random_full_size(
        cls,
        config: Flux2KleinConfig | None = None,
        device: str = "cuda",
        dtype: torch.dtype | None = None,
    ) -> Flux2KleinGenerator:
        """FLUX.2 [klein] 4B's architecture with random weights: real cost, no hub."""
        import torch

        from pipeline.full_size import random_flux2_klein_pipeline

        dtype = dtype or torch.bfloat16
        pipe = random_flux2_klein_pipeline(device, dtype)
        config = replace(config or Flux2KleinConfig(model="random"), model="random")
        return cls._finish(pipe, config, device, dtype)

    @classmethod
    def _finish(
        cls, pipe: Any, config: Flux2KleinConfig, device: str, dtype: torch.dtype
    ) -> Flux2KleinGenerator:
        import torch

        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        if device.startswith("cuda"):
            pipe.vae.to(memory_format=torch.channels_last)
        if config.compile:
            pipe.transformer = torch.compile(pipe.transformer)
        logger.info(
            "generator ready: FLUX.2 klein %s on %s/%s, %d steps, %dx%d, %d references",
            config.model,
            device,
            dtype,
            config.steps,
            config.width,
            config.height,
            config.references,
        )
        return cls(pipe, config, device, dtype)

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
        """One image per (shot, seed), in batches, all conditioned on the same references."""
        import torch

        if len(shots) != len(seeds):
            raise ValueError(f"{len(shots)} shots but {len(seeds)} seeds")
        if not references:
            raise ValueError("FLUX.2 klein needs reference images (the headshot first)")
        cfg = self.config
        images_in = [reference_image(rgb, cfg.reference_px) for rgb in references[: cfg.references]]
        images: list[Image.Image] = []
        total = len(shots)
        for start in range(0, total, cfg.batch_size):
            batch_shots = list(shots[start : start + cfg.batch_size])
            batch_seeds = list(seeds[start : start + cfg.batch_size])
            wanted = len(batch_shots)
            if cfg.pad_batches:  # repeat the last one; the extra images are dropped below
                batch_shots += batch_shots[-1:] * (cfg.batch_size - wanted)
                batch_seeds += batch_seeds[-1:] * (cfg.batch_size - wanted)
            generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in batch_seeds]
            with torch.inference_mode():
                out = self.pipe(
                    prompt=[pack.reference_prompt(s, len(images_in)) for s in batch_shots],
                    image=images_in,
                    num_inference_steps=cfg.steps,
                    guidance_scale=cfg.guidance,
                    width=cfg.width,
                    height=cfg.height,
                    generator=generators,
                    max_sequence_length=cfg.max_sequence_length,
                    text_encoder_out_layers=cfg.text_encoder_out_layers,
                    output_type="pil",
                )
            for image in out.images[:wanted]:
                images.append(image)
                if progress is not None:
                    progress(len(images), total)
        return images

    def batch_sizes(self, count: int) -> list[int]:
        """The batch shapes `generate` runs for `count` images (what a warm-up must cover)."""
        return batch_sizes(count, self.config.batch_size, self.config.pad_batches)
