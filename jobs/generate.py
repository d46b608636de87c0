"""Glue between a render job and the pipeline: run it on the order's inputs, keep the bytes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.delivery import PortraitFile
from jobs.render_inputs import PermanentRenderError, RenderInputs
from studio.orders import Order
from studio.settings import Settings


def generate_portraits(
    models: Any,
    inputs: RenderInputs,
    order: Order,
    settings: Settings,
    progress: Callable[[int, int], None],
) -> list[PortraitFile]:
    """Blocking: run in a worker thread. Permanent input problems become PermanentRenderError."""
    from jobs.generation import portrait_config
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
