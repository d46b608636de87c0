"""Tiny random-weight models saved in the real on-disk layouts, for tests, demos and benches.

They load through the same `from_pretrained` / `load_ip_adapter` / `FaceAnalysis` paths as
real weights; their outputs mean nothing, their shapes and plumbing are the real ones.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.testing.synthetic_photos import synthetic_face_photo, synthetic_face_rgb
from pipeline.testing.tiny_face_pack import build_tiny_face_pack

if TYPE_CHECKING:
    import torch

__all__ = [
    "build_tiny_face_pack",
    "build_tiny_faceid_adapter",
    "build_tiny_models",
    "build_tiny_sdxl",
    "synthetic_face_photo",
    "synthetic_face_rgb",
]

TEXT_HIDDEN = 32  # both tiny text encoders; UNet cross_attention_dim is their sum
CROSS_ATTENTION_DIM = 2 * TEXT_HIDDEN
ADAPTER_WEIGHT_NAME = "ip-adapter-faceid_tiny.safetensors"
ADAPTER_PLUS_WEIGHT_NAME = "ip-adapter-faceid-plusv2_tiny.safetensors"
IMAGE_ENCODER_SUBFOLDER = "image_encoder"
CLIP_HIDDEN = 32  # the tiny CLIP vision encoder's width (ViT-H/14 has 1280)


def _write_tokenizer(folder: Path) -> None:
    # Byte-level BPE: every byte is a token, so any prompt tokenises without a real vocabulary.
    # The byte -> printable character table is GPT-2's, as CLIP's tokenizer expects.
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    extra = iter(range(256, 512))
    chars = [chr(b) if b in printable else chr(next(extra)) for b in range(256)]
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    merges = ["t h", "th e</w>", "a n", "o n"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8"
    )


def build_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """A random SDXL pipeline folder (~6 MB) with the real component layout."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + TEXT_HIDDEN,
        cross_attention_dim=CROSS_ATTENTION_DIM,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 32, 32, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        sample_size=128,
        norm_num_groups=8,
    )
    with torch.no_grad():
        # Damp the decoder's last layer: random outputs become low-contrast grey, which the
        # tiny detector (bright patches) never mistakes for a face, as with a real SDXL
        # output that has no face in it.
        vae.decoder.conv_out.weight.mul_(0.1)
        vae.decoder.conv_out.bias.zero_()
    text_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=TEXT_HIDDEN,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=2,
        pad_token_id=1,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=TEXT_HIDDEN,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    _write_tokenizer(folder / "_tok")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "_tok", model_max_length=77)
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(text_config),
        tokenizer=tokenizer,
        text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(folder)
    shutil.rmtree(folder / "_tok")
    for sub in ("tokenizer", "tokenizer_2"):
        # transformers 5 needs the max length written down, or the pipeline overflows.
        cfg = folder / sub / "tokenizer_config.json"
        data = json.loads(cfg.read_text(encoding="utf-8"))
        data["model_max_length"] = 77
        cfg.write_text(json.dumps(data), encoding="utf-8")
    return folder


def build_tiny_faceid_adapter(
    folder: Path, unet_folder: Path | None = None, plus: bool = False, seed: int = 0
) -> Path:
    """A random IP-Adapter FaceID state dict matching the tiny SDXL UNet.

    Keys follow the released checkpoints: `image_proj.*` (4 tokens from a 512-d ArcFace
    embedding) and `ip_adapter.{k}.to_k_ip/to_v_ip` for k = 1, 3, 5... in attention-processor
    order. `plus=True` writes the FaceID-Plus-v2 layout instead (a 4-layer perceiver
    resampler over CLIP face-crop features, ADAPTER_PLUS_WEIGHT_NAME) plus a tiny CLIP
    vision encoder in `folder/IMAGE_ENCODER_SUBFOLDER`, saved with save_pretrained.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    mult, tokens, cad = 2, 4, CROSS_ATTENTION_DIM

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * 0.2

    state: dict[str, torch.Tensor] = {
        "image_proj.proj.0.weight": rand(512 * mult, 512),
        "image_proj.proj.0.bias": torch.zeros(512 * mult),
        "image_proj.proj.2.weight": rand(cad * tokens, 512 * mult),
        "image_proj.proj.2.bias": torch.zeros(cad * tokens),
        "image_proj.norm.weight": torch.ones(cad),
        "image_proj.norm.bias": torch.zeros(cad),
    }
    if plus:
        state.update(_perceiver_resampler_state(rand, cad))
        _build_tiny_clip_vision(folder / IMAGE_ENCODER_SUBFOLDER, seed)
    # Cross-attention widths in processor order for the tiny UNet (down 64, up 64); the
    # self-attention processors take the even key ids, as in the released files.
    widths = _cross_attention_widths(unet_folder)
    for i, width in enumerate(widths):
        k = 2 * i + 1
        state[f"ip_adapter.{k}.to_k_ip.weight"] = rand(width, cad)
        state[f"ip_adapter.{k}.to_v_ip.weight"] = rand(width, cad)
    name = ADAPTER_PLUS_WEIGHT_NAME if plus else ADAPTER_WEIGHT_NAME
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / name))
    return folder


def _perceiver_resampler_state(
    rand: Callable[..., torch.Tensor], embed: int
) -> dict[str, torch.Tensor]:
    """FaceID-Plus `image_proj.perceiver_resampler.*` keys, in the released (pre-diffusers) names.

    The shortcut of Plus-v2 adds the ID tokens to the resampler's output, so the token width
    equals the UNet's cross_attention_dim, as in the real SDXL file (2048 there).
    """
    import torch

    prefix = "image_proj.perceiver_resampler"
    inner = 64  # diffusers infers heads = to_q rows // 64
    state = {
        f"{prefix}.proj_in.weight": rand(embed, CLIP_HIDDEN),
        f"{prefix}.proj_in.bias": torch.zeros(embed),
        f"{prefix}.proj_out.weight": rand(embed, embed),
        f"{prefix}.proj_out.bias": torch.zeros(embed),
        f"{prefix}.norm_out.weight": torch.ones(embed),
        f"{prefix}.norm_out.bias": torch.zeros(embed),
    }
    for i in range(4):  # diffusers' key conversion knows exactly four layers
        layer = f"{prefix}.layers.{i}"
        for norm in (f"{layer}.0.norm1", f"{layer}.0.norm2", f"{layer}.1.0"):
            state[f"{norm}.weight"] = torch.ones(embed)
            state[f"{norm}.bias"] = torch.zeros(embed)
        state[f"{layer}.0.to_q.weight"] = rand(inner, embed)
        state[f"{layer}.0.to_kv.weight"] = rand(2 * inner, embed)
        state[f"{layer}.0.to_out.weight"] = rand(embed, inner)
        state[f"{layer}.1.1.weight"] = rand(4 * embed, embed)
        state[f"{layer}.1.3.weight"] = rand(embed, 4 * embed)
    return state


def _build_tiny_clip_vision(folder: Path, seed: int) -> None:
    """A 2-layer CLIP ViT (32-px input) standing in for ViT-H/14, in from_pretrained layout."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=CLIP_HIDDEN,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
        projection_dim=CLIP_HIDDEN,
    )
    CLIPVisionModelWithProjection(config).save_pretrained(folder)


def _cross_attention_widths(unet_folder: Path | None) -> list[int]:
    from diffusers import UNet2DConditionModel

    if unet_folder is None:
        raise ValueError("pass the tiny SDXL's unet folder so the adapter matches it")
    unet = UNet2DConditionModel.from_pretrained(unet_folder)
    widths = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            widths.append(unet.config.block_out_channels[-1])
        elif name.startswith("up_blocks"):
            widths.append(list(reversed(unet.config.block_out_channels))[int(name[10])])
        else:
            widths.append(unet.config.block_out_channels[int(name[12])])
    return widths


def build_tiny_models(root: Path) -> dict[str, Path]:
    """Everything a tiny PortraitModels needs, under one folder."""
    root = Path(root)
    sdxl = build_tiny_sdxl(root / "sdxl")
    adapter = build_tiny_faceid_adapter(root / "faceid", unet_folder=sdxl / "unet")
    pack = build_tiny_face_pack(root / "insightface", "tiny_pack")
    return {"sdxl": sdxl, "adapter": adapter, "face_root": root / "insightface", "face_pack": pack}
