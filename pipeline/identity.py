"""The identity profile: a robust summary of who is in the accepted photos. Memory only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


class InconsistentIdentity(Exception):
    """The photos seem to show more than one person."""

    def __init__(self, consistency: float, outliers: int, total: int) -> None:
        super().__init__(
            f"these photos seem to show more than one person (consistency {consistency:.2f}, "
            f"{outliers} of {total} photos far from the rest)"
        )
        self.consistency = consistency
        self.outliers = outliers
        self.total = total


@dataclass(frozen=True)
class IdentityConfig:
    """Thresholds of the profile; defaults are for ArcFace-style 512-d embeddings."""

    # Cosine to the robust centre under which a photo is dropped as an outlier. Same-person
    # ArcFace embeddings sit at ~0.7-0.9 from their centroid; another person near 0.
    outlier_cosine: float = 0.5
    # More outliers than this share means no single dominant person: refuse the set.
    max_outlier_fraction: float = 0.34
    # Mean leave-one-out cosine of the kept photos under which the set is refused. One
    # person's selfies score ~0.75-0.9; two people mixed half and half land near 0.55.
    min_consistency: float = 0.62
    # Embeddings kept for adapters that stack several faces (FaceID-Portrait style).
    top_k: int = 4
    # Reference crops kept for FaceID-Plus's CLIP branch, most frontal first.
    reference_crops: int = 1


@dataclass
class IdentityProfile:
    """Lives only in memory: never pickled, logged or written anywhere."""

    mean_embedding: np.ndarray  # (512,) unit norm
    top_embeddings: np.ndarray  # (K, 512), closest to the mean first
    reference_crops: list[np.ndarray] = field(default_factory=list)  # RGB face crops
    consistency: float = 1.0
    kept: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an IdentityProfile must not be serialised")

    def __repr__(self) -> str:  # keeps embeddings out of logs and tracebacks
        return (
            f"IdentityProfile(kept={len(self.kept)}, dropped={len(self.dropped)}, "
            f"consistency={self.consistency:.3f})"
        )

    def similarity(self, embedding: np.ndarray) -> float:
        """Cosine of one (unit) embedding to the profile's mean."""
        return float(np.dot(self.mean_embedding, embedding))


def _unit(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


def robust_centre(embeddings: np.ndarray, outlier_cosine: float) -> tuple[np.ndarray, np.ndarray]:
    """Median start, then two trimmed-mean refinements; returns (centre, inlier mask)."""
    unit = _unit(embeddings)
    centre = _unit(np.median(unit, axis=0))
    keep = np.ones(len(unit), bool)
    for _ in range(2):
        keep = unit @ centre >= outlier_cosine
        if not keep.any():
            break
        centre = _unit(unit[keep].mean(axis=0))
    return centre, keep


def leave_one_out_consistency(embeddings: np.ndarray) -> float:
    """Mean cosine of each embedding to the normalised mean of all the others."""
    unit = _unit(embeddings)
    n = len(unit)
    if n < 2:
        return 1.0
    total = unit.sum(axis=0)
    others = _unit(total[None, :] - unit)
    return float(np.mean(np.sum(unit * others, axis=1)))


def build_profile(
    embeddings: Sequence[np.ndarray] | np.ndarray,
    crops: Sequence[np.ndarray] | None = None,
    frontality: Sequence[float] | None = None,
    config: IdentityConfig | None = None,
) -> IdentityProfile:
    """Profile from accepted photos' embeddings (and their face crops, |yaw|+|pitch| each)."""
    config = config or IdentityConfig()
    emb = _unit(np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1))
    if len(emb) == 0:
        raise ValueError("no embeddings to build a profile from")
    _, keep = robust_centre(emb, config.outlier_cosine)
    outliers = int((~keep).sum())
    if outliers > config.max_outlier_fraction * len(emb) or not keep.any():
        raise InconsistentIdentity(leave_one_out_consistency(emb), outliers, len(emb))
    kept = np.flatnonzero(keep)
    consistency = leave_one_out_consistency(emb[kept])
    if consistency < config.min_consistency:
        raise InconsistentIdentity(consistency, outliers, len(emb))
    mean = _unit(emb[kept].mean(axis=0))
    order = kept[np.argsort(-(emb[kept] @ mean), kind="stable")]
    refs: list[np.ndarray] = []
    if crops is not None:
        score = list(frontality) if frontality is not None else [0.0] * len(crops)
        by_front = sorted(kept.tolist(), key=lambda i: (score[i], -float(emb[i] @ mean)))
        refs = [crops[i] for i in by_front[: config.reference_crops]]
    return IdentityProfile(
        mean_embedding=mean.astype(np.float32),
        top_embeddings=emb[order[: config.top_k]].astype(np.float32),
        reference_crops=refs,
        consistency=consistency,
        kept=kept.tolist(),
        dropped=np.flatnonzero(~keep).tolist(),
    )
