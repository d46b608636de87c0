"""Pipeline benchmark per model stack: s/image, s per order (with review), peak memory, variants.

    python bench/pipeline_bench.py --stack commercial            # CPU, tiny random models, ~20 s
    python bench/pipeline_bench.py --stack research              # CPU, tiny random models, ~20 s
    python bench/pipeline_bench.py --stack all --device cuda --full-size   # GPU readiness, ~10 min

Tiny mode loads the stack's tiny random folder through the real `from_pretrained` path. Full-size
mode builds the stack's real architecture with random weights on the device (SDXL + FaceID for
`research`; FLUX.2 [klein] 4B with Qwen3-4B for `commercial`): images are noise, FLOPs and memory
are real. For each stack and variant (eager, channels_last, torch.compile) it prints s/image at
`--steps` (4) and `--size` (896x1152), then one order of `--order` (20) portraits at the best
variant: generation, review by the stack's own face backend (on CPU), labelling and C2PA signing.
Targets (issue 12): <= 0.5 s/image and <= 30 s of GPU time per order on an H100/H200.

    python bench/pipeline_bench.py --gpu-settings                 # CPU, tiny SDXL, ~30 s
    python bench/pipeline_bench.py --gpu-settings --device cuda --full-size --dtype fp16

`--gpu-settings` compares, on the research stack, the old defaults (RENDER_STEPS=30, CFG 5.0,
the model's scheduler) with a few-step LoRA's (LORA_STEPS=4: no CFG, trailing Euler): UNet
passes per image (counted by a hook on the real UNet: batch rows per call) and seconds per image,
with their ratios. Random weights: the LoRA itself changes no cost, so it is left out.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STACKS = ("research", "commercial")
VARIANTS = ("eager", "channels_last", "compile")


@dataclass
class Row:
    stack: str
    variant: str
    per_image: float
    peak_gib: float | None


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return None


def _timed(fn: Any, device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _generator(stack: str, args: argparse.Namespace, dtype: Any, few_step: bool = True) -> Any:
    """The stack's generator: tiny random folder via from_pretrained, or full-size random."""
    from pipeline.generators import generator_class

    width, height = (int(v) for v in args.size.split("x"))
    cls = generator_class(stack)
    if stack == "research":
        from pipeline.generators.sdxl_faceid import GeneratorConfig, tiny_generator_config

        if args.full_size:
            config: Any = GeneratorConfig(base_model="random", adapter_dir="")
        else:
            root = Path(tempfile.mkdtemp(prefix="bench_sdxl_"))
            from pipeline.testing.tiny_models import build_tiny_faceid_adapter, build_tiny_sdxl

            build_tiny_sdxl(root / "sdxl")
            build_tiny_faceid_adapter(root / "faceid", unet_folder=root / "sdxl" / "unet")
            config = tiny_generator_config(root)
        if few_step:  # the few-step recipe (SDXL-Lightning/Hyper-SD style): trailing Euler, no CFG
            config = replace(config, scheduler="euler_trailing", guidance=1.0)
    else:
        from pipeline.generators.flux2_klein import Flux2KleinConfig, tiny_flux2_config

        if args.full_size:
            config = Flux2KleinConfig(model="random", references=args.references)
        else:
            root = Path(tempfile.mkdtemp(prefix="bench_flux2_"))
            from pipeline.testing.tiny_flux2 import build_tiny_flux2_klein

            build_tiny_flux2_klein(root / "flux2_klein")
            config = tiny_flux2_config(root)
    config = replace(config, steps=args.steps, width=width, height=height, batch_size=args.batch)
    if args.full_size:
        return cls.random_full_size(config, device=args.device, dtype=dtype)
    return cls.load(config, device=args.device, dtype=dtype)


def _denoiser_name(generator: Any) -> str:
    return "unet" if hasattr(generator.pipe, "unet") else "transformer"


def _set_variant(generator: Any, variant: str) -> None:
    """eager: contiguous; channels_last: NHWC conv weights; compile: that + torch.compile."""
    import torch

    pipe = generator.pipe
    fmt = torch.contiguous_format if variant == "eager" else torch.channels_last
    for part in ("unet", "vae"):  # the convolutional parts (FLUX's transformer has none)
        if hasattr(pipe, part):
            getattr(pipe, part).to(memory_format=fmt)
    name = _denoiser_name(generator)
    if not hasattr(generator, "_eager_denoiser"):
        generator._eager_denoiser = getattr(pipe, name)
    if variant == "compile":
        # Inductor's default mode: max-autotune would spend minutes per shape tuning kernels.
        setattr(pipe, name, torch.compile(generator._eager_denoiser))
    else:
        setattr(pipe, name, generator._eager_denoiser)


def _inputs(stack: str, backend: Any) -> tuple[Any, list[np.ndarray]]:
    """A profile in the backend's space and reference images (the commercial stack's input)."""
    from pipeline.identity import build_profile
    from pipeline.testing.synthetic_photos import synthetic_face_rgb

    rng = np.random.default_rng(0)
    space = backend.space
    centre = rng.normal(size=space.dim).astype(np.float32)
    centre /= np.linalg.norm(centre)
    rows = centre + 0.01 * rng.normal(size=(4, space.dim)).astype(np.float32)
    references = [synthetic_face_rgb(1, v, (640, 640)) for v in range(4)]
    return build_profile(rows, space=space), references


def _face_backend(stack: str) -> Any:
    """The stack's reviewer on CPU: dlib's real models (commercial) or the tiny insightface pack."""
    if stack == "commercial":
        from pipeline.face_backends.dlib import DlibBackend

        return DlibBackend()
    from pipeline.faces import FaceAnalyzer
    from pipeline.testing.tiny_face_pack import build_tiny_face_pack

    root = Path(tempfile.mkdtemp(prefix="bench_faces_"))
    build_tiny_face_pack(root, "tiny_pack")
    return FaceAnalyzer("tiny_pack", root, providers=["CPUExecutionProvider"])


def _signer() -> Any:
    from pipeline.provenance import C2paCredentials, ProvenanceSigner
    from pipeline.testing.c2pa_certs import make_test_chain

    chain = make_test_chain()
    credentials = C2paCredentials(chain.cert_chain_pem, chain.private_key_pem)
    return ProvenanceSigner(credentials, "Portrait Studio")


def bench_stack(stack: str, args: argparse.Namespace) -> tuple[list[Row], dict[str, float], str]:
    import torch

    from pipeline.portraits import PortraitConfig, PortraitPipeline
    from pipeline.review import Candidate, ReviewConfig
    from pipeline.styles import STYLE_PACKS, seeds_for

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    if not args.full_size:
        dtype = torch.float32
    t = time.perf_counter()
    generator = _generator(stack, args, dtype)
    build_s = time.perf_counter() - t
    params = sum(p.numel() for p in getattr(generator.pipe, _denoiser_name(generator)).parameters())
    print(f"[{stack}] built in {build_s:.1f} s; denoiser {params / 1e6:,.1f} M params", flush=True)
    backend = _face_backend(stack)
    profile, references = _inputs(stack, backend)
    pack = STYLE_PACKS["business"]
    rows: list[Row] = []
    for variant in args.variants:
        _set_variant(generator, variant)
        n = args.images
        shots, seeds = list(pack.shots[:n]), list(range(n))

        def call(count: int, shots: list[Any] = shots, seeds: list[int] = seeds) -> None:
            generator.generate(profile, pack, shots[:count], seeds[:count], references=references)

        call(min(args.batch, n))  # warm-up (and compilation)
        _peak_reset(args.device)
        seconds = _timed(lambda call=call, n=n: call(n), args.device)
        rows.append(Row(stack, variant, seconds / n, _peak_gib(args.device)))
        print(f"[{stack}] {variant:<14}{seconds / n:8.3f} s/image", flush=True)
    best = min(rows, key=lambda r: r.per_image)
    _set_variant(generator, best.variant)
    config = PortraitConfig(review=ReviewConfig.permissive(), shots=args.order)
    pipeline = PortraitPipeline(backend, generator, config, signer=_signer())
    shots = list(pack.shots[: args.order])
    seeds = seeds_for("bench", args.order)
    order: dict[str, float] = {}
    _peak_reset(args.device)
    t = time.perf_counter()
    images = pipeline.generate(profile, references, pack, shots, seeds)
    _sync(args.device)
    order["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    scores = pipeline.review(images, profile)
    order["review"] = time.perf_counter() - t
    t = time.perf_counter()
    for i, (image, score) in enumerate(zip(images, scores, strict=True)):
        pipeline.label("bench", i, Candidate(image, score, seeds[i]), shots[i])
    order["label + sign"] = time.perf_counter() - t
    order["peak_gib"] = _peak_gib(args.device) or math.nan
    return rows, order, best.variant


def _unet_passes_and_seconds(
    generator: Any, config: Any, count: int, device: str
) -> tuple[float, float]:
    """UNet passes (batch rows over all calls) and seconds, per image, at `config`."""
    from pipeline.generators.sdxl_faceid import _set_scheduler
    from pipeline.styles import STYLE_PACKS
    from pipeline.warmup import warm_up_profile

    generator.config = config
    generator.pipe.scheduler = generator._stock_scheduler
    _set_scheduler(generator.pipe, config.scheduler)
    pack, profile = STYLE_PACKS["business"], warm_up_profile()
    shots, seeds = [pack.shots[i % len(pack.shots)] for i in range(count)], list(range(count))
    generator.generate(profile, pack, shots[: config.batch_size], seeds[: config.batch_size])
    rows: list[int] = []
    hook = generator.pipe.unet.register_forward_pre_hook(
        lambda _m, args, kwargs: rows.append(int((args[0] if args else kwargs["sample"]).shape[0])),
        with_kwargs=True,
    )
    try:
        seconds = _timed(lambda: generator.generate(profile, pack, shots, seeds), device)
    finally:
        hook.remove()
    return sum(rows) / count, seconds / count


def bench_gpu_settings(args: argparse.Namespace) -> None:
    """Old defaults against a few-step LoRA's: UNet passes and seconds per image, and ratios."""
    import torch

    from pipeline.generators.sdxl_faceid import few_step_config

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    generator = _generator(
        "research", args, dtype if args.full_size else torch.float32, few_step=False
    )
    generator._stock_scheduler = generator.pipe.scheduler  # the model's own
    base = generator.config
    before = replace(base, scheduler="default", steps=args.before_steps, guidance=5.0)
    after = few_step_config(base, args.steps)
    results = {}
    for name, config in (("before", before), ("after", after)):
        results[name] = _unet_passes_and_seconds(generator, config, args.images, args.device)
    kind = "full-size random" if args.full_size else "tiny random"
    print(f"\n{args.device}, {kind} SDXL, {args.size}, batch {args.batch}, {args.images} images")
    print("\n| setup | steps | CFG | scheduler | UNet passes / image | s / image |")
    print("|---|---|---|---|---|---|")
    for name, config in (("before", before), ("after", after)):
        passes, seconds = results[name]
        cfg = "on" if config.guidance > 1.0 else "off"
        print(
            f"| {name} | {config.steps} | {cfg} | {config.scheduler} | {passes:.0f} "
            f"| {seconds:.3f} |"
        )
    (p0, s0), (p1, s1) = results["before"], results["after"]
    print(f"\nratio before/after: UNet passes {p0 / p1:.1f}x, seconds {s0 / s1:.1f}x")


def _gib(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", choices=[*STACKS, "all"], default="commercial")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-size", action="store_true")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", default=None, help="WxH; default 896x1152 (tiny: 64x80)")
    parser.add_argument("--images", type=int, default=8, help="images timed per variant")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--order", type=int, default=20, help="portraits in the order run")
    parser.add_argument("--references", type=int, default=4, help="commercial: reference images")
    parser.add_argument("--dtype", choices=["fp16", "bf16", "fp32"], default="bf16")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=None)
    parser.add_argument(
        "--gpu-settings",
        action="store_true",
        help="research stack: old defaults vs a few-step LoRA's (UNet passes, s/image)",
    )
    parser.add_argument("--before-steps", type=int, default=30, help="--gpu-settings: old steps")
    args = parser.parse_args()
    args.size = args.size or ("896x1152" if args.full_size else "64x80")
    if args.gpu_settings:
        bench_gpu_settings(args)
        return
    if args.variants is None:  # compiling on CPU takes minutes and says nothing about a GPU
        args.variants = list(VARIANTS if args.device.startswith("cuda") else VARIANTS[:2])
    stacks = STACKS if args.stack == "all" else (args.stack,)
    results = [(stack, *bench_stack(stack, args)) for stack in stacks]
    kind = "full-size random" if args.full_size else "tiny random"
    print(f"\n{args.device}, {kind} weights, {args.size}, {args.steps} steps, batch {args.batch}")
    print("\n| stack | variant | s/image | peak GPU GiB |")
    print("|---|---|---|---|")
    for _, rows, _, _ in results:
        for row in rows:
            peak = _gib(math.nan if row.peak_gib is None else row.peak_gib)
            print(f"| {row.stack} | {row.variant} | {row.per_image:.3f} | {peak} |")
    print(
        f"\n| stack (variant) | order of {args.order}: generate s | review s | label + sign s "
        "| total s | peak GPU GiB |"
    )
    print("|---|---|---|---|---|---|")
    for stack, _, order, variant in results:
        total = order["generate"] + order["review"] + order["label + sign"]
        print(
            f"| {stack} ({variant}) | {order['generate']:.2f} | {order['review']:.2f} | "
            f"{order['label + sign']:.2f} | {total:.2f} | {_gib(order['peak_gib'])} |"
        )


if __name__ == "__main__":
    main()
