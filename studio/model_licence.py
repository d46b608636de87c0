"""The licence guard: a paid service refuses payments on a stack holding non-commercial weights.

The licences are data in the model stack's manifest (`pipeline/manifests/<stack>.json`), read
here as a file so that the bot, which never imports the pipeline, can apply the rule itself.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
from pathlib import Path

from studio.settings import Mode, Settings

logger = logging.getLogger(__name__)


def manifest_file(stack: str) -> Path:
    """The stack's manifest, located without importing the pipeline package."""
    spec = importlib.util.find_spec("pipeline")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the pipeline package (and its model manifests) is not installed")
    return Path(spec.origin).parent / "manifests" / f"{stack}.json"


@functools.cache
def non_commercial_files(stack: str) -> tuple[str, ...]:
    """The stack's model files whose licence forbids commercial use, as the manifest lists them."""
    data = json.loads(manifest_file(stack).read_text(encoding="utf-8"))
    return tuple(entry["path"] for entry in data["files"] if not entry["commercial_use"])


def unlicensed_model_files(settings: Settings) -> tuple[str, ...]:
    """The files that forbid taking payments now: empty outside production mode, or when the
    operator states a licence for this stack (`MODEL_LICENCE_CONFIRMED=<stack>`)."""
    if settings.mode is not Mode.PROD:
        return ()
    if settings.model_licence_confirmed.strip() == settings.model_stack:
        return ()
    return non_commercial_files(settings.model_stack)
