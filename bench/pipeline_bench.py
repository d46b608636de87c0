"""Pipeline benchmark: seconds per stage and images/s.

    python bench/pipeline_bench.py                       # CPU, tiny models, < 1 min
    python bench/pipeline_bench.py --device cuda --full-size \
        --steps 4 8 30 --sizes 1024x1024 896x1152 --images 8 --batch 4 [--compile]

The GPU mode builds the full-size SDXL + FaceID architecture with random weights (real
FLOPs, no hub) and times every combination of size x steps x CFG on/off x adapter on/off,
then an order of 20 portraits with review at the few-step setting.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Any, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def run_tiny(images: int) -> None:
    """Every stage of make_portraits on CPU with tiny models and synthetic photos."""
    import torch

    from pipeline.decode import decode_image
    from pipeline.faces import FaceAnalyzer
    from pipeline.generator import PortraitGenerator, tiny_generator_config
    from pipeline.portraits import PortraitConfig, PortraitModels, make_portraits
    from pipeline.review import ReviewConfig
    from pipeline.testing.synthetic_photos import synthetic_face_photo
    from pipeline.testing.tiny_models import build_tiny_models

    root = Path(tempfile.mkdtemp(prefix="bench_tiny_"))
    rows: list[tuple[str, float]] = []
    t = time.perf_counter()
    paths = build_tiny_models(root)
    rows.append(("build tiny models", time.perf_counter() - t))
    t = time.perf_counter()
    analyzer = FaceAnalyzer("tiny_pack", paths["face_root"], providers=["CPUExecutionProvider"])
    generator = PortraitGenerator.load(
        tiny_generator_config(root, width=128, height=160), "cpu", torch.float32
    )
    rows.append(("load models", time.perf_counter() - t))
    t = time.perf_counter()
    head = decode_image(synthetic_face_photo(1, 0, (640, 640)))
    selfies = [decode_image(synthetic_face_photo(1, v, (640, 640))) for v in range(1, 21)]
    rows.append(("draw + decode 21 synthetic photos (640 px)", time.perf_counter() - t))
    config = PortraitConfig(review=ReviewConfig.permissive(), shots=images)
    models = PortraitModels(analyzer, generator)
    make_portraits(
        head,
        selfies,
        "business",
        "warmup",
        models,
        PortraitConfig(review=ReviewConfig.permissive(), shots=1),
    )
    t = time.perf_counter()
    result = make_portraits(head, selfies, "business", "bench", models, config)
    total = time.perf_counter() - t
    seconds = result.report["seconds"]
    assert isinstance(seconds, dict)
    for stage, value in seconds.items():
        rows.append((f"order: {stage}", float(value)))
    rows.append((f"order total ({images} images 128x160, {generator.config.steps} steps)", total))
    print("CPU, tiny random models")
    print(f"{'stage':<58}{'seconds':>10}")
    for name, value in rows:
        print(f"{name:<58}{value:>10.3f}")
    gen_s = float(seconds["generate"])
    print(f"{'images/s (generation only)':<58}{images / gen_s:>10.2f}")
    print(f"{'images/s (whole order)':<58}{images / total:>10.2f}")


def _embeds(n: int, cfg: bool, device: str, dtype: Any) -> list[Any]:
    import torch

    pos = torch.randn(n, 1, 1, 512)
    pos = pos / pos.norm(dim=-1, keepdim=True)
    if cfg:
        pos = torch.cat([torch.zeros_like(pos), pos])
    return [pos.to(device, dtype)]


def run_full_size(args: argparse.Namespace) -> None:
    """Random-weight full-size SDXL + FaceID on the chosen device."""
    import torch

    from pipeline.generator import GeneratorConfig, PortraitGenerator

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    t = time.perf_counter()
    gen = PortraitGenerator.random_full_size(
        GeneratorConfig(
            base_model="random", adapter_dir="", compile=args.compile, scheduler="euler_trailing"
        ),
        device=args.device,
        dtype=dtype,
    )
    print(f"build random full-size SDXL + FaceID: {time.perf_counter() - t:.1f} s")
    pipe = gen.pipe
    results: list[tuple[str, int, bool, bool, float]] = []
    for adapter in (True, False):
        if not adapter:
            pipe.unload_ip_adapter()
        for size in args.sizes:
            w, h = (int(v) for v in size.split("x"))
            for steps in args.steps:
                for cfg in (True, False):
                    guidance = 5.0 if cfg else 1.0
                    n = args.images

                    def call(
                        count: int,
                        w: int = w,
                        h: int = h,
                        steps: int = steps,
                        cfg: bool = cfg,
                        guidance: float = guidance,
                        adapter: bool = adapter,
                    ) -> None:
                        for start in range(0, count, args.batch):
                            b = min(args.batch, count - start)
                            extra = (
                                {"ip_adapter_image_embeds": _embeds(b, cfg, args.device, dtype)}
                                if adapter
                                else {}
                            )
                            with torch.inference_mode():
                                pipe(
                                    prompt=["portrait photo of a person"] * b,
                                    negative_prompt=["blurry"] * b if cfg else None,
                                    num_inference_steps=steps,
                                    guidance_scale=guidance,
                                    width=w,
                                    height=h,
                                    output_type="pil",
                                    **extra,
                                )

                    call(min(args.batch, n))  # warm-up (and compilation)
                    secs = _timed(lambda call=call, n=n: call(n), args.device)
                    results.append((size, steps, cfg, adapter, secs / n))
                    print(
                        f"{size:>10} steps={steps:<3} cfg={'on ' if cfg else 'off'} "
                        f"adapter={'on ' if adapter else 'off'} {secs / n:7.3f} s/image "
                        f"{n / secs:6.2f} images/s",
                        flush=True,
                    )
    print("\n| size | steps | CFG | adapter | s/image | images/s |")
    print("|---|---|---|---|---|---|")
    for size, steps, cfg, adapter, per in results:
        print(
            f"| {size} | {steps} | {'on' if cfg else 'off'} | {'on' if adapter else 'off'} "
            f"| {per:.3f} | {1 / per:.2f} |"
        )
    _order_estimate(args, results)


def _order_estimate(
    args: argparse.Namespace, results: list[tuple[str, int, bool, bool, float]]
) -> None:
    """20 portraits at the fewest steps, CFG off, adapter on, 896x1152, plus review cost."""
    from pipeline.faces import FaceAnalyzer
    from pipeline.testing.tiny_face_pack import build_tiny_face_pack

    few = min(args.steps)
    per = [p for s, st, cfg, ad, p in results if s == "896x1152" and st == few and not cfg and ad]
    if not per:
        return
    root = Path(tempfile.mkdtemp(prefix="bench_faces_"))
    build_tiny_face_pack(root, "tiny_pack")
    analyzer = FaceAnalyzer("tiny_pack", root)
    rgb = np.zeros((1152, 896, 3), np.uint8)
    review = _timed(lambda: [analyzer.analyze(rgb) for _ in range(20)], "cpu")
    print(
        f"\norder of 20 at 896x1152, {few} steps, CFG off: generation {20 * per[0]:.1f} s + "
        f"review {review:.2f} s (tiny face pack; buffalo_l on GPU adds ~0.02 s/image)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--steps", type=int, nargs="+", default=[4, 8, 30])
    parser.add_argument("--sizes", nargs="+", default=["1024x1024", "896x1152"])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default="fp16")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    if args.full_size:
        run_full_size(args)
    else:
        run_tiny(images=args.images)


if __name__ == "__main__":
    main()
