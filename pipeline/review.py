"""Review of generated images: re-analyse each one, refuse the off ones, rank the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pipeline.faces import Face
from pipeline.identity import IdentityProfile


class Analyzer(Protocol):
    def analyze(self, rgb: np.ndarray) -> list[Face]: ...


@dataclass(frozen=True)
class ReviewConfig:
    """Acceptance rules for generated portraits."""

    # Cosine of the output's face to the profile mean. FaceID portraits of the right person
    # score ~0.5-0.7 with buffalo_l; under 0.40 they read as a look-alike at best.
    min_identity: float = 0.40
    # A portrait is of one person; an extra face is usually a generation artefact.
    require_one_face: bool = True
    # Extra generation rounds (new seeds) for refused shots before giving up on them.
    extra_attempts: int = 2
    # Best images delivered per pack.
    keep_per_pack: int = 20

    @classmethod
    def permissive(cls, keep_per_pack: int = 20) -> ReviewConfig:
        """For random-weight models, whose outputs can never contain a face: accept all."""
        return cls(
            min_identity=-1.0, require_one_face=False, extra_attempts=0, keep_per_pack=keep_per_pack
        )


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
    if not faces:
        ok = not config.require_one_face and config.min_identity <= -1.0
        return ReviewScore(ok, "ok" if ok else "no_face", 0, None, -1.0)
    main = max(faces, key=lambda f: f.area)
    identity = profile.similarity(main.embedding)
    # Ties on identity go to the more confident, larger face.
    score = identity + 0.01 * main.det_score
    if config.require_one_face and len(faces) != 1:
        return ReviewScore(False, "multiple_faces", len(faces), identity, score)
    if identity < config.min_identity:
        return ReviewScore(False, "low_identity", len(faces), identity, score)
    return ReviewScore(True, "ok", len(faces), identity, score)


def rank(scores: list[ReviewScore], keep: int) -> list[int]:
    """Indices of the best `keep` accepted outputs, best first."""
    accepted = [i for i, s in enumerate(scores) if s.ok]
    return sorted(accepted, key=lambda i: -scores[i].score)[:keep]
