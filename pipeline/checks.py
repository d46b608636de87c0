"""Photo checks for the headshot and the selfies: one reason code plus the measured values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from pipeline.faces import EmbeddingSpace, Face

REASONS: tuple[str, ...] = (
    "ok",
    "no_face",
    "multiple_faces",
    "face_too_small",
    "not_frontal",
    "blurry",
    "too_dark",
    "too_bright",
    "different_person",
    "duplicate",
    "minor",
    "identity_unverified",
)


# The short side, in pixels, an image needs for these checks and face analysis: what Telegram
# sends as a photo (1280 px on the long side, 720-960 on the short), which the thresholds are
# set on. The detector works at 640 px; a face at min_face_fraction is then ~90 px or more,
# over min_face_px and near ArcFace's 112 px crop. A bigger file gains the checks nothing, so
# intake may decode it smaller (`decode_image(..., min_decoded_side=ANALYSIS_MIN_SIDE)`).
ANALYSIS_MIN_SIDE = 720


@dataclass(frozen=True)
class CheckConfig:
    """Every threshold of the photo checks. Defaults hold for every backend and the tiny pack.

    Identity thresholds belong to the backend's `EmbeddingSpace`; the fields here override them.
    """

    # Detector confidence below which a box is ignored. None: the backend's own threshold,
    # already applied in `analyze` (SCRFD 0.5; dlib HOG margin 0.3). Scores are not
    # comparable across detectors, so a number here is for one backend only.
    min_det_score: float | None = None
    # Face box short side in pixels. ArcFace aligns to 112 px; below ~40 px the crop is
    # upsampled 3x and embeddings and IP-Adapter conditioning degrade sharply.
    min_face_px: float = 40.0
    # Face box short side over image short side. A headshot or arm's-length selfie fills
    # 15-40 %; under 12 % the face is a detail of a scene, not a usable reference.
    min_face_fraction: float = 0.12
    # A second face counts (-> multiple_faces) when its area is at least this share of the
    # largest one; smaller faces are people in the background and are ignored in selfies.
    secondary_face_area_ratio: float = 0.25
    # Headshot pose limits (degrees): the headshot is the frontal reference for generation.
    headshot_max_yaw: float = 20.0
    headshot_max_pitch: float = 20.0
    headshot_max_roll: float = 25.0
    # Selfies add angles to the profile; past ~45 degrees yaw ArcFace loses identity.
    selfie_max_yaw: float = 45.0
    selfie_max_pitch: float = 30.0
    selfie_max_roll: float = 40.0
    # Variance of the Laplacian on the grey face crop (native size, capped at 112 px).
    # Sharp phone faces measure > 100; a 2 px Gaussian blur on a 100 px face gives ~17.
    min_sharpness: float = 40.0
    # Mean luma (0-255) of the face crop: under 60 the face is in shadow, skin texture and
    # identity cues are lost; over 235 it is blown out.
    min_face_luma: float = 60.0
    max_face_luma: float = 235.0
    # Share of face pixels at >= 250: flash glare. A third of the face gone is too much.
    max_clipped_fraction: float = 0.30
    # Least similarity (1 - distance in the backend's space) of a selfie to the headshot.
    # None: the backend's own threshold (`EmbeddingSpace.same_person`: ArcFace cosine 0.45,
    # dlib Euclidean distance 0.6).
    min_same_person: float | None = None
    # The same as a cosine, for cosine spaces only (its older name; refused for another space).
    min_same_person_cosine: float | None = None
    # Hamming distance between 64-bit perceptual hashes at or under which a photo is a
    # near-duplicate (re-sent, or a burst shot): pHash puts re-encodes within ~4 bits.
    max_duplicate_hamming: int = 6
    # Apparent age (years, the face pack's genderage estimate) under which a face is refused
    # as a minor's. The service is for adults; the estimate's error is several years either
    # way, so "clearly under 18" is a margin below it: adults are not refused on noise.
    min_apparent_age: float = 16.0

    def max_same_person_distance(self, space: EmbeddingSpace) -> float:
        """The largest selfie-to-headshot distance accepted in `space`."""
        if self.min_same_person is not None:
            return 1.0 - self.min_same_person
        if self.min_same_person_cosine is not None:
            if space.metric != "cosine":
                raise ValueError(
                    f"min_same_person_cosine applies to cosine spaces, not {space.name}; "
                    "set min_same_person"
                )
            return 1.0 - self.min_same_person_cosine
        return space.same_person


@dataclass
class CheckResult:
    """Outcome of one photo check; `measured` holds the values the rule looked at."""

    ok: bool
    reason: str
    measured: dict[str, float] = field(default_factory=dict)
    face: Face | None = None

    def as_report(self) -> dict[str, object]:
        """JSON-safe view for report.json (no embedding)."""
        return {
            "ok": self.ok,
            "reason": self.reason,
            "measured": {k: round(float(v), 4) for k, v in self.measured.items()},
        }


def face_crop(rgb: np.ndarray, face: Face) -> np.ndarray:
    """The face's bounding box, clipped to the image."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = (round(float(v)) for v in face.bbox)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 <= x1 or y2 <= y1:
        return np.zeros((1, 1, 3), np.uint8)
    return rgb[y1:y2, x1:x2]


def _grey(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian at a fixed scale, so big and small faces compare."""
    import cv2

    if min(grey.shape) > 112:
        grey = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).var())


def measure_face(rgb: np.ndarray, face: Face) -> dict[str, float]:
    """Size, pose, exposure and sharpness of one face."""
    grey = _grey(face_crop(rgb, face))
    short_side = min(face.width, face.height)
    return {
        "det_score": face.det_score,
        "face_px": short_side,
        "face_fraction": short_side / max(1, min(rgb.shape[:2])),
        "yaw": face.yaw,
        "pitch": face.pitch,
        "roll": face.roll,
        "luma": float(grey.mean()),
        "clipped": float((grey >= 250).mean()),
        "sharpness": sharpness(grey),
    }


def _count_faces(
    faces: list[Face], config: CheckConfig, ignore_small: bool
) -> tuple[Face | None, int, dict[str, float]]:
    floor = config.min_det_score
    real = sorted(
        (f for f in faces if floor is None or f.det_score >= floor),
        key=lambda f: f.area,
        reverse=True,
    )
    if not real:
        return None, 0, {"faces": 0.0}
    main = real[0]
    if ignore_small:
        counted = [f for f in real if f.area >= config.secondary_face_area_ratio * main.area]
    else:
        counted = real
    return main, len(counted), {"faces": float(len(real)), "counted_faces": float(len(counted))}


def _quality(
    m: dict[str, float], config: CheckConfig, max_yaw: float, max_pitch: float, max_roll: float
) -> str:
    # Order matters: a dark face also measures as blurry, so exposure is judged first.
    if m["face_px"] < config.min_face_px or m["face_fraction"] < config.min_face_fraction:
        return "face_too_small"
    if abs(m["yaw"]) > max_yaw or abs(m["pitch"]) > max_pitch or abs(m["roll"]) > max_roll:
        return "not_frontal"
    if m["luma"] < config.min_face_luma:
        return "too_dark"
    if m["luma"] > config.max_face_luma or m["clipped"] > config.max_clipped_fraction:
        return "too_bright"
    if m["sharpness"] < config.min_sharpness:
        return "blurry"
    return "ok"


def _apparent_minor(face: Face, measured: dict[str, float], config: CheckConfig) -> bool:
    """True when the backend estimates an age and it is clearly under 18.

    A backend without an age estimator (dlib) gives no estimate: this gate then refuses
    nothing, and the service relies on the age the user declared at consent (bot/consent.py).
    """
    if face.age is None:
        return False
    measured["apparent_age"] = float(face.age)
    return face.age < config.min_apparent_age


def check_headshot(
    rgb: np.ndarray, faces: list[Face], config: CheckConfig | None = None
) -> CheckResult:
    """Exactly one face, big enough, frontal, well exposed and sharp."""
    config = config or CheckConfig()
    main, count, measured = _count_faces(faces, config, ignore_small=False)
    if main is None:
        return CheckResult(False, "no_face", measured)
    if count > 1:
        return CheckResult(False, "multiple_faces", measured, main)
    measured |= measure_face(rgb, main)
    reason = _quality(
        measured,
        config,
        config.headshot_max_yaw,
        config.headshot_max_pitch,
        config.headshot_max_roll,
    )
    if reason == "ok" and _apparent_minor(main, measured, config):
        reason = "minor"
    return CheckResult(reason == "ok", reason, measured, main)


def check_selfie(
    rgb: np.ndarray,
    faces: list[Face],
    headshot_embedding: np.ndarray | None,
    accepted_fingerprints: Iterable[int] = (),
    config: CheckConfig | None = None,
    fingerprint: int | None = None,
) -> CheckResult:
    """One dominant adult face of the headshot's person, good quality, not a near-duplicate.

    `fingerprint`: the photo's `image_fingerprint`, when the caller has it already.

    Without the headshot's embedding the photo is refused ("identity_unverified"): a selfie
    is never accepted unchecked.
    """
    config = config or CheckConfig()
    main, count, measured = _count_faces(faces, config, ignore_small=True)
    if main is None:
        return CheckResult(False, "no_face", measured)
    if count > 1:
        return CheckResult(False, "multiple_faces", measured, main)
    measured |= measure_face(rgb, main)
    reason = _quality(
        measured, config, config.selfie_max_yaw, config.selfie_max_pitch, config.selfie_max_roll
    )
    if reason != "ok":
        return CheckResult(False, reason, measured, main)
    if _apparent_minor(main, measured, config):
        return CheckResult(False, "minor", measured, main)
    if headshot_embedding is None:
        return CheckResult(False, "identity_unverified", measured, main)
    distance = main.space.distance(main.embedding, headshot_embedding)
    measured["distance_to_headshot"] = distance
    if distance > config.max_same_person_distance(main.space):
        return CheckResult(False, "different_person", measured, main)
    if fingerprint is None:
        fingerprint = image_fingerprint(rgb)
    distances = [hamming(fingerprint, other) for other in accepted_fingerprints]
    if distances:
        measured["min_hamming"] = float(min(distances))
        if min(distances) <= config.max_duplicate_hamming:
            return CheckResult(False, "duplicate", measured, main)
    return CheckResult(True, "ok", measured, main)


def image_fingerprint(rgb: np.ndarray) -> int:
    """64-bit DCT perceptual hash (pHash): low frequencies above/below their median.

    Downscaled first, on the uint8 image, and made grey only at 32x32: a full-size float grey
    copy cost ~130 ms at 12 MP. Rows and columns are first sampled down to about 256 pixels on
    the short side (a 32x32 low-frequency hash cannot tell), then area-averaged. Compute it
    once per photo.
    """
    import cv2

    step = max(1, min(rgb.shape[:2]) // 256)
    sampled = np.ascontiguousarray(rgb[::step, ::step])
    small = cv2.resize(sampled, (32, 32), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    low = cv2.dct(grey)[:8, :8].flatten()
    # The DC term only encodes overall brightness; compare the rest against their median.
    bits = low > np.median(low[1:])
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two fingerprints."""
    return (a ^ b).bit_count()
