"""The identity profile: a robust summary of who is in the accepted photos. Memory only.

Distances are the face backend's (`EmbeddingSpace`); similarity is 1 - distance, so for ArcFace
it is the cosine and for dlib 1 - the Euclidean distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.faces import ARCFACE_SPACE, EmbeddingSpace


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
    """Thresholds of the profile; None takes the backend's (`EmbeddingSpace.profile_*`)."""

    # Similarity to the robust centre under which a photo is dropped as an outlier.
    outlier_similarity: float | None = None
    # More outliers than this share means no single dominant person: refuse the set.
    max_outlier_fraction: float = 0.34
    # Mean leave-one-out similarity of the kept photos under which the set is refused.
    min_consistency: float | None = None
    # Embeddings kept for adapters that stack several faces (FaceID-Portrait style).
    top_k: int = 4
    # Reference crops kept for FaceID-Plus's CLIP branch, most frontal first.
    reference_crops: int = 1

    def outlier_distance(self, space: EmbeddingSpace) -> float:
        if self.outlier_similarity is None:
            return space.profile_outlier
        return 1.0 - self.outlier_similarity

    def max_spread(self, space: EmbeddingSpace) -> float:
        if self.min_consistency is None:
            return space.profile_spread
        return 1.0 - self.min_consistency


@dataclass
class IdentityProfile:
    """Lives only in memory: never pickled, logged or written anywhere."""

    mean_embedding: np.ndarray  # (dim,) the centre in `space` (unit norm for cosine)
    top_embeddings: np.ndarray  # (K, dim), closest to the mean first
    reference_crops: list[np.ndarray] = field(default_factory=list)  # RGB face crops
    consistency: float = 1.0  # mean leave-one-out similarity of the kept photos
    kept: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    # The kept photos' indices, closest to the centre first (reference images for a generator).
    ranked: list[int] = field(default_factory=list)
    space: EmbeddingSpace = ARCFACE_SPACE

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an IdentityProfile must not be serialised")

    def __repr__(self) -> str:  # keeps embeddings out of logs and tracebacks
        return (
            f"IdentityProfile(kept={len(self.kept)}, dropped={len(self.dropped)}, "
            f"consistency={self.consistency:.3f}, space={self.space.name})"
        )

    def distance(self, embedding: np.ndarray) -> float:
        """Distance of one embedding (of this profile's space) to the profile's centre."""
        return self.space.distance(self.mean_embedding, embedding)

    def similarity(self, embedding: np.ndarray) -> float:
        """1 - distance to the centre (the cosine, for ArcFace)."""
        return 1.0 - self.distance(embedding)


def robust_centre(
    embeddings: np.ndarray, outlier_distance: float, space: EmbeddingSpace = ARCFACE_SPACE
) -> tuple[np.ndarray, np.ndarray]:
    """Median start, then two trimmed-mean refinements; returns (centre, inlier mask)."""
    rows = space.prepare(embeddings)
    centre = space.median_centre(rows)
    keep = np.ones(len(rows), bool)
    for _ in range(2):
        keep = space.distances(rows, centre) <= outlier_distance
        if not keep.any():
            break
        centre = space.centre(rows[keep])
    return centre, keep


def leave_one_out_consistency(
    embeddings: np.ndarray, space: EmbeddingSpace = ARCFACE_SPACE
) -> float:
    """Mean similarity of each embedding to the centre of all the others."""
    rows = space.prepare(embeddings)
    n = len(rows)
    if n < 2:
        return 1.0
    others = (rows.sum(axis=0)[None, :] - rows) / (n - 1)
    sims = [1.0 - space.distance(rows[i], others[i]) for i in range(n)]
    return float(np.mean(sims))


def build_profile(
    embeddings: Sequence[np.ndarray] | np.ndarray,
    crops: Sequence[np.ndarray] | None = None,
    frontality: Sequence[float] | None = None,
    config: IdentityConfig | None = None,
    space: EmbeddingSpace = ARCFACE_SPACE,
) -> IdentityProfile:
    """Profile from accepted photos' embeddings (and their face crops, |yaw|+|pitch| each).

    `space` is the face backend's (`backend.space`); the review refuses a face of another space.
    """
    config = config or IdentityConfig()
    if len(embeddings) == 0:
        raise ValueError("no embeddings to build a profile from")
    emb = space.prepare(np.asarray(embeddings, dtype=np.float32).reshape(len(embeddings), -1))
    if emb.shape[1] != space.dim:
        raise ValueError(f"{emb.shape[1]}-d embeddings do not belong to {space.name}")
    _, keep = robust_centre(emb, config.outlier_distance(space), space)
    outliers = int((~keep).sum())
    if outliers > config.max_outlier_fraction * len(emb) or not keep.any():
        raise InconsistentIdentity(leave_one_out_consistency(emb, space), outliers, len(emb))
    kept = np.flatnonzero(keep)
    consistency = leave_one_out_consistency(emb[kept], space)
    if 1.0 - consistency > config.max_spread(space):
        raise InconsistentIdentity(consistency, outliers, len(emb))
    mean = space.centre(emb[kept])
    closeness = space.distances(emb[kept], mean)
    order = kept[np.argsort(closeness, kind="stable")]
    refs: list[np.ndarray] = []
    if crops is not None:
        score = list(frontality) if frontality is not None else [0.0] * len(crops)
        by_front = sorted(kept.tolist(), key=lambda i: (score[i], space.distance(emb[i], mean)))
        refs = [crops[i] for i in by_front[: config.reference_crops]]
    return IdentityProfile(
        mean_embedding=mean.astype(np.float32),
        top_embeddings=emb[order[: config.top_k]].astype(np.float32),
        reference_crops=refs,
        consistency=consistency,
        kept=kept.tolist(),
        dropped=np.flatnonzero(~keep).tolist(),
        ranked=order.tolist(),
        space=space,
    )
