"""Orchestration: photos in, labelled portraits plus a report out. Called by the worker and CLI."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.checks import CheckConfig, CheckResult, check_headshot, check_selfie, face_crop
from pipeline.checks import image_fingerprint as fingerprint
from pipeline.faces import FaceAnalyzer
from pipeline.generator import PortraitGenerator
from pipeline.identity import IdentityConfig, build_profile
from pipeline.labels import (
    LabelConfig,
    apply_labels,
    content_id,
    encode_labelled_jpeg,
    encode_labelled_png,
)
from pipeline.review import ReviewConfig, ReviewScore, rank, review_image
from pipeline.styles import STYLE_PACKS, Shot, seeds_for

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)


class NoUsablePhotos(Exception):
    """The inputs cannot make a portrait set; `reason` is a stable code for the worker."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class NoAcceptablePortraits(Exception):
    """Every generated image failed review, retries included."""


@dataclass
class PortraitModels:
    """Heavy resources, loaded once per worker process."""

    analyzer: FaceAnalyzer
    generator: PortraitGenerator


@dataclass(frozen=True)
class PortraitConfig:
    """Knobs of one run; defaults are production ones."""

    checks: CheckConfig = field(default_factory=CheckConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    shots: int | None = None  # None: the pack's whole shot list
    min_selfies: int = 1
    jpeg_quality: int = 90


@dataclass
class PortraitImage:
    """One delivered portrait (labelled); PNG is full size, JPEG is for albums."""

    png: bytes
    jpeg: bytes
    shot: Shot
    shot_index: int
    seed: int
    score: float
    content_id: str


@dataclass
class PortraitResult:
    images: list[PortraitImage]
    report: dict[str, Any]


class _Stages:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _check_photos(
    headshot: np.ndarray, selfies: list[np.ndarray], models: PortraitModels, config: PortraitConfig
) -> tuple[CheckResult, list[CheckResult]]:
    head = check_headshot(headshot, models.analyzer.analyze(headshot), config.checks)
    if not head.ok or head.face is None:
        raise NoUsablePhotos(f"headshot_{head.reason}")
    accepted: list[int] = [fingerprint(headshot)]
    results = []
    for rgb in selfies:
        result = check_selfie(
            rgb, models.analyzer.analyze(rgb), head.face.embedding, accepted, config.checks
        )
        if result.ok:
            accepted.append(fingerprint(rgb))
        results.append(result)
    return head, results


def make_portraits(
    headshot: np.ndarray,
    selfies: list[np.ndarray],
    pack_id: str,
    order_id: str,
    models: PortraitModels,
    config: PortraitConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PortraitResult:
    """Check, profile, generate, review (with retries), label. Raises typed errors."""
    config = config or PortraitConfig()
    if pack_id not in STYLE_PACKS:
        raise KeyError(f"unknown style pack {pack_id!r}")
    pack = STYLE_PACKS[pack_id]
    stage = _Stages()
    with stage("checks"):
        head, selfie_results = _check_photos(headshot, selfies, models, config)
    ok_selfies = [(i, r) for i, r in enumerate(selfie_results) if r.ok]
    if len(ok_selfies) < config.min_selfies:
        raise NoUsablePhotos("too_few_selfies", f"{len(ok_selfies)} usable")
    with stage("profile"):
        photos = [(headshot, head)] + [(selfies[i], r) for i, r in ok_selfies]
        profile = build_profile(
            [r.face.embedding for _, r in photos if r.face is not None],
            crops=[face_crop(rgb, r.face) for rgb, r in photos if r.face is not None],
            frontality=[
                abs(r.face.yaw) + abs(r.face.pitch) for _, r in photos if r.face is not None
            ],
            config=config.identity,
        )
    n = min(config.shots or len(pack.shots), len(pack.shots))
    shots = list(pack.shots[:n])
    seeds = seeds_for(order_id, n)
    final: dict[int, tuple[Image.Image, ReviewScore, int]] = {}
    all_scores: list[dict[str, object]] = []
    pending = list(range(n))
    for attempt in range(config.review.extra_attempts + 1):
        if not pending:
            break
        attempt_seeds = seeds if attempt == 0 else seeds_for(order_id, n, attempt)
        with stage("generate"):
            images = models.generator.generate(
                profile,
                pack,
                [shots[i] for i in pending],
                [attempt_seeds[i] for i in pending],
                progress=progress if attempt == 0 else None,
            )
        still = []
        with stage("review"):
            for idx, image in zip(pending, images, strict=True):
                score = review_image(
                    np.asarray(image.convert("RGB")), models.analyzer, profile, config.review
                )
                all_scores.append(
                    {
                        "shot": idx,
                        "attempt": attempt,
                        "seed": attempt_seeds[idx],
                        **score.as_report(),
                    }
                )
                best = final.get(idx)
                if best is None or score.score > best[1].score or (score.ok and not best[1].ok):
                    final[idx] = (image, score, attempt_seeds[idx])
                if not score.ok:
                    still.append(idx)
        pending = still
    kept = rank([final[i][1] for i in range(n)], config.review.keep_per_pack)
    if not kept:
        raise NoAcceptablePortraits(f"0 of {n} portraits passed review")
    out: list[PortraitImage] = []
    with stage("label"):
        for idx in sorted(kept):
            image, score, seed = final[idx]
            cid = content_id(order_id, idx, seed)
            marked = apply_labels(image, cid, config.labels)
            out.append(
                PortraitImage(
                    png=encode_labelled_png(marked, config.labels.provider, cid),
                    jpeg=encode_labelled_jpeg(
                        marked, config.labels.provider, cid, config.jpeg_quality
                    ),
                    shot=shots[idx],
                    shot_index=idx,
                    seed=seed,
                    score=score.score,
                    content_id=cid,
                )
            )
    if progress is not None:
        progress(n, n)
    report: dict[str, Any] = {
        "pack": pack_id,
        "headshot": head.as_report(),
        "selfies": [{"index": i, **r.as_report()} for i, r in enumerate(selfie_results)],
        "identity": {
            "consistency": round(profile.consistency, 4),
            "photos_used": len(profile.kept),
            "photos_dropped": len(profile.dropped),
        },
        "outputs": all_scores,
        "delivered": [
            {"shot": p.shot_index, "content_id": p.content_id, "score": round(p.score, 4)}
            for p in out
        ],
        "seconds": {k: round(v, 3) for k, v in stage.seconds.items()},
    }
    logger.info(
        "order portraits: %d delivered of %d planned, consistency %.2f",
        len(out),
        n,
        profile.consistency,
    )
    return PortraitResult(images=out, report=report)
