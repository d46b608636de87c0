"""CLI: python -m pipeline generate --headshot H --selfies DIR --pack P --out DIR.

Also `python -m pipeline weights list|fetch|verify --stack S [--dest DIR]` (weights_cli.py).

Model locations come from options, or from the service's own settings names in the environment
(SDXL_DIR, IP_ADAPTER_DIR, FACE_DIR, ...). `--tiny DIR` builds tiny random models there
instead (demo).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.styles import STYLE_PACKS

if TYPE_CHECKING:
    import numpy as np

    from pipeline.portraits import PortraitConfig, PortraitModels

logger = logging.getLogger(__name__)
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="portraits from a headshot and a folder of selfies")
    gen.add_argument("--headshot", type=Path, required=True)
    gen.add_argument("--selfies", type=Path, required=True)
    gen.add_argument("--pack", choices=sorted(STYLE_PACKS), required=True)
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--order-id", default="cli", help="seeds derive from it")
    gen.add_argument("--shots", type=int, default=None)
    gen.add_argument(
        "--tiny",
        type=Path,
        default=None,
        help="build tiny random models in this folder and use them (demo)",
    )
    env = os.environ.get
    gen.add_argument("--base-model", default=env("SDXL_DIR"))
    gen.add_argument("--adapter-dir", default=env("IP_ADAPTER_DIR"))
    gen.add_argument(
        "--adapter-weight", default=env("IP_ADAPTER_WEIGHT", "ip-adapter-faceid_sdxl.bin")
    )
    gen.add_argument(
        "--image-encoder",
        default=env("IMAGE_ENCODER_DIR"),
        help="CLIP ViT-H folder: switches to FaceID-Plus-v2",
    )
    gen.add_argument("--lora", default=env("LORA_DIR"))
    gen.add_argument("--lora-weight", default=env("LORA_WEIGHT"))
    gen.add_argument("--scheduler", default="default")
    gen.add_argument("--steps", type=int, default=None)
    gen.add_argument("--guidance", type=float, default=None)
    gen.add_argument("--face-root", type=Path, default=env("FACE_DIR"))
    gen.add_argument("--face-pack", default=env("FACE_PACK", "buffalo_l"))
    gen.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    from pipeline import weights_cli

    weights_cli.add_parser(sub)
    return parser


def _read_photos(args: argparse.Namespace) -> tuple[np.ndarray, list[np.ndarray]]:
    from pipeline.decode import ImageRejected, decode_image

    headshot = decode_image(args.headshot.read_bytes())
    selfies = []
    for path in sorted(args.selfies.iterdir()):
        if path.suffix.lower() not in _IMAGE_SUFFIXES:
            continue
        try:
            selfies.append(decode_image(path.read_bytes()))
        except ImageRejected as exc:
            logger.warning("skipping %s: %s", path.name, exc.reason)
    return headshot, selfies


def _models(args: argparse.Namespace) -> tuple[PortraitModels, PortraitConfig]:
    import torch

    from pipeline.faces import FaceAnalyzer
    from pipeline.generator import GeneratorConfig, PortraitGenerator, tiny_generator_config
    from pipeline.portraits import PortraitConfig, PortraitModels
    from pipeline.review import ReviewConfig

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    config = PortraitConfig(shots=args.shots)
    if args.tiny:
        from pipeline.testing.tiny_models import build_tiny_models

        paths = build_tiny_models(args.tiny)
        gen_cfg = tiny_generator_config(args.tiny)
        analyzer = FaceAnalyzer("tiny_pack", paths["face_root"])
        # Random weights never draw a face: accept every output (see ReviewConfig.permissive).
        config = replace(config, review=ReviewConfig.permissive())
    else:
        if not (args.base_model and args.adapter_dir and args.face_root):
            raise SystemExit("set --base-model, --adapter-dir and --face-root (or --tiny DIR)")
        gen_cfg = GeneratorConfig(
            base_model=args.base_model,
            adapter_dir=args.adapter_dir,
            adapter_weight_name=args.adapter_weight,
            plus_v2=bool(args.image_encoder),
            image_encoder_path=args.image_encoder,
            lora_path=args.lora,
            lora_weight_name=args.lora_weight,
            scheduler=args.scheduler,
        )
        analyzer = FaceAnalyzer(args.face_pack, args.face_root)
    overrides = {
        k: v for k, v in (("steps", args.steps), ("guidance", args.guidance)) if v is not None
    }
    gen_cfg = replace(gen_cfg, **overrides)
    generator = PortraitGenerator.load(gen_cfg, device=device, dtype=dtype)
    return PortraitModels(analyzer=analyzer, generator=generator), config


def generate(args: argparse.Namespace) -> int:
    from pipeline.identity import InconsistentIdentity
    from pipeline.portraits import NoAcceptablePortraits, NoUsablePhotos, make_portraits

    headshot, selfies = _read_photos(args)
    models, config = _models(args)

    def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} portraits", end="", file=sys.stderr, flush=True)

    try:
        result = make_portraits(
            headshot,
            selfies,
            args.pack,
            args.order_id,
            models,
            config,
            progress,
        )
    except (NoUsablePhotos, InconsistentIdentity, NoAcceptablePortraits) as exc:
        print(f"\nrefused: {exc}", file=sys.stderr)
        return 2
    print(file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    for image in result.images:
        stem = f"{args.pack}_{image.shot_index:02d}"
        (args.out / f"{stem}.png").write_bytes(image.png)
        (args.out / f"{stem}.jpg").write_bytes(image.jpeg)
    (args.out / "report.json").write_text(
        json.dumps(result.report, indent=2, ensure_ascii=False), encoding="utf-8"
    )
    print(f"{len(result.images)} portraits and report.json written to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "generate":
        return generate(args)
    if args.command == "weights":
        from pipeline import weights_cli

        return weights_cli.run(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())
