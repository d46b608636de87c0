"""A tiny insightface model pack written with onnx.helper, for tests, demos and benchmarks.

The detector "sees" a face wherever a square patch is much brighter than the image mean:
one box per patch, sized from the bright area, with the five ArcFace keypoints laid out
on it. The recogniser pools the aligned 112 px crop into a 7x7 colour grid, removes the
mean and projects it with a fixed random matrix, so photos drawn by `synthetic_photos`
with the same identity pattern embed close together and different patterns do not.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from onnx import ModelProto

# ArcFace's canonical 5-point template in its 112x112 crop (insightface face_align.arcface_dst).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
STRIDES = (8, 16, 32)
DETECTOR_STRIDE = 32  # only the coarsest level fires
RECOGNISER_GRID = 7  # 112 / 16: one feature per 16 px cell and channel
EMBEDDING_DIM = 512
_OPSET = 17


def _anchor_rows(nodes: list, src: str, channels: int, name: str) -> None:
    """[1,C,h,w] map -> [h*w*2, C] rows, cell-major then anchor, as SCRFD decodes them."""
    from onnx import helper

    nodes += [
        helper.make_node("Transpose", [src], [f"{name}_t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", [f"{name}_t", f"shape_rows_{channels}"], [f"{name}_r"]),
        helper.make_node("Concat", [f"{name}_r", f"{name}_r"], [f"{name}_2"], axis=1),
        helper.make_node("Reshape", [f"{name}_2", f"shape_rows_{channels}"], [name]),
    ]


def _detector_model() -> ModelProto:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    for c in (1, 4, 10):
        inits.append(numpy_helper.from_array(np.array([-1, c], dtype=np.int64), f"shape_rows_{c}"))
    # A pixel is "bright" when its level (0-255) exceeds 1.6x the image's mean level plus 8:
    # a ratio, so dark photos still show their face, and grey noise (or the detector's black
    # letterbox padding pulling the mean down) does not.
    const("level_scale", np.array(128.0))
    const("level_shift", np.array(127.5))
    const("ratio", np.array(1.6))
    const("margin", np.array(8.0))
    const("softness", np.array(0.25))
    const("gain", np.array(20.0))
    const("half", np.array(0.5))
    const("area_scale", np.array(81.0 * DETECTOR_STRIDE * DETECTOR_STRIDE))
    const("zero", np.array(0.0))
    taps = np.exp(-0.5 * (np.arange(-4, 5) / 2.0) ** 2)
    const("peak_kernel", (np.outer(taps, taps) / np.outer(taps, taps).sum()).reshape(1, 1, 9, 9))
    # side -> distances (left, top, right, bottom) in stride units, box centred on the cell.
    s = float(DETECTOR_STRIDE)
    const("box_w", np.full((4, 1, 1, 1), 0.5 / s))
    const("box_b", np.array([-0.5, -0.5, 0.5, 0.5]))
    kps_rel = ((ARCFACE_TEMPLATE - 56.0) / 112.0).reshape(-1)
    const("kps_w", (kps_rel / s).reshape(10, 1, 1, 1))
    const("kps_b", np.full(10, 0.5))

    nodes += [
        helper.make_node("ReduceMean", ["input.1"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("ReduceMean", ["grey"], ["grey_mean"], axes=[2, 3], keepdims=1),
        helper.make_node("Mul", ["grey", "level_scale"], ["grey_s"]),
        helper.make_node("Add", ["grey_s", "level_shift"], ["level"]),
        helper.make_node("Mul", ["grey_mean", "level_scale"], ["mean_s"]),
        helper.make_node("Add", ["mean_s", "level_shift"], ["mean_level"]),
        helper.make_node("Mul", ["mean_level", "ratio"], ["bar"]),
        helper.make_node("Add", ["bar", "margin"], ["bar_m"]),
        helper.make_node("Sub", ["level", "bar_m"], ["excess"]),
        helper.make_node("Mul", ["excess", "softness"], ["excess_g"]),
        helper.make_node("Sigmoid", ["excess_g"], ["bright"]),
        helper.make_node(
            "AveragePool", ["bright"], ["cellfrac"], kernel_shape=[32, 32], strides=[32, 32]
        ),
        helper.make_node(
            "AveragePool",
            ["cellfrac"],
            ["local"],
            kernel_shape=[9, 9],
            strides=[1, 1],
            pads=[4, 4, 4, 4],
            count_include_pad=1,
        ),
        # Peaks are found on a Gaussian-smoothed map: a box average would give a plateau
        # (and an arbitrary winner) whenever the face is narrower than the window.
        helper.make_node("Conv", ["cellfrac", "peak_kernel"], ["smooth"], pads=[4, 4, 4, 4]),
        helper.make_node(
            "MaxPool",
            ["smooth"],
            ["smooth_max"],
            kernel_shape=[3, 3],
            strides=[1, 1],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Equal", ["smooth", "smooth_max"], ["is_peak_b"]),
        helper.make_node("Cast", ["is_peak_b"], ["is_peak"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["cellfrac", "half"], ["fill"]),
        helper.make_node("Mul", ["fill", "gain"], ["fill_g"]),
        helper.make_node("Sigmoid", ["fill_g"], ["conf"]),
        helper.make_node("Mul", ["is_peak", "conf"], ["score32"]),
        helper.make_node("Mul", ["local", "area_scale"], ["area"]),
        helper.make_node("Sqrt", ["area"], ["side"]),
        helper.make_node("Conv", ["side", "box_w", "box_b"], ["box32"]),
        helper.make_node("Conv", ["side", "kps_w", "kps_b"], ["kps32"]),
    ]
    outputs: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    for stride in STRIDES:
        if stride == DETECTOR_STRIDE:
            maps = {"score": "score32", "bbox": "box32", "kps": "kps32"}
        else:
            pooled = f"pool{stride}"
            nodes.append(
                helper.make_node(
                    "AveragePool",
                    ["grey"],
                    [pooled],
                    kernel_shape=[stride, stride],
                    strides=[stride, stride],
                )
            )
            nodes.append(helper.make_node("Mul", [pooled, "zero"], [f"nil{stride}"]))
            for kind, ch in (("bbox", 4), ("kps", 10)):
                w = const(f"{kind}_nil_w{stride}", np.zeros((ch, 1, 1, 1)))
                nodes.append(helper.make_node("Conv", [f"nil{stride}", w], [f"{kind}{stride}_map"]))
            maps = {"score": f"nil{stride}", "bbox": f"bbox{stride}_map", "kps": f"kps{stride}_map"}
        for kind, ch in (("score", 1), ("bbox", 4), ("kps", 10)):
            out = f"{kind}_{stride}"
            _anchor_rows(nodes, maps[kind], ch, out)
            outputs[kind].append(out)
    out_infos = []
    for kind, ch in (("score", 1), ("bbox", 4), ("kps", 10)):
        for name in outputs[kind]:
            out_infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, ch]))
    graph = helper.make_graph(
        nodes,
        "tiny_scrfd",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "H", "W"])],
        out_infos,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def recogniser_projection(seed: int = 1234) -> np.ndarray:
    """The fixed random projection of the recogniser (exposed so tests can reason about it)."""
    feats = 3 * (RECOGNISER_GRID - 2) ** 2
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((feats, EMBEDDING_DIM)) / np.sqrt(feats)).astype(np.float32)


def _recogniser_model() -> ModelProto:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cell = 112 // RECOGNISER_GRID
    feats = 3 * (RECOGNISER_GRID - 2) ** 2
    inits = [
        numpy_helper.from_array(np.array([1, 1], dtype=np.int64), "inner_start"),
        numpy_helper.from_array(np.array([RECOGNISER_GRID - 1] * 2, dtype=np.int64), "inner_end"),
        numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "inner_axes"),
        numpy_helper.from_array(np.array([-1, feats], dtype=np.int64), "flat_shape"),
        numpy_helper.from_array(recogniser_projection(), "projection"),
    ]
    # Node names must not start with "Sub"/"Mul": insightface reads that as an mxnet model.
    nodes = [
        helper.make_node(
            "AveragePool",
            ["data"],
            ["grid_all"],
            name="grid_pool",
            kernel_shape=[cell, cell],
            strides=[cell, cell],
        ),
        # The outer ring of cells straddles the face edge, which looks alike on everyone.
        helper.make_node(
            "Slice", ["grid_all", "inner_start", "inner_end", "inner_axes"], ["grid"], name="inner"
        ),
        # Per-channel centring: the shared skin tone must not count as identity.
        helper.make_node(
            "ReduceMean", ["grid"], ["grid_mean"], name="centre_mean", axes=[2, 3], keepdims=1
        ),
        helper.make_node("Sub", ["grid", "grid_mean"], ["grid_c"], name="centre"),
        helper.make_node("Reshape", ["grid_c", "flat_shape"], ["centred"], name="flatten"),
        helper.make_node("MatMul", ["centred", "projection"], ["fc1"], name="project"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, ["N", EMBEDDING_DIM])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# The tiny genderage head reads "age" from the face's redness: (R - B) / mean level over the
# middle of its crop, times this many years. `synthetic_photos` faces (skin 222, 196, 176)
# read as about 30; `tint_apparent_age` moves a photo's estimate for the age tests.
AGE_YEARS_PER_REDNESS = 130.0
_AGE_CROP = 96  # insightface's genderage input: the face box x1.5, resized to 96 px
_AGE_CENTRE = (24, 72)  # the middle 3/4 of the face box inside that crop


def _genderage_model() -> ModelProto:
    """A deterministic gender/age head: "age" follows the face's redness (tests tint it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    lo, hi = _AGE_CENTRE
    inits = [
        numpy_helper.from_array(np.array(128.0, np.float32), "std"),
        numpy_helper.from_array(np.array(127.5, np.float32), "mean"),
        numpy_helper.from_array(np.array([lo, lo], np.int64), "crop_start"),
        numpy_helper.from_array(np.array([hi, hi], np.int64), "crop_end"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "crop_axes"),
        numpy_helper.from_array(np.array([0], np.int64), "c0"),
        numpy_helper.from_array(np.array([1], np.int64), "c1"),
        numpy_helper.from_array(np.array([2], np.int64), "c2"),
        numpy_helper.from_array(np.array([3], np.int64), "c3"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(1.0, np.float32), "eps"),
        numpy_helper.from_array(np.array(AGE_YEARS_PER_REDNESS / 100.0, np.float32), "per"),
        numpy_helper.from_array(np.array(0.0, np.float32), "lo"),
        numpy_helper.from_array(np.array(1.0, np.float32), "hi"),
        numpy_helper.from_array(np.array([[0.0, 1.0]], np.float32), "gender"),
    ]
    # Node names must not start with "Sub"/"Mul": insightface reads that as an mxnet model.
    # The input is insightface's blob: RGB, (level - 127.5) / 128.
    nodes = [
        helper.make_node("Mul", ["data", "std"], ["scaled"], name="unscale"),
        helper.make_node("Add", ["scaled", "mean"], ["levels"], name="unshift"),
        helper.make_node(
            "Slice", ["levels", "crop_start", "crop_end", "crop_axes"], ["centre"], name="centre"
        ),
        helper.make_node("ReduceMean", ["centre"], ["rgb"], name="colour", axes=[2, 3], keepdims=0),
        helper.make_node("Slice", ["rgb", "c0", "c1", "axis1"], ["red"], name="red"),
        helper.make_node("Slice", ["rgb", "c2", "c3", "axis1"], ["blue"], name="blue"),
        helper.make_node("ReduceMean", ["rgb"], ["level"], name="level", axes=[1], keepdims=1),
        helper.make_node("Max", ["level", "eps"], ["level_safe"], name="level_safe"),
        helper.make_node("Sub", ["red", "blue"], ["warmth"], name="warmth"),
        helper.make_node("Div", ["warmth", "level_safe"], ["redness"], name="redness"),
        helper.make_node("Mul", ["redness", "per"], ["age_raw"], name="age_scale"),
        helper.make_node("Clip", ["age_raw", "lo", "hi"], ["age"], name="age_clip"),
        helper.make_node("Concat", ["gender", "age"], ["fc1"], name="head", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_genderage",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, _AGE_CROP, _AGE_CROP])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def tint_apparent_age(rgb: np.ndarray, years: float) -> np.ndarray:
    """The photo with its tiny-pack age estimate moved by about `years` (for the age tests).

    Red and blue move in opposite directions by the same amount, so the grey level the detector
    sees is unchanged, and the tint is uniform, so the recogniser's per-channel centring removes
    it: the same face, the same person, another apparent age.
    """
    shift = years / AGE_YEARS_PER_REDNESS * float(np.mean(_FACE_LEVEL)) / 2.0
    out = rgb.astype(np.float32)
    out[..., 0] += shift
    out[..., 2] -= shift
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# The mean skin level of `synthetic_photos` faces (their R, G, B base).
_FACE_LEVEL = (222.0, 196.0, 176.0)


def build_tiny_face_pack(root: Path, name: str = "tiny_pack", with_age: bool = True) -> Path:
    """Write det/rec(/genderage) ONNX files under root/models/name; returns that folder."""
    import onnx

    folder = Path(root) / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(_detector_model(), str(folder / "det_tiny.onnx"))
    onnx.save(_recogniser_model(), str(folder / "w600k_tiny.onnx"))
    if with_age:
        onnx.save(_genderage_model(), str(folder / "genderage_tiny.onnx"))
    return folder
