"""Face analysis: a thin, offline-only wrapper around insightface's FaceAnalysis."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# ArcFace template (112 px crop): the geometry of a frontal face, used for pose fallback.
_TEMPLATE_EYE_Y = 51.6
_TEMPLATE_NOSE_RATIO = (71.7366 - 51.6) / (92.28 - 51.6)


@dataclass
class Face:
    """One detected face; `embedding` is L2-normalised and must never be persisted."""

    bbox: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    kps: np.ndarray  # (5, 2) eyes, nose, mouth corners
    det_score: float
    embedding: np.ndarray  # (512,) float32, unit norm
    yaw: float
    pitch: float
    roll: float
    age: int | None = None

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


def pose_from_keypoints(kps: np.ndarray) -> tuple[float, float, float]:
    """Coarse (yaw, pitch, roll) in degrees from 5 points, for packs without a 3D landmark model.

    Roll is the eye-line angle. Yaw comes from how far the nose sits from the eye midpoint,
    relative to half the eye distance (the nose tip swings towards the turned side). Pitch
    comes from where the nose sits between the eye line and the mouth line, against the
    ArcFace template's ratio. Good to ~10 degrees, which is what a "frontal enough" gate needs.
    """
    kps = np.asarray(kps, dtype=np.float64)
    left_eye, right_eye, nose, mouth_l, mouth_r = kps
    dx, dy = right_eye - left_eye
    roll = math.degrees(math.atan2(dy, dx))
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (left_eye + right_eye) / 2.0
    pts = (kps - eye_mid) @ rot.T
    half_eye = max(abs(pts[1, 0] - pts[0, 0]) / 2.0, 1e-6)
    yaw = math.degrees(math.asin(float(np.clip(pts[2, 0] / (half_eye * 1.6), -1.0, 1.0))))
    mouth_y = (pts[3, 1] + pts[4, 1]) / 2.0
    ratio = pts[2, 1] / max(mouth_y, 1e-6)
    pitch = math.degrees(math.asin(float(np.clip((ratio - _TEMPLATE_NOSE_RATIO) * 2.0, -1, 1))))
    del nose, mouth_l, mouth_r
    return yaw, pitch, roll


class FaceAnalyzer:
    """Loads an insightface pack from `root/models/pack_name`; never downloads anything."""

    def __init__(
        self,
        pack_name: str,
        root: Path,
        det_size: tuple[int, int] = (640, 640),
        providers: list[str] | None = None,
        det_thresh: float = 0.5,
    ) -> None:
        folder = Path(root).expanduser() / "models" / pack_name
        if not folder.is_dir() or not any(folder.glob("*.onnx")):
            # insightface would try to download a missing pack; we refuse instead.
            raise FileNotFoundError(
                f"face model pack {pack_name!r} not found under {folder}; copy the pack's "
                "*.onnx files there (see README: model licences)"
            )
        # onnxruntime reads this when it is first imported (its telemetry store under
        # ~/.cache); entry points set it earlier, this covers the CLI and notebooks.
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime
        from insightface.app import FaceAnalysis

        onnxruntime.disable_telemetry_events()
        if providers is None:
            available = onnxruntime.get_available_providers()
            providers = [
                p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available
            ]
        self.providers = providers
        self._app: Any = FaceAnalysis(name=str(folder), providers=providers)
        ctx_id = 0 if providers[0] == "CUDAExecutionProvider" else -1
        self._app.prepare(ctx_id=ctx_id, det_thresh=det_thresh, det_size=det_size)
        if "recognition" not in self._app.models:
            raise ValueError(f"face model pack {pack_name!r} has no recognition model")
        logger.info(
            "face pack %s loaded: %s on %s", pack_name, sorted(self._app.models), providers[0]
        )

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """All faces in an RGB image, largest first."""
        import cv2

        bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)  # insightface is BGR
        faces = [self._convert(f) for f in self._app.get(bgr)]
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    @staticmethod
    def _convert(raw: Any) -> Face:
        kps = np.asarray(raw.kps, dtype=np.float32)
        if raw.pose is not None:  # packs with a 3D landmark model give pitch, yaw, roll
            pitch, yaw, roll = (float(v) for v in raw.pose)
        else:
            yaw, pitch, roll = pose_from_keypoints(kps)
        emb = np.asarray(raw.embedding, dtype=np.float32)
        emb = emb / max(float(np.linalg.norm(emb)), 1e-12)
        age = int(raw.age) if raw.age is not None else None
        return Face(
            bbox=np.asarray(raw.bbox, dtype=np.float32),
            kps=kps,
            det_score=float(raw.det_score),
            embedding=emb,
            yaw=yaw,
            pitch=pitch,
            roll=roll,
            age=age,
        )
