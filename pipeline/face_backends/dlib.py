"""The commercial face backend: dlib's HOG (or MMOD) detector, 5-point landmarks, ResNet embedding.

Only dlib's CC0 model files are used: `dlib_face_recognition_resnet_model_v1.dat`,
`shape_predictor_5_face_landmarks.dat` and (optionally) `mmod_human_face_detector.dat`; the HOG
detector is built into dlib. The 68-point model that ships beside them (iBUG 300-W data, not for
commercial use) is never loaded. dlib has no age estimator: `estimates_age` is False, and the
minor gate rests on the age the user declares in the consent step.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.faces import EmbeddingSpace, Face, pose_from_eyes_and_nose

logger = logging.getLogger(__name__)

RECOGNISER = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS = "shape_predictor_5_face_landmarks.dat"
MMOD_DETECTOR = "mmod_human_face_detector.dat"

# dlib's ResNet: 128-d descriptors, same person at Euclidean distance < 0.6 (dlib's own
# threshold, 99.38 % on LFW). Measured here: flipped, darkened, cropped, re-encoded copies of one
# photo 0.13-0.23 apart, other people 0.72-0.85.
DLIB_SPACE = EmbeddingSpace(
    name="dlib-resnet-128",
    metric="euclidean",
    dim=128,
    same_person=0.6,
    review_match=0.6,
    # To the centre a photo sits ~1/sqrt(2) of its pairwise distance away: one person's photos
    # at ~0.1-0.35, another person at ~0.5+.
    profile_outlier=0.5,
    # Mean leave-one-out distance: one person ~0.15-0.3; two people mixed ~0.45+.
    profile_spread=0.4,
)

# Where the nose base sits below the eye line on a frontal face, in eye distances (dlib's
# fifth point is the bottom of the nose, not its tip). Measured on frontal faces here: 0.74-0.93.
_FRONTAL_NOSE_DROP = 0.85


def packaged_models_dir() -> Path:
    """The folder of the `face-recognition-models` package, found without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "dlib model folder not set and the face-recognition-models package is not installed"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibBackend:
    """dlib face analysis on CPU; `models_dir` holds the .dat files (default: the package's).

    Landmarks (`Face.kps`), dlib's 5-point layout: the image-right eye's outer and inner corner,
    the image-left eye's outer and inner corner, the bottom of the nose.
    """

    name = "dlib"
    space = DLIB_SPACE
    estimates_age = False

    def __init__(
        self,
        models_dir: Path | None = None,
        detector: Literal["hog", "mmod"] = "hog",
        min_score: float | None = None,
        upsample_below_px: int = 720,
    ) -> None:
        folder = Path(models_dir).expanduser() if models_dir else packaged_models_dir()
        needed = [RECOGNISER, LANDMARKS] + ([MMOD_DETECTOR] if detector == "mmod" else [])
        missing = [name for name in needed if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"dlib model files missing under {folder}: {missing}")
        import dlib

        self._dlib: Any = dlib
        self.detector = detector
        if detector == "hog":
            self._detector: Any = dlib.get_frontal_face_detector()
        else:
            self._detector = dlib.cnn_face_detection_model_v1(str(folder / MMOD_DETECTOR))
        # HOG scores are SVM margins (dlib's own cut is 0). 0.3 keeps every face of the test
        # photos (0.37-2.8) and drops a texture hit on the astronaut's suit (0.12). MMOD's
        # confidence: real faces score ~1.
        self.min_score = min_score if min_score is not None else (0.3 if detector == "hog" else 0.5)
        # HOG's window is 80 px: on a smaller photo a 40 px face needs one 2x upsample (4x cost).
        self.upsample_below_px = upsample_below_px
        self._landmarks: Any = dlib.shape_predictor(str(folder / LANDMARKS))
        self._recogniser: Any = dlib.face_recognition_model_v1(str(folder / RECOGNISER))
        logger.info("dlib face models loaded from %s (%s detector)", folder, detector)

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """All faces scoring at least `min_score`, largest first."""
        image = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        upsample = 1 if min(image.shape[:2]) < self.upsample_below_px else 0
        faces = [
            self._face(image, rect, score)
            for rect, score in self._detect(image, upsample)
            if score >= self.min_score
        ]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def _detect(self, image: np.ndarray, upsample: int) -> list[tuple[Any, float]]:
        if self.detector == "hog":
            rects, scores, _ = self._detector.run(image, upsample, 0.0)
            return [(r, float(s)) for r, s in zip(rects, scores, strict=True)]
        return [(d.rect, float(d.confidence)) for d in self._detector(image, upsample)]

    def _face(self, image: np.ndarray, rect: Any, score: float) -> Face:
        shape = self._landmarks(image, rect)
        kps = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
        descriptor = np.asarray(
            self._recogniser.compute_face_descriptor(image, shape), dtype=np.float32
        )
        # dlib's layout: 0-1 the image-right eye, 2-3 the image-left eye, 4 the nose base.
        left_eye, right_eye = kps[2:4].mean(axis=0), kps[0:2].mean(axis=0)
        yaw, pitch, roll = pose_from_eyes_and_nose(left_eye, right_eye, kps[4], _FRONTAL_NOSE_DROP)
        return Face(
            bbox=np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], np.float32),
            kps=kps,
            det_score=score,
            embedding=descriptor,
            yaw=yaw,
            pitch=pitch,
            roll=roll,
            age=None,
            space=DLIB_SPACE,
        )
