"""Generation for the render job: settings -> the stack's models and config, and one run.

`MODEL_STACK` picks the face backend (jobs/face_backend.py) and the generator; each stack's
generator config is built from settings by one function in `GENERATOR_CONFIGS`, so a new stack
is a generator module in pipeline/generators plus one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.delivery import PortraitFile
from jobs.render_inputs import PermanentRenderError, RenderInputs
from studio.orders import Order
from studio.settings import Mode, Settings

if TYPE_CHECKING:
    from pipeline.generators import Generator
    from pipeline.generators.flux2_klein import Flux2KleinConfig
    from pipeline.generators.sdxl_faceid import GeneratorConfig
    from pipeline.portraits import PortraitConfig, PortraitModels
    from pipeline.provenance import ProvenanceSigner
    from pipeline.warmup import WarmUp

logger = logging.getLogger(__name__)


def generator_config(settings: Settings) -> GeneratorConfig:
    """The research generator (SDXL + FaceID): every knob comes from a setting."""
    from pipeline.generators.sdxl_faceid import GeneratorConfig, few_step_config

    config = GeneratorConfig(
        base_model=settings.sdxl_dir,
        adapter_dir=settings.ip_adapter_dir,
        adapter_weight_name=settings.ip_adapter_weight,
        adapter_subfolder=settings.ip_adapter_subfolder,
        plus_v2=settings.ip_adapter_plus_v2,
        image_encoder_path=settings.image_encoder_dir or None,
        lora_path=settings.lora_dir or None,
        lora_weight_name=settings.lora_weight or None,
        scheduler=settings.render_scheduler,
        steps=settings.render_steps,
        guidance=settings.render_guidance,
        vae_dir=settings.vae_dir or None,
        width=settings.render_width,
        height=settings.render_height,
        batch_size=settings.render_batch_size,
        compile=settings.render_compile,
    )
    if not (settings.lora_dir and settings.lora_steps):
        return config
    # A few-step LoRA: its own step count, no CFG, trailing Euler, unless a setting says otherwise.
    given = settings.model_fields_set
    config = few_step_config(
        config,
        settings.render_steps if "render_steps" in given else settings.lora_steps,
        guidance=settings.render_guidance if "render_guidance" in given else None,
        scheduler=settings.render_scheduler if "render_scheduler" in given else None,
    )
    logger.info(
        "few-step LoRA: %d steps, guidance %.1f, %s scheduler",
        config.steps,
        config.guidance,
        config.scheduler,
    )
    return config


def flux2_config(settings: Settings) -> Flux2KleinConfig:
    """The commercial generator (FLUX.2 [klein]): reference images instead of a face embedding."""
    from pipeline.generators.flux2_klein import Flux2KleinConfig

    return Flux2KleinConfig(
        model=settings.flux2_dir,
        steps=settings.flux2_steps,
        guidance=settings.flux2_guidance,
        width=settings.render_width,
        height=settings.render_height,
        references=settings.flux2_references,
        reference_px=settings.flux2_reference_px,
        batch_size=settings.render_batch_size,
        compile=settings.render_compile,
    )


# Stack name -> its generator's config from settings (the generator class is the pipeline's).
GENERATOR_CONFIGS: dict[str, Callable[[Settings], Any]] = {
    "research": generator_config,
    "commercial": flux2_config,
}


def portrait_config(settings: Settings) -> PortraitConfig:
    """How many portraits an order gets and how strictly they are reviewed."""
    from pipeline.portraits import PortraitConfig
    from pipeline.review import ReviewConfig

    return PortraitConfig(
        review=ReviewConfig(
            min_identity=settings.review_min_identity,
            require_one_face=settings.review_require_one_face,
            extra_attempts=settings.review_extra_attempts,
            keep_per_pack=settings.portraits_per_order,
            spare_candidates=settings.review_spare_candidates,
        ),
        shots=settings.portraits_per_order,
        # Intake already enforced min_selfies; a second look may only drop a few more.
        min_selfies=1,
    )


def load_signer(settings: Settings) -> ProvenanceSigner | None:
    """The operator's C2PA signer; production refuses to render without one."""
    from pipeline.labels import LabelConfig
    from pipeline.provenance import C2paCredentials, ProvenanceSigner

    if not settings.c2pa_cert_path or not settings.c2pa_key_path:
        if settings.mode is Mode.PROD:
            raise RuntimeError(
                "C2PA_CERT_PATH and C2PA_KEY_PATH must be set in production mode: every "
                "delivered file carries a signed C2PA manifest"
            )
        logger.warning("C2PA_CERT_PATH/C2PA_KEY_PATH unset: delivered files are not C2PA-signed")
        return None
    credentials = C2paCredentials.from_files(
        Path(settings.c2pa_cert_path),
        Path(settings.c2pa_key_path),
        timestamp_url=settings.c2pa_timestamp_url or None,
    )
    return ProvenanceSigner(credentials, LabelConfig().provider)


def load_portrait_models(settings: Settings) -> PortraitModels:
    """The stack's face backend + generator (+ C2PA signer), from local files (blocking)."""
    import torch

    from jobs.face_backend import load_face_backend_for
    from pipeline.generators import generator_class
    from pipeline.portraits import PortraitModels

    if settings.model_stack not in GENERATOR_CONFIGS:
        raise ValueError(
            f"MODEL_STACK={settings.model_stack!r}: expected one of {sorted(GENERATOR_CONFIGS)}"
        )
    signer = load_signer(settings)
    # The render worker verified the stack's files (faces and generator) before this call.
    analyzer = load_face_backend_for(
        settings, force_cpu=settings.render_device == "cpu", verified=True
    )
    generator = generator_class(settings.model_stack).load(
        GENERATOR_CONFIGS[settings.model_stack](settings),
        device=settings.render_device,
        dtype=getattr(torch, settings.render_dtype),
    )
    logger.info(
        "%s stack loaded on %s (%s): %s faces, %s generator",
        settings.model_stack,
        settings.render_device,
        settings.render_dtype,
        analyzer.name,
        type(generator).__name__,
    )
    if settings.render_warmup:
        warm_up_generator(generator, settings)
    return PortraitModels(analyzer=analyzer, generator=generator, signer=signer)


def order_batch_sizes(generator: Generator, settings: Settings) -> list[int]:
    """The batch shapes an order's first generation round runs: planned portraits + spares."""
    return generator.batch_sizes(settings.portraits_per_order + settings.review_spare_candidates)


def warm_up_generator(generator: Generator, settings: Settings) -> WarmUp:
    """One generation at each batch shape orders will run, before the first order (blocking)."""
    from pipeline.warmup import warm_up

    done = warm_up(generator, order_batch_sizes(generator, settings))
    logger.info(
        "generator warmed up: batch sizes %s in %.1f s", list(done.batch_sizes), sum(done.seconds)
    )
    return done


def generate_portraits(
    models: PortraitModels,
    inputs: RenderInputs,
    order: Order,
    settings: Settings,
    progress: Callable[[int, int], None],
) -> list[PortraitFile]:
    """Blocking: run in a worker thread. Permanent input problems become PermanentRenderError."""
    from pipeline import portraits as pipeline_portraits

    try:
        result = pipeline_portraits.make_portraits(
            inputs.headshot,
            inputs.selfies,
            order.pack,
            order.id,
            models,
            portrait_config(settings),
            progress=progress,
        )
    except _permanent_errors() as error:
        raise PermanentRenderError(getattr(error, "reason", type(error).__name__)) from error
    return [
        PortraitFile(index=i, album_jpeg=image.jpeg, full_png=image.png)
        for i, image in enumerate(result.images)
    ]


def _permanent_errors() -> tuple[type[BaseException], ...]:
    """The pipeline's refusals that depend only on the inputs and seeds (same on every try)."""
    from pipeline.decode import ImageRejected
    from pipeline.identity import InconsistentIdentity
    from pipeline.portraits import NoAcceptablePortraits, NoUsablePhotos

    return (ImageRejected, InconsistentIdentity, NoUsablePhotos, NoAcceptablePortraits)
