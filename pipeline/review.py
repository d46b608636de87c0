"""Review of generated images: re-analyse each one, refuse the off ones, rank the rest.

The reviewer is the stack's own face backend; identity is measured in its space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pipeline.faces import EmbeddingSpace, Face
from pipeline.identity import IdentityProfile

if TYPE_CHECKING:
    from PIL import Image


class Analyzer(Protocol):
    def analyze(self, rgb: np.ndarray) -> list[Face]: ...


@dataclass(frozen=True)
class ReviewConfig:
    """Acceptance rules for generated portraits."""

    # Least similarity (1 - distance in the face backend's space) of the output's face to the
    # profile. None: the backend's own (`EmbeddingSpace.review_match`: ArcFace cosine 0.40,
    # where FaceID portraits of the right person score ~0.5-0.7; dlib distance 0.6).
    min_identity: float | None = None
    # A portrait is of one person; an extra face is usually a generation artefact.
    require_one_face: bool = True
    # Extra generation rounds (new seeds) for refused shots before giving up on them.
    extra_attempts: int = 2
    # Best images delivered per pack.
    keep_per_pack: int = 20
    # Extra candidates generated in the same batched call as the planned shots (second seeds of
    # the first shots): a refused shot's place goes to a passing spare, so a few refusals cost
    # no serial retry round (each round is a full pass over the model at small batch sizes).
    spare_candidates: int = 4

    @classmethod
    def permissive(cls, keep_per_pack: int = 20) -> ReviewConfig:
        """For random-weight models, whose outputs can never contain a face: accept all."""
        return cls(
            min_identity=-math.inf,
            require_one_face=False,
            extra_attempts=0,
            keep_per_pack=keep_per_pack,
            spare_candidates=0,  # every output passes: a spare would never be used
        )

    def identity_floor(self, space: EmbeddingSpace) -> float:
        """The least similarity an output's face must reach in `space`."""
        return 1.0 - space.review_match if self.min_identity is None else self.min_identity


@dataclass
class ReviewScore:
    """The verdict on one output; `score` ranks accepted ones (higher is better)."""

    ok: bool
    reason: str  # "ok", "no_face", "multiple_faces", "low_identity"
    faces: int
    identity: float | None
    score: float

    def as_report(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "faces": self.faces,
            "identity": None if self.identity is None else round(self.identity, 4),
            "score": round(self.score, 4),
        }


def review_image(
    rgb: np.ndarray,
    analyzer: Analyzer,
    profile: IdentityProfile,
    config: ReviewConfig | None = None,
) -> ReviewScore:
    """Count faces and measure identity against the profile."""
    config = config or ReviewConfig()
    faces = analyzer.analyze(rgb)
    floor = config.identity_floor(profile.space)
    if not faces:
        ok = not config.require_one_face and floor == -math.inf
        return ReviewScore(ok, "ok" if ok else "no_face", 0, None, -1.0)
    main = max(faces, key=lambda f: f.area)
    if main.space != profile.space:
        raise ValueError(
            f"the profile lives in {profile.space.name} but the reviewer's faces in "
            f"{main.space.name}: build the profile with the reviewing backend's space"
        )
    identity = profile.similarity(main.embedding)
    # Ties on identity go to the more confident, larger face.
    score = identity + 0.01 * min(main.det_score, 1.0)
    if config.require_one_face and len(faces) != 1:
        return ReviewScore(False, "multiple_faces", len(faces), identity, score)
    if identity < floor:
        return ReviewScore(False, "low_identity", len(faces), identity, score)
    return ReviewScore(True, "ok", len(faces), identity, score)


def rank(scores: list[ReviewScore], keep: int) -> list[int]:
    """Indices of the best `keep` accepted outputs, best first."""
    accepted = [i for i, s in enumerate(scores) if s.ok]
    return sorted(accepted, key=lambda i: -scores[i].score)[:keep]


@dataclass
class Candidate:
    """One reviewed output: its image, verdict, seed and the shot (index) it was drawn for."""

    image: Image.Image
    score: ReviewScore
    seed: int
    shot_index: int = 0
    attempt: int = 0


def select(candidates: list[Candidate], places: int, keep: int) -> dict[int, Candidate]:
    """Place -> the portrait delivered there: the best `keep` of the filled places.

    Each shot's place takes its own best passing candidate; the places left empty take the best
    passing candidates that no place used yet (a spare, a second variant of another shot).
    """
    by_score = sorted(
        (c for c in candidates if c.score.ok), key=lambda c: c.score.score, reverse=True
    )
    filled: dict[int, Candidate] = {}
    unused: list[Candidate] = []
    for candidate in by_score:
        if candidate.shot_index < places and candidate.shot_index not in filled:
            filled[candidate.shot_index] = candidate
        else:
            unused.append(candidate)
    empty = [i for i in range(places) if i not in filled]
    filled.update(zip(empty, unused, strict=False))
    kept = rank([filled[i].score for i in sorted(filled)], keep)
    places_in_order = sorted(filled)
    return {places_in_order[k]: filled[places_in_order[k]] for k in kept}
