"""Generation for the render job: settings -> the pipeline's config and models, and one run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.delivery import PortraitFile
from jobs.render_inputs import PermanentRenderError, RenderInputs
from studio.orders import Order
from studio.settings import Settings

if TYPE_CHECKING:
    from pipeline.generator import GeneratorConfig
    from pipeline.portraits import PortraitConfig, PortraitModels

logger = logging.getLogger(__name__)


def generator_config(settings: Settings) -> GeneratorConfig:
    """Every generator knob comes from a setting, so tests and deployments point it anywhere."""
    from pipeline.generator import GeneratorConfig

    return GeneratorConfig(
        base_model=settings.sdxl_model,
        adapter_dir=settings.ip_adapter_dir,
        adapter_weight_name=settings.ip_adapter_weight,
        adapter_subfolder=settings.ip_adapter_subfolder,
        plus_v2=settings.ip_adapter_plus_v2,
        image_encoder_path=settings.image_encoder_dir or None,
        lora_path=settings.lora_path or None,
        lora_weight_name=settings.lora_weight or None,
        steps=settings.render_steps,
        guidance=settings.render_guidance,
        width=settings.render_width,
        height=settings.render_height,
        compile=settings.render_compile,
    )


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
        ),
        shots=settings.portraits_per_order,
        # Intake already enforced min_selfies; a second look may only drop a few more.
        min_selfies=1,
    )


def load_portrait_models(settings: Settings) -> PortraitModels:
    """Face analyser + generator, loaded from local folders only (blocking: call in a thread)."""
    import torch

    from pipeline.faces import FaceAnalyzer
    from pipeline.generator import PortraitGenerator
    from pipeline.portraits import PortraitModels

    providers = ["CPUExecutionProvider"] if settings.render_device == "cpu" else None
    analyzer = FaceAnalyzer(settings.face_pack, settings.face_root, providers=providers)
    generator = PortraitGenerator.load(
        generator_config(settings),
        device=settings.render_device,
        dtype=getattr(torch, settings.render_dtype),
    )
    logger.info("portrait models loaded on %s (%s)", settings.render_device, settings.render_dtype)
    return PortraitModels(analyzer=analyzer, generator=generator)


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
