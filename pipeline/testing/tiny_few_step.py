"""A tiny few-step LoRA and a tiny "fp16-fix" VAE for the tiny SDXL, in their real file layouts.

The LoRA is what SDXL-Lightning / Hyper-SD ship (diffusers' `pytorch_lora_weights.safetensors`,
peft keys on the UNet's attention projections), so `load_lora_weights` + `fuse_lora` run for real.
The VAE folder is the tiny SDXL's own VAE saved again with `force_upcast: false` in its config,
as madebyollin/sdxl-vae-fp16-fix's config says.
"""

from __future__ import annotations

from pathlib import Path

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"


def build_tiny_few_step_lora(folder: Path, sdxl_folder: Path, seed: int = 0) -> Path:
    """A rank-4 UNet LoRA with random (non-zero) weights for the tiny SDXL at `sdxl_folder`."""
    import torch
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(Path(sdxl_folder) / "unet")
    unet.add_adapter(
        LoraConfig(
            r=4,
            lora_alpha=4,
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
            init_lora_weights=False,  # random B as well as A: the LoRA changes the output
        )
    )
    StableDiffusionXLPipeline.save_lora_weights(
        save_directory=str(folder),
        unet_lora_layers=get_peft_model_state_dict(unet),
        weight_name=LORA_WEIGHT_NAME,
        safe_serialization=True,
    )
    return folder


def build_tiny_fp16_fix_vae(folder: Path, sdxl_folder: Path) -> Path:
    """The tiny SDXL's VAE as a standalone folder whose config turns the fp16 upcast off."""
    from diffusers import AutoencoderKL

    folder = Path(folder)
    vae = AutoencoderKL.from_pretrained(Path(sdxl_folder) / "vae")
    vae.register_to_config(force_upcast=False)
    vae.save_pretrained(folder)
    return folder
