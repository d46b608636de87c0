"""The research face backend: an insightface pack (SCRFD, ArcFace, genderage), offline only.

insightface's pretrained packs (buffalo_l, antelopev2) are for non-commercial research only;
see pipeline/manifests/research.json.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.faces import ARCFACE_SPACE, Face, pose_from_keypoints

logger = logging.getLogger(__name__)

# What anything here reads of a face: box and five points (detection), the embedding, the age
# (the minor gate) and, in packs that have it, the 3D landmark model's pose. buffalo_l's
# 106-point 2D landmarks are read by nothing, so that model is not run on every face.
USED_MODULES: tuple[str, ...] = ("detection", "recognition", "genderage", "landmark_3d_68")


CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"


def onnx_providers(force_cpu: bool = False, available: Sequence[str] | None = None) -> list[str]:
    """onnxruntime providers in order of preference: CUDA first where present, CPU always last.

    `available` defaults to what the installed onnxruntime offers: the CPU wheel has no CUDA
    provider, onnxruntime-gpu (the GPU worker image) does.
    """
    if available is None:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime

        available = onnxruntime.get_available_providers()
    if not force_cpu and CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    return [CPU_PROVIDER]


class InsightFaceBackend:
    """Loads an insightface pack from `root/models/pack_name`; never downloads anything.

    Landmarks (`Face.kps`): left eye, right eye, nose tip, left and right mouth corner.
    """

    name = "insightface"
    space = ARCFACE_SPACE

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
            providers = onnx_providers()
        self.providers = providers
        self._app: Any = FaceAnalysis(
            name=str(folder), providers=providers, allowed_modules=list(USED_MODULES)
        )
        ctx_id = 0 if providers[0] == CUDA_PROVIDER else -1
        self._app.prepare(ctx_id=ctx_id, det_thresh=det_thresh, det_size=det_size)
        if "recognition" not in self._app.models:
            raise ValueError(f"face model pack {pack_name!r} has no recognition model")
        # A pack without its genderage model gives no age: the minor gate then has no estimate.
        self.estimates_age = "genderage" in self._app.models
        logger.info(
            "face pack %s loaded: %s on %s", pack_name, sorted(self._app.models), self.device
        )

    @property
    def device(self) -> str:
        """Where the pack's sessions actually run: "cuda" or "cpu" (onnxruntime's own word)."""
        sessions = [model.session for model in self._app.models.values()]
        on_cuda = all(CUDA_PROVIDER in session.get_providers() for session in sessions)
        return "cuda" if sessions and on_cuda else "cpu"

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
        age = int(raw.age) if raw.age is not None else None
        return Face(
            bbox=np.asarray(raw.bbox, dtype=np.float32),
            kps=kps,
            det_score=float(raw.det_score),
            embedding=ARCFACE_SPACE.prepare(raw.embedding),
            yaw=yaw,
            pitch=pitch,
            roll=roll,
            age=age,
            space=ARCFACE_SPACE,
        )
