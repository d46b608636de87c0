"""The research stack's generator: SDXL + IP-Adapter FaceID. The caller picks device and dtype.

Conditioned on the identity profile's mean ArcFace embedding (and, for Plus-v2, the CLIP features
of its most frontal face crop); it takes no reference images.
"""

from __future__ import annotations

import logging
import tempfile
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

SCHEDULERS = ("default", "euler_trailing", "tcd", "lcm", "dpmpp_2m_karras")
# What a few-step LoRA (SDXL-Lightning, Hyper-SD) samples with when no scheduler is named.
FEW_STEP_SCHEDULER = "euler_trailing"


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything the generator loads and how it samples; every path is a setting."""

    base_model: str  # hub id or folder of an SDXL pipeline (from_pretrained layout)
    adapter_dir: str  # folder (or hub id) holding the IP-Adapter FaceID weights
    adapter_weight_name: str = "ip-adapter-faceid_sdxl.bin"
    adapter_subfolder: str = ""
    # FaceID-Plus-v2: adds the face crop's CLIP embeddings; needs the ViT-H image encoder,
    # a local folder (from_pretrained layout) or a path inside the adapter's hub repo.
    plus_v2: bool = False
    image_encoder_path: str | None = None
    plus_shortcut_scale: float = 1.0
    # Optional few-step LoRA (SDXL-Lightning / Hyper-SD) with its matching scheduler.
    lora_path: str | None = None
    lora_weight_name: str | None = None
    lora_scale: float = 1.0
    scheduler: str = "default"
    steps: int = 30
    guidance: float = 5.0  # <= 1 disables classifier-free guidance (few-step LoRAs want that)
    # A VAE folder that decodes in fp16 without overflowing (madebyollin/sdxl-vae-fp16-fix):
    # it replaces the base model's VAE, and the fp32 upcast of every decode is skipped.
    vae_dir: str | None = None
    width: int = 896
    height: int = 1152
    adapter_scale: float = 0.8
    batch_size: int = 4
    compile: bool = False
    variant: str | None = None  # e.g. "fp16" for hub folders with fp16 weight files

    @property
    def pad_batches(self) -> bool:
        """A compiled UNet recompiles on a new batch shape: every batch then runs full."""
        return self.compile

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler {self.scheduler!r} not in {SCHEDULERS}")
        if self.width % 8 or self.height % 8:
            raise ValueError(f"size {self.width}x{self.height} must be a multiple of 8")
        if self.plus_v2 and not self.image_encoder_path:
            raise ValueError("plus_v2 needs image_encoder_path (CLIP ViT-H/14)")


def tiny_generator_config(models_dir: Path, **overrides: Any) -> GeneratorConfig:
    """Config for the tiny random models that `pipeline.testing.tiny_models` builds."""
    from pipeline.testing.tiny_models import ADAPTER_WEIGHT_NAME

    base = GeneratorConfig(
        base_model=str(Path(models_dir) / "sdxl"),
        adapter_dir=str(Path(models_dir) / "faceid"),
        adapter_weight_name=ADAPTER_WEIGHT_NAME,
        steps=2,
        guidance=5.0,
        width=64,
        height=80,
        batch_size=4,
    )
    return replace(base, **overrides)


def few_step_config(
    config: GeneratorConfig,
    steps: int,
    guidance: float | None = None,
    scheduler: str | None = None,
) -> GeneratorConfig:
    """The defaults a few-step LoRA wants: its step count, no CFG (one UNet pass per step),
    trailing-spacing Euler; `guidance` and `scheduler` given explicitly win."""
    if steps < 1:
        raise ValueError(f"a few-step LoRA needs steps >= 1, got {steps}")
    return replace(
        config,
        steps=steps,
        guidance=0.0 if guidance is None else guidance,
        scheduler=scheduler or FEW_STEP_SCHEDULER,
    )


def _set_scheduler(pipe: Any, name: str) -> None:
    import diffusers

    cfg = pipe.scheduler.config
    if name == "euler_trailing":  # SDXL-Lightning's recipe
        pipe.scheduler = diffusers.EulerDiscreteScheduler.from_config(
            cfg, timestep_spacing="trailing"
        )
    elif name == "tcd":  # Hyper-SD's recommended sampler
        pipe.scheduler = diffusers.TCDScheduler.from_config(cfg)
    elif name == "lcm":
        pipe.scheduler = diffusers.LCMScheduler.from_config(cfg)
    elif name == "dpmpp_2m_karras":
        pipe.scheduler = diffusers.DPMSolverMultistepScheduler.from_config(
            cfg, use_karras_sigmas=True
        )


def _set_vae_upcast(pipe: Any, config: GeneratorConfig, dtype: torch.dtype) -> None:
    """Skip the VAE's fp32 upcast where fp16 overflow cannot happen.

    SDXL's stock VAE overflows in fp16 (NaN, black images), so its config asks the pipeline to
    upcast it to fp32 for every decode (`force_upcast`). bf16 has fp32's range and the fp16-fix
    VAE was retrained not to overflow: for those the upcast only costs time and memory.
    """
    import torch

    if config.vae_dir or dtype == torch.bfloat16:
        pipe.vae.register_to_config(force_upcast=False)


class PortraitGenerator:
    """A loaded SDXL pipeline with a FaceID adapter; `generate` is synchronous."""

    stack = "research"
    references_wanted = 0  # identity comes from the profile's embedding, not from images

    def __init__(
        self,
        pipe: Any,
        config: GeneratorConfig,
        device: str,
        dtype: torch.dtype,
        image_encoder: Any = None,
        image_processor: Any = None,
    ) -> None:
        self.pipe = pipe
        self.config = config
        self.device = device
        self.dtype = dtype
        self.image_encoder = image_encoder
        self.image_processor = image_processor

    @classmethod
    def load(
        cls, config: GeneratorConfig, device: str = "cpu", dtype: torch.dtype | None = None
    ) -> PortraitGenerator:
        """Load base model, adapter and optional LoRA with from_pretrained/load_ip_adapter."""
        import torch
        from diffusers import StableDiffusionXLPipeline

        dtype = dtype or torch.float32
        extra: dict[str, Any] = {}
        if config.vae_dir:
            from diffusers import AutoencoderKL

            extra["vae"] = AutoencoderKL.from_pretrained(config.vae_dir, dtype=dtype)
        pipe = StableDiffusionXLPipeline.from_pretrained(
            config.base_model, dtype=dtype, variant=config.variant, **extra
        )
        return cls._finish(pipe, config, device, dtype)

    @classmethod
    def random_full_size(
        cls,
        config: GeneratorConfig | None = None,
        device: str = "cuda",
        dtype: torch.dtype | None = None,
    ) -> PortraitGenerator:
        """Full-size SDXL + FaceID architecture with random weights: real cost, no hub."""
        import torch

        from pipeline.full_size import random_sdxl_pipeline, write_random_faceid_adapter

        dtype = dtype or torch.float16
        pipe = random_sdxl_pipeline(device, dtype)
        folder = Path(tempfile.mkdtemp(prefix="faceid_random_"))
        weight = write_random_faceid_adapter(folder, pipe.unet)
        config = replace(
            config or GeneratorConfig(base_model="random", adapter_dir=""),
            base_model="random",
            adapter_dir=str(folder),
            adapter_weight_name=weight,
            adapter_subfolder="",
            lora_path=None,
            plus_v2=False,
        )
        return cls._finish(pipe, config, device, dtype)

    @classmethod
    def _finish(
        cls, pipe: Any, config: GeneratorConfig, device: str, dtype: torch.dtype
    ) -> PortraitGenerator:
        import torch

        # Plain FaceID conditions on ArcFace embeddings we compute: no image encoder. Plus-v2
        # also needs CLIP features of the face crop; diffusers loads that encoder (and sizes
        # its feature extractor) from image_encoder_folder: a local folder goes in as an
        # absolute path, anything else is diffusers' path inside the adapter's repo.
        encoder_folder = None
        if config.plus_v2 and config.image_encoder_path:
            local = Path(config.image_encoder_path)
            encoder_folder = str(local.resolve()) if local.is_dir() else config.image_encoder_path
        pipe.load_ip_adapter(
            config.adapter_dir,
            subfolder=config.adapter_subfolder or None,
            weight_name=config.adapter_weight_name,
            image_encoder_folder=encoder_folder,
        )
        if config.lora_path:
            pipe.load_lora_weights(config.lora_path, weight_name=config.lora_weight_name)
            pipe.fuse_lora(lora_scale=config.lora_scale)
        _set_scheduler(pipe, config.scheduler)
        _set_vae_upcast(pipe, config, dtype)
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        encoder = processor = None
        if config.plus_v2:
            encoder, processor = pipe.image_encoder, pipe.feature_extractor
        if device.startswith("cuda"):
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
        if config.compile:
            pipe.unet = torch.compile(pipe.unet)
        logger.info(
            "generator ready: %s on %s/%s, %d steps, %s scheduler, CFG %s, VAE upcast %s, %dx%d",
            config.base_model,
            device,
            dtype,
            config.steps,
            type(pipe.scheduler).__name__,
            "on" if config.guidance > 1.0 else "off",
            "on" if pipe.vae.config.force_upcast else "off",
            config.width,
            config.height,
        )
        return cls(pipe, config, device, dtype, encoder, processor)

    def _id_embeds(self, profile: IdentityProfile, cfg: bool) -> torch.Tensor:
        """One row (two with CFG, negative first): the pipeline repeats it for each prompt.

        Passing a row per prompt got repeated again (batch² rows); the attention processor
        then folded the extra rows into extra tokens, which plain FaceID shrugs off (copies
        of one vector) but Plus-v2's per-row CLIP features do not.
        """
        import torch

        pos = torch.from_numpy(np.asarray(profile.mean_embedding, np.float32)).reshape(1, 1, 1, -1)
        if cfg:
            pos = torch.cat([torch.zeros_like(pos), pos])
        return pos.to(self.device, self.dtype)

    def _set_clip_embeds(self, profile: IdentityProfile, batch: int, cfg: bool) -> None:
        import torch

        if not profile.reference_crops:
            raise ValueError("FaceID-Plus-v2 needs a reference face crop in the profile")
        pixels = self.image_processor(
            images=[profile.reference_crops[0]], return_tensors="pt"
        ).pixel_values
        hidden = self.image_encoder(
            pixels.to(self.device, self.dtype), output_hidden_states=True
        ).hidden_states[-2]
        uncond = self.image_encoder(
            torch.zeros_like(pixels).to(self.device, self.dtype), output_hidden_states=True
        ).hidden_states[-2]
        clip = hidden.unsqueeze(0).repeat(batch, 1, 1, 1)  # (B, N=1, tokens, width)
        if cfg:
            clip = torch.cat([uncond.unsqueeze(0).repeat(batch, 1, 1, 1), clip])
        layer = self.pipe.unet.encoder_hid_proj.image_projection_layers[0]
        layer.clip_embeds = clip.to(self.dtype)
        layer.shortcut = True  # the "v2" of Plus-v2
        layer.shortcut_scale = self.config.plus_shortcut_scale

    def generate(
        self,
        profile: IdentityProfile,
        pack: StylePack,
        shots: Sequence[Shot],
        seeds: Sequence[int],
        progress: Progress | None = None,
        adapter_scale: float | None = None,
        *,
        references: Sequence[np.ndarray] = (),
    ) -> list[Image.Image]:
        """One image per (shot, seed), in batches; progress(done, total) after each image.

        `references` is accepted for the common interface and unused: FaceID reads the profile.
        """
        import torch

        if len(shots) != len(seeds):
            raise ValueError(f"{len(shots)} shots but {len(seeds)} seeds")
        cfg = self.config
        do_cfg = cfg.guidance > 1.0
        self.pipe.set_ip_adapter_scale(
            cfg.adapter_scale if adapter_scale is None else adapter_scale
        )
        images: list[Image.Image] = []
        total = len(shots)
        for start in range(0, total, cfg.batch_size):
            batch_shots = list(shots[start : start + cfg.batch_size])
            batch_seeds = list(seeds[start : start + cfg.batch_size])
            wanted = len(batch_shots)
            if cfg.pad_batches:  # repeat the last one; the extra images are dropped below
                pad = cfg.batch_size - wanted
                batch_shots += batch_shots[-1:] * pad
                batch_seeds += batch_seeds[-1:] * pad
            n = len(batch_shots)
            if cfg.plus_v2:
                self._set_clip_embeds(profile, n, do_cfg)
            generators = [torch.Generator(device="cpu").manual_seed(int(s)) for s in batch_seeds]
            with torch.inference_mode():
                out = self.pipe(
                    prompt=[pack.prompt(s) for s in batch_shots],
                    negative_prompt=[pack.negative_prompt] * n,
                    ip_adapter_image_embeds=[self._id_embeds(profile, do_cfg)],
                    num_inference_steps=cfg.steps,
                    guidance_scale=cfg.guidance,
                    width=cfg.width,
                    height=cfg.height,
                    generator=generators,
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
