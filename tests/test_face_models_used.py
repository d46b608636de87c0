"""The insightface backend runs only the models whose output something reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.decode import decode_image
from pipeline.face_backends.insightface import InsightFaceBackend
from pipeline.testing.synthetic_photos import synthetic_face_photo
from pipeline.testing.tiny_face_pack import build_tiny_face_pack


def _landmark_2d_106_model() -> object:
    """A stand-in for buffalo_l's 2d106det: 192 px in, 212 numbers out (insightface's routing)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["data"], ["rgb"], name="colour", axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["rgb", "weights"], ["fc1"], name="points"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_2d106",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 192, 192])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 212])],
        [numpy_helper.from_array(np.full((3, 212), 0.01, np.float32), "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_unused_landmark_model_is_not_loaded_and_the_age_model_is(tmp_path: Path) -> None:
    import onnx

    folder = build_tiny_face_pack(tmp_path)
    onnx.save(_landmark_2d_106_model(), str(folder / "2d106det_tiny.onnx"))
    backend = InsightFaceBackend("tiny_pack", tmp_path, providers=["CPUExecutionProvider"])
    loaded = set(backend._app.models)
    assert loaded == {"detection", "recognition", "genderage"}
    assert backend.estimates_age  # the minor gate keeps its estimate
    faces = backend.analyze(decode_image(synthetic_face_photo(3, 0, size=(256, 256))))
    assert len(faces) == 1 and faces[0].age is not None


@pytest.mark.parametrize(
    ("size", "decoded"), [((3200, 2400), (1200, 1600, 3)), ((4000, 3000), (750, 1000, 3))]
)
def test_a_large_photo_checks_the_same_decoded_for_analysis(
    tmp_path: Path, size: tuple[int, int], decoded: tuple[int, int, int]
) -> None:
    import io

    from PIL import Image

    from pipeline.checks import ANALYSIS_MIN_SIDE, check_headshot, image_fingerprint

    build_tiny_face_pack(tmp_path)
    backend = InsightFaceBackend("tiny_pack", tmp_path, providers=["CPUExecutionProvider"])
    small = Image.open(io.BytesIO(synthetic_face_photo(4, 0, size=(640, 480))))
    buf = io.BytesIO()
    small.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(buf, "JPEG")
    full = decode_image(buf.getvalue())
    reduced = decode_image(buf.getvalue(), min_decoded_side=ANALYSIS_MIN_SIDE)
    assert reduced.shape == decoded  # the largest power-of-2 reduction that keeps 720 px
    on_full = check_headshot(full, backend.analyze(full))
    on_reduced = check_headshot(reduced, backend.analyze(reduced))
    assert on_full.ok and on_reduced.ok
    assert on_full.face is not None and on_reduced.face is not None
    similarity = on_full.face.space.similarity(on_full.face.embedding, on_reduced.face.embedding)
    assert similarity > 0.9
    assert abs(on_full.measured["face_fraction"] - on_reduced.measured["face_fraction"]) < 0.02
    assert (image_fingerprint(full) ^ image_fingerprint(reduced)).bit_count() <= 2
