"""Face analysis: the one interface every face backend serves, and what it returns.

A backend (`pipeline/face_backends/`) detects faces, places five landmarks, embeds each face and
estimates its pose (and age where its models can). Embeddings of different recognisers live in
different spaces: ArcFace compares by cosine, dlib's ResNet by Euclidean distance, each with its
own same-person threshold. So every `Face` carries its `EmbeddingSpace`, and the checks, the
identity profile and the review compare embeddings only through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from pipeline.face_backends.insightface import InsightFaceBackend as FaceAnalyzer

# ArcFace template (112 px crop): the geometry of a frontal face, used for pose fallback.
_TEMPLATE_EYE_Y = 51.6
_TEMPLATE_NOSE_RATIO = (71.7366 - 51.6) / (92.28 - 51.6)


@dataclass(frozen=True)
class EmbeddingSpace:
    """How one recogniser's embeddings compare, with its thresholds in its own metric.

    `distance` is the recogniser's native metric (cosine distance 1 - cos on unit vectors, or
    Euclidean distance); `similarity` is 1 - distance, so "higher is more alike" holds in every
    space (for a cosine space it is exactly the cosine).
    """

    name: str
    metric: Literal["cosine", "euclidean"]
    dim: int
    # Largest distance at which a selfie counts as the headshot's person.
    same_person: float
    # Largest distance of a generated portrait's face to the identity profile.
    review_match: float
    # Largest distance to the profile's robust centre before a photo is dropped as an outlier.
    profile_outlier: float
    # Largest mean leave-one-out distance of the kept photos (the profile's spread).
    profile_spread: float

    def prepare(self, embeddings: np.ndarray) -> np.ndarray:
        """float32 rows as the metric wants them (unit norm for cosine)."""
        v = np.asarray(embeddings, dtype=np.float32)
        if self.metric == "cosine":
            norms = np.linalg.norm(v, axis=-1, keepdims=True)
            v = v / np.maximum(norms, 1e-12)
        return v

    def distances(self, rows: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Distance of each row (or of the one vector) of `rows` to `other`."""
        a, b = self.prepare(rows), self.prepare(other)
        if self.metric == "cosine":
            return np.asarray(1.0 - a @ b, dtype=np.float64)
        return np.asarray(np.linalg.norm(a - b, axis=-1), dtype=np.float64)

    def distance(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.distances(a, b))

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return 1.0 - self.distance(a, b)

    def centre(self, rows: np.ndarray) -> np.ndarray:
        """The mean in this space (re-normalised for cosine)."""
        return self.prepare(self.prepare(rows).mean(axis=0))

    def median_centre(self, rows: np.ndarray) -> np.ndarray:
        """The coordinate-wise median: a start that one outlier cannot drag."""
        return self.prepare(np.median(self.prepare(rows), axis=0))


# insightface ArcFace packs (buffalo_l's w600k_r50, antelopev2's glintr100) and the tiny pack.
# Same person with buffalo_l scores cosine ~0.5-0.8, different people < 0.3.
ARCFACE_SPACE = EmbeddingSpace(
    name="arcface-512",
    metric="cosine",
    dim=512,
    same_person=0.55,  # cosine >= 0.45: margin both ways
    review_match=0.60,  # cosine >= 0.40: FaceID outputs of the right person score 0.5-0.7
    profile_outlier=0.50,  # cosine 0.5 to the centre; the person's photos sit at ~0.7-0.9
    profile_spread=0.38,  # leave-one-out cosine 0.62; two people half and half land near 0.55
)


@dataclass
class Face:
    """One detected face; `embedding` lives in `space` and must never be persisted."""

    bbox: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    kps: np.ndarray  # (5, 2) five landmarks in the backend's layout (see the backend)
    det_score: float  # the detector's own confidence; the backend already applied its threshold
    embedding: np.ndarray  # (space.dim,) float32
    yaw: float
    pitch: float
    roll: float
    age: int | None = None  # None: the backend has no age estimator
    space: EmbeddingSpace = ARCFACE_SPACE

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def __repr__(self) -> str:  # keeps the embedding out of logs and tracebacks
        return (
            f"Face(bbox={np.round(self.bbox, 1).tolist()}, det_score={self.det_score:.2f}, "
            f"yaw={self.yaw:.1f}, pitch={self.pitch:.1f}, roll={self.roll:.1f}, age={self.age}, "
            f"space={self.space.name})"
        )


class FaceBackend(Protocol):
    """Detect, landmark, embed and pose every face in an RGB image."""

    name: str
    # The space of the embeddings this backend produces (metric and thresholds).
    space: EmbeddingSpace
    # False: no age estimate; the minor gate then rests on the user's declared age (consent).
    estimates_age: bool

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """All faces at or above the backend's detection threshold, largest first."""
        ...


def _eye_frame(
    left_eye: np.ndarray, right_eye: np.ndarray, points: np.ndarray
) -> tuple[float, float, np.ndarray]:
    """Roll (degrees), half the eye distance and `points` in an eye-centred, de-rolled frame."""
    dx, dy = right_eye - left_eye
    roll = math.degrees(math.atan2(dy, dx))
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (left_eye + right_eye) / 2.0
    pts = (points - eye_mid) @ rot.T
    half_eye = max(float(np.linalg.norm(right_eye - left_eye)) / 2.0, 1e-6)
    return roll, half_eye, pts


def _yaw(nose_x: float, half_eye: float) -> float:
    # The nose swings towards the turned side by about 1.6 half eye distances at 90 degrees.
    return math.degrees(math.asin(float(np.clip(nose_x / (half_eye * 1.6), -1.0, 1.0))))


def pose_from_keypoints(kps: np.ndarray) -> tuple[float, float, float]:
    """Coarse (yaw, pitch, roll) in degrees from ArcFace's 5 points (eyes, nose tip, mouth).

    Roll is the eye-line angle. Yaw comes from how far the nose sits from the eye midpoint,
    relative to half the eye distance (the nose tip swings towards the turned side). Pitch
    comes from where the nose sits between the eye line and the mouth line, against the
    ArcFace template's ratio. Good to ~10 degrees, which is what a "frontal enough" gate needs.
    """
    kps = np.asarray(kps, dtype=np.float64)
    roll, half_eye, pts = _eye_frame(kps[0], kps[1], kps)
    yaw = _yaw(pts[2, 0], half_eye)
    mouth_y = (pts[3, 1] + pts[4, 1]) / 2.0
    ratio = pts[2, 1] / max(mouth_y, 1e-6)
    pitch = math.degrees(math.asin(float(np.clip((ratio - _TEMPLATE_NOSE_RATIO) * 2.0, -1, 1))))
    return yaw, pitch, roll


def pose_from_eyes_and_nose(
    left_eye: np.ndarray, right_eye: np.ndarray, nose: np.ndarray, frontal_nose_drop: float
) -> tuple[float, float, float]:
    """Coarse (yaw, pitch, roll) from eye centres and one nose point (no mouth landmark).

    Yaw and roll as in `pose_from_keypoints`. Pitch from how far the nose point sits below the
    eye line, in eye distances, against `frontal_nose_drop` (that ratio on a frontal face):
    nodding shortens it, raising the chin lengthens it in the image. Coarser than with a mouth
    line, ~15 degrees; enough to refuse a face looking at the floor or the ceiling.
    """
    points = np.asarray([left_eye, right_eye, nose], dtype=np.float64)
    roll, half_eye, pts = _eye_frame(points[0], points[1], points)
    yaw = _yaw(pts[2, 0], half_eye)
    drop = pts[2, 1] / (2.0 * half_eye)
    pitch = math.degrees(
        math.asin(float(np.clip((drop - frontal_nose_drop) / frontal_nose_drop * 1.5, -1, 1)))
    )
    return yaw, pitch, roll


def __getattr__(name: str) -> Any:
    """`FaceAnalyzer`: the research backend under its historical name (CLI, bench, tests)."""
    if name == "FaceAnalyzer":
        from pipeline.face_backends.insightface import InsightFaceBackend

        return InsightFaceBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ARCFACE_SPACE",
    "EmbeddingSpace",
    "Face",
    "FaceAnalyzer",
    "FaceBackend",
    "pose_from_eyes_and_nose",
    "pose_from_keypoints",
]
