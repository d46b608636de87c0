"""Full-size architectures with random weights, for GPU cost benchmarks, one per stack.

Configs are those of stabilityai/stable-diffusion-xl-base-1.0 and h94/IP-Adapter-FaceID
(research) and of black-forest-labs/FLUX.2-klein-4B with its Qwen3-4B text encoder (commercial);
the weights are noise, so images are meaningless but FLOPs and memory are real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SDXL_UNET: dict[str, Any] = dict(
    act_fn="silu",
    addition_embed_type="text_time",
    addition_embed_type_num_heads=64,
    addition_time_embed_dim=256,
    attention_head_dim=[5, 10, 20],
    block_out_channels=[320, 640, 1280],
    cross_attention_dim=2048,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    in_channels=4,
    layers_per_block=2,
    norm_num_groups=32,
    out_channels=4,
    projection_class_embeddings_input_dim=2816,
    sample_size=128,
    transformer_layers_per_block=[1, 2, 10],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    use_linear_projection=True,
)
SDXL_VAE: dict[str, Any] = dict(
    block_out_channels=[128, 256, 512, 512],
    in_channels=3,
    out_channels=3,
    latent_channels=4,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=1024,
    scaling_factor=0.13025,
    force_upcast=True,
)
CLIP_L: dict[str, Any] = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_attention_heads=12,
    num_hidden_layers=12,
    projection_dim=768,
    hidden_act="quick_gelu",
)
CLIP_BIG_G: dict[str, Any] = dict(
    hidden_size=1280,
    intermediate_size=5120,
    num_attention_heads=20,
    num_hidden_layers=32,
    projection_dim=1280,
    hidden_act="gelu",
)
FACEID_WEIGHT_NAME = "ip-adapter-faceid_sdxl_random.safetensors"


def random_sdxl_pipeline(device: str, dtype: Any) -> Any:
    """StableDiffusionXLPipeline of the real size, random weights, built on `device`."""
    import tempfile

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

    from pipeline.testing.tiny_models import _write_tokenizer

    tok_dir = Path(tempfile.mkdtemp(prefix="tok_"))
    _write_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, model_max_length=77)
    common = dict(
        vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1
    )
    with torch.device(device):  # initialise in place: no 10 GB detour through host memory
        unet = UNet2DConditionModel(**SDXL_UNET).to(dtype)
        vae = AutoencoderKL(**SDXL_VAE).to(dtype)
        te1 = CLIPTextModel(CLIPTextConfig(**CLIP_L, **common)).to(dtype)
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_BIG_G, **common)).to(dtype)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=te1,
        text_encoder_2=te2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )


def write_random_faceid_adapter(folder: Path, unet: Any, seed: int = 0) -> str:
    """A FaceID (plain) state dict shaped for `unet`; returns the weight file name."""
    import torch
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    cad = unet.config.cross_attention_dim
    state = {
        "image_proj.proj.0.weight": torch.randn(1024, 512, generator=gen) * 0.02,
        "image_proj.proj.0.bias": torch.zeros(1024),
        "image_proj.proj.2.weight": torch.randn(cad * 4, 1024, generator=gen) * 0.02,
        "image_proj.proj.2.bias": torch.zeros(cad * 4),
        "image_proj.norm.weight": torch.ones(cad),
        "image_proj.norm.bias": torch.zeros(cad),
    }
    blocks = list(unet.config.block_out_channels)
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            width = blocks[-1]
        elif name.startswith("up_blocks"):
            width = list(reversed(blocks))[int(name[len("up_blocks.")])]
        else:
            width = blocks[int(name[len("down_blocks.")])]
        for kind in ("to_k_ip", "to_v_ip"):
            state[f"ip_adapter.{key}.{kind}.weight"] = (
                torch.randn(width, cad, generator=gen) * 0.02
            ).half()
        key += 2
    folder.mkdir(parents=True, exist_ok=True)
    save_file(state, str(folder / FACEID_WEIGHT_NAME))
    return FACEID_WEIGHT_NAME


# FLUX.2 [klein] 4B: 5 double-stream + 20 single-stream blocks, 24 heads of 128, 128 latent
# channels (32 VAE channels patchified 2x2), text from Qwen3-4B's layers 9/18/27 (3 x 2560).
FLUX2_KLEIN_4B_TRANSFORMER: dict[str, Any] = dict(
    patch_size=1,
    in_channels=128,
    num_layers=5,
    num_single_layers=20,
    attention_head_dim=128,
    num_attention_heads=24,
    joint_attention_dim=7680,
    timestep_guidance_channels=256,
    mlp_ratio=3.0,
    axes_dims_rope=(32, 32, 32, 32),
    rope_theta=2000,
    guidance_embeds=False,
)
QWEN3_4B: dict[str, Any] = dict(
    hidden_size=2560,
    intermediate_size=9728,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=151936,
    max_position_embeddings=40960,
    rope_theta=1000000,
    tie_word_embeddings=True,
)


def random_flux2_klein_pipeline(device: str, dtype: Any) -> Any:
    """Flux2KleinPipeline of the real 4B size, random weights, built on `device`."""
    import tempfile

    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen2TokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from pipeline.testing.tiny_flux2 import build_tiny_qwen_tokenizer

    # A byte-level tokenizer: token ids differ from Qwen's, sequence lengths (padded to 512) not.
    tokenizer = Qwen2TokenizerFast.from_pretrained(
        build_tiny_qwen_tokenizer(Path(tempfile.mkdtemp(prefix="qwen_tok_")))
    )
    with torch.device(device):  # initialise in place: no detour through host memory
        transformer = Flux2Transformer2DModel(**FLUX2_KLEIN_4B_TRANSFORMER).to(dtype)
        text_encoder = Qwen3ForCausalLM(Qwen3Config(**QWEN3_4B)).to(dtype)
        vae = AutoencoderKLFlux2().to(dtype)  # the defaults are the released VAE's shape
    return Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    )
