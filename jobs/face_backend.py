"""The face backend of the configured model stack (`MODEL_STACK`), for intake and render workers.

research: insightface from `FACE_DIR`/`FACE_PACK`. commercial: dlib from `WEIGHTS_DIR/dlib`.
Before loading, the model files are checked against the stack's manifest (`WEIGHTS_VERIFY`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from studio.model_licence import unlicensed_model_files
from studio.settings import Settings

if TYPE_CHECKING:
    from pipeline.faces import FaceBackend

logger = logging.getLogger(__name__)


def load_face_backend_for(
    settings: Settings, *, force_cpu: bool = False, verified: bool = False
) -> FaceBackend:
    """Verify the stack's face model files, then load them (blocking: call in a thread).

    onnxruntime runs on CUDA where it can (onnxruntime-gpu), unless `force_cpu` or
    FACE_DEVICE=cpu. `verified=True` when the caller has just verified them (the render worker
    checks the whole stack at start), so a large pack is not hashed twice.
    """
    from pipeline.face_backends import load_face_backend

    if not verified:
        verify_weights_for(settings, components=("face",))
    backend = load_face_backend(
        settings.model_stack,
        face_pack=settings.face_pack,
        face_root=settings.face_dir,
        dlib_models_dir=settings.weights_dir / "dlib",
        force_cpu=force_cpu or settings.face_device == "cpu",
    )
    if not backend.estimates_age:
        logger.warning(
            "the %s face backend estimates no age: photos are not refused as a minor's; the "
            "age gate is the age group the user declares at consent",
            backend.name,
        )
    return backend


def verify_weights_for(settings: Settings, components: tuple[str, ...]) -> None:
    """Raise `WeightsMismatch` naming every missing or altered file, unless verification is off."""
    from pipeline.model_manifest import load_manifest, verify_weights

    unlicensed = unlicensed_model_files(settings)
    if unlicensed:
        logger.warning(
            "production on the %s stack, whose files %s are not licensed for paid use: every "
            "payment is refused until MODEL_LICENCE_CONFIRMED=%s states that you hold a licence",
            settings.model_stack,
            ", ".join(unlicensed),
            settings.model_stack,
        )
    if not settings.weights_verify:
        logger.warning(
            "WEIGHTS_VERIFY is off: %s model files are not checked against the manifest",
            settings.model_stack,
        )
        return
    manifest = load_manifest(settings.model_stack)
    verify_weights(manifest, settings.weights_dir, components=components)
    logger.info("%s weights verified (%s)", settings.model_stack, ", ".join(components))
