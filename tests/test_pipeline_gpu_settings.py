"""GPU settings for a few-step model, proven on the tiny random models through the real code paths.

Scheduler, few-step LoRA defaults (no CFG), dtype and the VAE upcast, the start-up warm-up, spares
in one batched review round, and onnxruntime's provider choice. UNet passes are counted by a
forward pre-hook on the loaded pipeline's real UNet module (rows of the batch it was called on).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from jobs.face_backend import load_face_backend_for
from jobs.generation import generator_config, load_portrait_models, warm_up_generator
from pipeline.decode import decode_image
from pipeline.face_backends.insightface import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    InsightFaceBackend,
    onnx_providers,
)
from pipeline.generators.sdxl_faceid import PortraitGenerator
from pipeline.identity import IdentityProfile
from pipeline.portraits import PortraitConfig, PortraitModels, make_portraits
from pipeline.review import ReviewConfig
from pipeline.styles import STYLE_PACKS, Shot, StylePack
from pipeline.testing.synthetic_photos import synthetic_face_photo, synthetic_face_rgb
from pipeline.testing.tiny_few_step import (
    LORA_WEIGHT_NAME,
    build_tiny_few_step_lora,
    build_tiny_fp16_fix_vae,
)
from studio.settings import Settings
from tests.fixtures.studio import SettingsFactory
from tests.render_support import tiny_model_settings

PACK = STYLE_PACKS["business"]


@pytest.fixture(scope="module")
def few_step_dirs(tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lora/ (a tiny few-step LoRA for the tiny SDXL) and vae_fp16_fix/ beside it."""
    root = tmp_path_factory.mktemp("few_step")
    build_tiny_few_step_lora(root / "lora", tiny_models_dir / "sdxl")
    build_tiny_fp16_fix_vae(root / "vae_fp16_fix", tiny_models_dir / "sdxl")
    return root


def _settings(make_settings: SettingsFactory, models_dir: Path, **overrides: Any) -> Settings:
    """The render worker's tiny-model settings; a key given as None is left unset."""
    values = {**tiny_model_settings(models_dir), "render_warmup": False, **overrides}
    return make_settings(**{k: v for k, v in values.items() if v is not None})


def _sdxl(models: PortraitModels) -> PortraitGenerator:
    assert isinstance(models.generator, PortraitGenerator)
    return models.generator


@contextmanager
def unet_rows(generator: PortraitGenerator) -> Iterator[list[int]]:
    """The batch rows of every real UNet forward while the block runs."""
    rows: list[int] = []

    def count(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        sample = args[0] if args else kwargs["sample"]
        rows.append(int(sample.shape[0]))

    handle = generator.pipe.unet.register_forward_pre_hook(count, with_kwargs=True)
    try:
        yield rows
    finally:
        handle.remove()


def _profile() -> IdentityProfile:
    from pipeline.warmup import warm_up_profile

    return warm_up_profile()


def test_scheduler_setting_picks_trailing_euler(
    make_settings: SettingsFactory, tiny_models_dir: Path
) -> None:
    from diffusers import EulerDiscreteScheduler

    default = load_portrait_models(_settings(make_settings, tiny_models_dir))
    trailing = load_portrait_models(
        _settings(make_settings, tiny_models_dir, render_scheduler="euler_trailing")
    )
    stock = _sdxl(default).pipe.scheduler
    scheduler = _sdxl(trailing).pipe.scheduler
    assert stock.config.timestep_spacing == "leading"  # the tiny SDXL folder's own
    assert type(scheduler) is EulerDiscreteScheduler
    assert scheduler.config.timestep_spacing == "trailing"
    # The rest of the model's noise schedule is kept.
    assert scheduler.config.beta_end == stock.config.beta_end == 0.012
    scheduler.set_timesteps(4)
    assert int(scheduler.timesteps[0]) == 999  # trailing starts at the last training step
    with pytest.raises(ValueError):
        make_settings(render_scheduler="euler-fast")


def test_few_step_lora_runs_one_unet_pass_per_step(
    make_settings: SettingsFactory, tiny_models_dir: Path, few_step_dirs: Path
) -> None:
    lora = {"lora_dir": str(few_step_dirs / "lora"), "lora_weight": LORA_WEIGHT_NAME}
    few = _settings(make_settings, tiny_models_dir, render_steps=None, lora_steps=4, **lora)
    config = generator_config(few)
    assert (config.steps, config.guidance, config.scheduler) == (4, 0.0, "euler_trailing")
    cfg_run = _settings(make_settings, tiny_models_dir, render_steps=4, render_guidance=5.0)
    few_gen = _sdxl(load_portrait_models(few))
    cfg_gen = _sdxl(load_portrait_models(cfg_run))
    assert few_gen.pipe.get_list_adapters() == {"unet": ["default_0"]}  # the LoRA is in
    assert few_gen.pipe.scheduler.config.timestep_spacing == "trailing"
    shots, seeds = list(PACK.shots[:3]), [1, 2, 3]
    with unet_rows(few_gen) as few_rows:
        few_images = few_gen.generate(_profile(), PACK, shots, seeds)
    with unet_rows(cfg_gen) as cfg_rows:
        cfg_gen.generate(_profile(), PACK, shots, seeds)
    assert len(few_images) == 3
    # One batch of 3: four calls either way, each on 3 rows without CFG, 6 (uncond + cond) with.
    assert few_rows == [3] * 4 and cfg_rows == [6] * 4
    assert sum(few_rows) / 3 == 4 and sum(cfg_rows) / 3 == 2 * 4  # UNet passes per image
    # An explicit setting wins over the LoRA's defaults.
    explicit = _settings(
        make_settings, tiny_models_dir, render_steps=8, render_guidance=1.5, lora_steps=4, **lora
    )
    assert (generator_config(explicit).steps, generator_config(explicit).guidance) == (8, 1.5)


def test_dtype_setting_and_vae_upcast(
    make_settings: SettingsFactory, tiny_models_dir: Path, few_step_dirs: Path
) -> None:
    assert make_settings(render_dtype="bf16").render_dtype == "bfloat16"
    assert make_settings(render_dtype="FP32").render_dtype == "float32"
    with pytest.raises(ValueError):
        make_settings(render_dtype="int8")
    bf16 = _sdxl(
        load_portrait_models(_settings(make_settings, tiny_models_dir, render_dtype="bf16"))
    )
    assert bf16.pipe.unet.dtype == bf16.pipe.vae.dtype == torch.bfloat16
    assert bf16.pipe.vae.config.force_upcast is False  # bf16 has fp32's range: no overflow
    (image,) = bf16.generate(_profile(), PACK, [PACK.shots[0]], [5])
    assert image.size == (64, 80) and np.asarray(image).std() > 0  # it runs, in bf16, on CPU
    stock_fp16 = _sdxl(
        load_portrait_models(_settings(make_settings, tiny_models_dir, render_dtype="fp16"))
    )
    assert stock_fp16.pipe.vae.dtype == torch.float16
    assert stock_fp16.pipe.vae.config.force_upcast is True  # the stock VAE would overflow
    fixed = _settings(
        make_settings,
        tiny_models_dir,
        render_dtype="fp16",
        vae_dir=str(few_step_dirs / "vae_fp16_fix"),
    )
    fixed_fp16 = _sdxl(load_portrait_models(fixed))
    assert fixed_fp16.pipe.vae.dtype == torch.float16
    assert fixed_fp16.pipe.vae.config.force_upcast is False


def test_warm_up_runs_each_order_batch_shape_at_load(
    make_settings: SettingsFactory, tiny_models_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 4 portraits + 3 spares in batches of 3: shapes 3 and 1 (3 + 3 + 1).
    settings = _settings(
        make_settings,
        tiny_models_dir,
        render_warmup=True,
        render_batch_size=3,
        review_spare_candidates=3,
    )
    with caplog.at_level(logging.INFO, logger="jobs.generation"):
        models = load_portrait_models(settings)
    assert "generator warmed up: batch sizes [3, 1]" in caplog.text
    generator = _sdxl(models)
    with unet_rows(generator) as rows:
        done = warm_up_generator(generator, settings)
    assert done.batch_sizes == (3, 1)
    assert rows == [6] * 2 + [2] * 2  # CFG doubles the rows; 2 steps per shape
    off = load_portrait_models(_settings(make_settings, tiny_models_dir, render_warmup=False))
    assert _sdxl(off).batch_sizes(7) == [4, 3]


def test_compiled_shapes_pad_every_batch_to_full(tiny_portrait_models: PortraitModels) -> None:
    """With RENDER_COMPILE a short last batch runs padded: one shape, no recompilation."""
    generator = _sdxl(tiny_portrait_models)
    eager_config = generator.config
    shots, seeds = [PACK.shots[i] for i in range(5)], [11, 12, 13, 14, 15]
    try:
        generator.config = replace(eager_config, batch_size=4)
        with unet_rows(generator) as eager_rows:
            eager = generator.generate(_profile(), PACK, shots, seeds)
        # The padding rule of a compiled UNet, on the eager one (compiling on CPU takes minutes).
        generator.config = replace(eager_config, batch_size=4, compile=True)
        assert generator.batch_sizes(5) == [4]
        with unet_rows(generator) as padded_rows:
            padded = generator.generate(_profile(), PACK, shots, seeds)
    finally:
        generator.config = eager_config
    assert set(eager_rows) == {8, 2} and set(padded_rows) == {8}
    assert len(padded) == 5
    for a, b in zip(eager, padded, strict=True):  # the same images, padding only adds work
        assert np.abs(np.asarray(a).astype(int) - np.asarray(b).astype(int)).max() <= 1


class FacePaintingGenerator:
    """The real tiny generator, whose outputs are then replaced by a synthetic face photo.

    Random weights draw no face, so a review of their outputs refuses all or (permissive) none.
    Here each output becomes a photo of the customer, or of a stranger for every seed divisible by
    4, which the real tiny face pack then reviews: a deterministic mix of passes and refusals.
    """

    def __init__(self, real: PortraitGenerator, person: int, stranger: int) -> None:
        self.real = real
        self.stack = real.stack
        self.references_wanted = real.references_wanted
        self.person, self.stranger = person, stranger
        self.calls: list[int] = []  # images asked for, per generate call

    def batch_sizes(self, count: int) -> list[int]:
        return self.real.batch_sizes(count)

    def generate(
        self,
        profile: IdentityProfile,
        pack: StylePack,
        shots: Sequence[Shot],
        seeds: Sequence[int],
        progress: Any = None,
        *,
        references: Sequence[np.ndarray] = (),
    ) -> list[Image.Image]:
        self.calls.append(len(shots))
        self.real.generate(profile, pack, shots, seeds, progress, references=references)
        return [
            Image.fromarray(
                synthetic_face_rgb(
                    self.stranger if seed % 4 == 0 else self.person, 1 + seed % 7, (128, 128)
                )
            )
            for seed in seeds
        ]


def test_spares_in_one_batch_replace_serial_retry_rounds(
    tiny_portrait_models: PortraitModels,
) -> None:
    head = decode_image(synthetic_face_photo(51, 0, (128, 128)))
    selfies = [decode_image(synthetic_face_photo(51, v, (128, 128))) for v in range(1, 4)]
    order_id = "order-spares-11"  # its first seeds of shots 0, 1 and 5 draw the stranger
    results = {}
    for spares in (0, 4):
        painter = FacePaintingGenerator(_sdxl(tiny_portrait_models), person=51, stranger=52)
        models = PortraitModels(analyzer=tiny_portrait_models.analyzer, generator=painter)
        review = ReviewConfig(extra_attempts=2, keep_per_pack=8, spare_candidates=spares)
        result = make_portraits(
            head, selfies, "business", order_id, models, PortraitConfig(review=review, shots=8)
        )
        results[spares] = (painter.calls, result)
    serial_calls, serial = results[0]
    batched_calls, batched = results[4]
    # Before: 8 planned, then a serial round for the 3 refused. After: 8 + 4 spares in one call.
    assert serial_calls == [8, 3] and serial.report["generation_rounds"] == 2
    assert batched_calls == [12] and batched.report["generation_rounds"] == 1
    for result in (serial, batched):
        assert len(result.images) == 8
        assert [p.shot_index for p in result.images] == list(range(8))
        reasons = [o["reason"] for o in result.report["outputs"]]
        assert reasons.count("low_identity") == 3 and reasons.count("ok") == len(reasons) - 3
    # The refused shots 0 and 1 took their own spare; shot 5's place a spare of shot 2 or 3.
    shots_used = [p.shot for p in batched.images]
    assert shots_used[0] == PACK.shots[0] and shots_used[1] == PACK.shots[1]
    assert shots_used[5] in (PACK.shots[2], PACK.shots[3])
    assert len({p.content_id for p in batched.images}) == 8


def test_face_analysis_providers_cuda_first_else_cpu(
    make_settings: SettingsFactory, tiny_models_dir: Path
) -> None:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if CUDA_PROVIDER in available:
        pytest.skip("this machine's onnxruntime has CUDA; the CPU-only path is what is tested")
    assert onnx_providers() == [CPU_PROVIDER]  # the real onnxruntime here: CPU only
    assert onnx_providers(available=[CUDA_PROVIDER, CPU_PROVIDER]) == [CUDA_PROVIDER, CPU_PROVIDER]
    assert onnx_providers(force_cpu=True, available=[CUDA_PROVIDER, CPU_PROVIDER]) == [CPU_PROVIDER]
    settings = _settings(make_settings, tiny_models_dir, render_device="cuda")
    auto = load_face_backend_for(settings, verified=True)
    forced = load_face_backend_for(
        _settings(make_settings, tiny_models_dir, face_device="cpu"), verified=True
    )
    for backend in (auto, forced):
        assert isinstance(backend, InsightFaceBackend)
        assert backend.providers == [CPU_PROVIDER] and backend.device == "cpu"
    with pytest.raises(ValueError):
        make_settings(face_device="gpu")


def test_gpu_image_swaps_in_onnxruntime_gpu_of_the_pinned_version() -> None:
    """The worker image's swap reads onnxruntime's pin from constraints.txt: it must be there."""
    root = Path(__file__).resolve().parent.parent
    dockerfile = (root / "Dockerfile").read_text()
    pins = re.findall(r"^onnxruntime==(\S+)$", (root / "constraints.txt").read_text(), re.M)
    assert len(pins) == 1
    assert "sed -n 's/^onnxruntime==//p' constraints.txt" in dockerfile
    assert 'pip install --no-deps "onnxruntime-gpu==${ORT_VERSION}"' in dockerfile
    assert "pip uninstall -y onnxruntime" in dockerfile
