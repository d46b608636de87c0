"""Photos in, labelled portraits plus a report out: `PortraitPipeline`, in named stages.

Read like a diffusers pipeline: the components (face backend, generator, signer) go to the
constructor, `__call__` runs numbered steps, and each stage is a method of its own (check,
profile, generate, review, label) that a notebook can call alone. `make_portraits` is the
one-call form the worker and the CLI use.
"""

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
from pipeline.faces import Face, FaceBackend
from pipeline.identity import IdentityConfig, IdentityProfile, build_profile
from pipeline.labels import (
    LabelConfig,
    apply_labels,
    content_id,
    encode_labelled_jpeg,
    encode_labelled_png,
)
from pipeline.review import Candidate, ReviewConfig, ReviewScore, review_image, select
from pipeline.styles import STYLE_PACKS, Shot, StylePack, seeds_for

if TYPE_CHECKING:
    from PIL import Image

    from pipeline.generators import Generator
    from pipeline.provenance import ProvenanceSigner

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class NoUsablePhotos(Exception):
    """The inputs cannot make a portrait set; `reason` is a stable code for the worker."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class NoAcceptablePortraits(Exception):
    """Every generated image failed review, retries included."""


@dataclass
class PortraitModels:
    """Heavy resources, loaded once per worker process: the stack's face backend and generator.

    `signer` adds a C2PA manifest to every delivered file (None: metadata labels only).
    """

    analyzer: FaceBackend
    generator: Generator
    signer: ProvenanceSigner | None = None


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
    # A reference image is the face's box grown this many times around its centre (a head and
    # shoulders crop: enough hair and outline for an editing model to keep).
    reference_margin: float = 2.4


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


@dataclass
class CheckedPhotos:
    """The check stage's outcome: every verdict, and the accepted photos with their faces."""

    head: CheckResult
    selfies: list[CheckResult]
    accepted: list[tuple[np.ndarray, Face]]  # headshot first, then the usable selfies


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


def reference_crop(rgb: np.ndarray, face: Face, margin: float) -> np.ndarray:
    """A square head-and-shoulders crop around `face`, shifted (not cut) to stay in the image."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in face.bbox)
    side = min(max(x2 - x1, y2 - y1) * margin, float(w), float(h))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.15 * (y2 - y1)  # a little below: the shoulders
    left = round(min(max(cx - side / 2, 0.0), w - side))
    top = round(min(max(cy - side / 2, 0.0), h - side))
    size = round(side)
    return rgb[top : top + size, left : left + size]


class PortraitPipeline:
    """check -> profile -> generate + review (spares, retries) -> label, for one order."""

    def __init__(
        self,
        analyzer: FaceBackend,
        generator: Generator,
        config: PortraitConfig | None = None,
        signer: ProvenanceSigner | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.generator = generator
        self.config = config or PortraitConfig()
        self.signer = signer

    def check_inputs(self, pack_id: str) -> StylePack:
        """The pack, or KeyError naming the unknown one (a caller's bug, not the user's)."""
        if pack_id not in STYLE_PACKS:
            raise KeyError(f"unknown style pack {pack_id!r}")
        return STYLE_PACKS[pack_id]

    def check(self, headshot: np.ndarray, selfies: list[np.ndarray]) -> CheckedPhotos:
        """The photo checks of intake again, on the pixels this render will use."""
        checks = self.config.checks
        head = check_headshot(headshot, self.analyzer.analyze(headshot), checks)
        if not head.ok or head.face is None:
            raise NoUsablePhotos(f"headshot_{head.reason}")
        seen: list[int] = [fingerprint(headshot)]
        results: list[CheckResult] = []
        accepted: list[tuple[np.ndarray, Face]] = [(headshot, head.face)]
        for rgb in selfies:
            result = check_selfie(
                rgb, self.analyzer.analyze(rgb), head.face.embedding, seen, checks
            )
            if result.ok and result.face is not None:
                seen.append(fingerprint(rgb))
                accepted.append((rgb, result.face))
            results.append(result)
        if len(accepted) - 1 < self.config.min_selfies:
            raise NoUsablePhotos("too_few_selfies", f"{len(accepted) - 1} usable")
        return CheckedPhotos(head, results, accepted)

    def profile(self, checked: CheckedPhotos) -> IdentityProfile:
        """The identity profile, in the face backend's own embedding space."""
        faces = [face for _, face in checked.accepted]
        return build_profile(
            [face.embedding for face in faces],
            crops=[face_crop(rgb, face) for rgb, face in checked.accepted],
            frontality=[abs(face.yaw) + abs(face.pitch) for face in faces],
            config=self.config.identity,
            space=faces[0].space,
        )

    def references(self, checked: CheckedPhotos, profile: IdentityProfile) -> list[np.ndarray]:
        """The headshot, then the selfies closest to the profile's centre, as many as wanted."""
        wanted = self.generator.references_wanted
        if wanted <= 0:
            return []
        order = [0] + [i for i in profile.ranked if i != 0]
        margin = self.config.reference_margin
        return [reference_crop(*checked.accepted[i], margin) for i in order[:wanted]]

    def generate(
        self,
        profile: IdentityProfile,
        references: list[np.ndarray],
        pack: StylePack,
        shots: list[Shot],
        seeds: list[int],
        progress: Progress | None = None,
    ) -> list[Image.Image]:
        return self.generator.generate(
            profile, pack, shots, seeds, progress=progress, references=references
        )

    def review(self, images: list[Image.Image], profile: IdentityProfile) -> list[ReviewScore]:
        """Each output re-analysed by the stack's own face backend, against the profile."""
        return [
            review_image(np.asarray(im.convert("RGB")), self.analyzer, profile, self.config.review)
            for im in images
        ]

    def label(self, order_id: str, index: int, best: Candidate, shot: Shot) -> PortraitImage:
        """Visible mark and watermark in the pixels; metadata labels; a C2PA manifest if signing."""
        labels = self.config.labels
        cid = content_id(order_id, index, best.seed)
        marked = apply_labels(best.image, cid, labels)
        png = encode_labelled_png(marked, labels.provider, cid)
        jpeg = encode_labelled_jpeg(marked, labels.provider, cid, self.config.jpeg_quality)
        if self.signer is not None:
            png = self.signer.sign(png, "image/png", cid, f"portrait-{index + 1:02d}.png")
            jpeg = self.signer.sign(jpeg, "image/jpeg", cid, f"portrait-{index + 1:02d}.jpg")
        return PortraitImage(png, jpeg, shot, index, best.seed, best.score.score, cid)

    def __call__(
        self,
        headshot: np.ndarray,
        selfies: list[np.ndarray],
        pack_id: str,
        order_id: str,
        progress: Progress | None = None,
    ) -> PortraitResult:
        stage = _Stages()
        # 1. Check inputs
        pack = self.check_inputs(pack_id)
        # 2. Check the photos
        with stage("checks"):
            checked = self.check(headshot, selfies)
        # 3. Identity profile, and the reference images a reference-image generator needs
        with stage("profile"):
            profile = self.profile(checked)
            references = self.references(checked, profile)
        n = min(self.config.shots or len(pack.shots), len(pack.shots))
        shots = list(pack.shots[:n])
        # 4. Generate, 5. review: planned shots and spares in one batched call per round
        candidates, rounds = self.generate_and_review(
            order_id, profile, references, pack, shots, progress, stage
        )
        slots = select(candidates, n, self.config.review.keep_per_pack)
        if not slots:
            raise NoAcceptablePortraits(f"0 of {n} portraits passed review")
        # 6. Label (and sign) what is delivered
        with stage("label"):
            out = [
                self.label(order_id, slot, best, shots[best.shot_index])
                for slot, best in sorted(slots.items())
            ]
        if progress is not None:
            progress(n, n)
        logger.info(
            "order portraits: %d delivered of %d planned, consistency %.2f",
            len(out),
            n,
            profile.consistency,
        )
        outputs = [
            {"shot": c.shot_index, "attempt": c.attempt, "seed": c.seed, **c.score.as_report()}
            for c in candidates
        ]
        report = self._report(pack_id, checked, profile, references, outputs, out, stage)
        report["generation_rounds"] = rounds
        return PortraitResult(images=out, report=report)

    def generate_and_review(
        self,
        order_id: str,
        profile: IdentityProfile,
        references: list[np.ndarray],
        pack: StylePack,
        shots: list[Shot],
        progress: Progress | None = None,
        stage: _Stages | None = None,
    ) -> tuple[list[Candidate], int]:
        """Every candidate made for the order, reviewed, and how many generation rounds it took.

        Round 0 is one batched call: every planned shot plus `spare_candidates` spares (the next
        seeds of the first shots). A further round (at most `extra_attempts`) runs only for the
        places that neither a shot's own candidates nor a passing spare could fill.
        """
        stage = stage or _Stages()
        review = self.config.review
        n = len(shots)
        seeds: dict[int, list[int]] = {}
        tries = [0] * n  # candidates drawn per shot so far: the next one's attempt number
        candidates: list[Candidate] = []
        pending = list(range(n))
        rounds = 0
        for _ in range(review.extra_attempts + 1):
            if not pending:
                break
            plan = pending + [pending[j % len(pending)] for j in range(review.spare_candidates)]
            attempts = []
            for i in plan:
                attempts.append(tries[i])
                tries[i] += 1
            plan_seeds = [
                seeds.setdefault(a, seeds_for(order_id, n, a))[i]
                for i, a in zip(plan, attempts, strict=True)
            ]
            report = _scaled(progress, len(plan), n) if rounds == 0 else None
            with stage("generate"):
                images = self.generate(
                    profile, references, pack, [shots[i] for i in plan], plan_seeds, report
                )
            with stage("review"):
                scores = self.review(images, profile)
            candidates += [
                Candidate(image, score, seed, i, a)
                for i, a, seed, image, score in zip(
                    plan, attempts, plan_seeds, images, scores, strict=True
                )
            ]
            rounds += 1
            filled = select(candidates, n, n)
            pending = [i for i in range(n) if i not in filled]
        return candidates, rounds

    def _report(
        self,
        pack_id: str,
        checked: CheckedPhotos,
        profile: IdentityProfile,
        references: list[np.ndarray],
        outputs: list[dict[str, object]],
        delivered: list[PortraitImage],
        stage: _Stages,
    ) -> dict[str, Any]:
        return {
            "pack": pack_id,
            "stack": self.generator.stack,
            "headshot": checked.head.as_report(),
            "selfies": [{"index": i, **r.as_report()} for i, r in enumerate(checked.selfies)],
            "identity": {
                "consistency": round(profile.consistency, 4),
                "photos_used": len(profile.kept),
                "photos_dropped": len(profile.dropped),
                "references": len(references),
            },
            "outputs": outputs,
            "delivered": [
                {"shot": p.shot_index, "content_id": p.content_id, "score": round(p.score, 4)}
                for p in delivered
            ],
            "signed": self.signer is not None,
            "seconds": {k: round(v, 3) for k, v in stage.seconds.items()},
        }


def _scaled(progress: Progress | None, made: int, planned: int) -> Progress | None:
    """Progress over `made` images (spares included) told as progress over the `planned` ones."""
    if progress is None:
        return None
    report = progress
    return lambda done, _total: report(done * planned // made, planned)


def make_portraits(
    headshot: np.ndarray,
    selfies: list[np.ndarray],
    pack_id: str,
    order_id: str,
    models: PortraitModels,
    config: PortraitConfig | None = None,
    progress: Progress | None = None,
) -> PortraitResult:
    """Check, profile, generate, review (with retries), label. Raises typed errors."""
    pipeline = PortraitPipeline(models.analyzer, models.generator, config, models.signer)
    return pipeline(headshot, selfies, pack_id, order_id, progress=progress)
