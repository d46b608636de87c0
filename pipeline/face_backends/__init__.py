"""Face backends, one module each, behind `pipeline.faces.FaceBackend`.

`research`: insightface (non-commercial weights). `commercial`: dlib (CC0 weights). A new backend
is a new module here plus one branch in `load_face_backend`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pipeline.faces import FaceBackend

Stack = Literal["research", "commercial"]
STACKS: tuple[Stack, ...] = ("research", "commercial")


def load_face_backend(
    stack: str,
    *,
    face_pack: str = "buffalo_l",
    face_root: Path | None = None,
    dlib_models_dir: Path | None = None,
    force_cpu: bool = False,
) -> FaceBackend:
    """The face backend of a model stack, loaded from local files only (blocking).

    insightface runs on onnxruntime's CUDA provider where installed (onnxruntime-gpu), else on
    CPU; `force_cpu` keeps it on CPU. dlib runs on CPU.
    """
    if stack == "research":
        from pipeline.face_backends.insightface import InsightFaceBackend, onnx_providers

        if face_root is None:
            raise ValueError("the research stack needs face_root (an insightface pack folder)")
        return InsightFaceBackend(face_pack, face_root, providers=onnx_providers(force_cpu))
    if stack == "commercial":
        from pipeline.face_backends.dlib import DlibBackend

        return DlibBackend(dlib_models_dir)
    raise ValueError(f"unknown model stack {stack!r}; expected one of {STACKS}")
