"""A tiny random FLUX.2 [klein] pipeline folder that `Flux2KleinPipeline.from_pretrained` loads.

Every component is written with its own `save_pretrained` (transformer, Qwen3 text encoder,
Qwen2 tokenizer, VAE, scheduler), so the real loading path runs. Shapes follow diffusers' own
fast tests for the pipeline; the tokenizer is a byte-level BPE built here (no hub).
"""

from __future__ import annotations

from pathlib import Path

TEXT_HIDDEN = 16
# As deep as the layers the released pipeline stacks into the prompt embedding (9, 18, 27), so
# the tiny folder runs with the production config; 16 wide, so 28 layers cost nothing.
TEXT_LAYERS = 28
TEXT_OUT_LAYERS = (9, 18, 27)
# Chat template of the shape the pipeline applies (a user turn, the assistant's start, no thinking).
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)
ATTENTION_GAIN = 6.0
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")


def _byte_chars() -> list[str]:
    """GPT-2's byte -> printable character table (what byte-level BPE tokenizers store)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def build_tiny_qwen_tokenizer(folder: Path) -> Path:
    """A byte-level BPE Qwen2 tokenizer (256 bytes, a few merges, Qwen's chat tokens)."""
    from transformers import Qwen2TokenizerFast

    vocab = {ch: i for i, ch in enumerate(_byte_chars())}
    merges = [("Ġ", "a"), ("Ġ", "p"), ("o", "n"), ("e", "r")]
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2TokenizerFast(
        vocab=vocab,
        merges=merges,
        unk_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=512,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_flux2_klein(folder: Path, seed: int = 0) -> Path:
    """A random Flux2KleinPipeline folder (well under 1 MB) with the real component layout."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )
    from transformers import Qwen2TokenizerFast, Qwen3Config, Qwen3ForCausalLM

    folder = Path(folder)
    tok_dir = build_tiny_qwen_tokenizer(folder / "_tokenizer")
    tokenizer = Qwen2TokenizerFast.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=4 * 2,  # the VAE's 2 latent channels, patchified 2x2 by the pipeline
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_HIDDEN * len(TEXT_OUT_LAYERS),
        timestep_guidance_channels=256,
        axes_dims_rope=(4, 4, 4, 4),
        guidance_embeds=False,
    )
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            intermediate_size=16,
            hidden_size=TEXT_HIDDEN,
            num_hidden_layers=TEXT_LAYERS,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=len(tokenizer),
            max_position_embeddings=512,
        )
    )
    vae = AutoencoderKLFlux2(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        # Two blocks: 2x down like the real VAE's 8x in kind, so references get small latents.
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(4, 4),
        layers_per_block=1,
        latent_channels=2,
        norm_num_groups=1,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    with torch.no_grad():
        # Random attention is near uniform over all tokens, so the reference images' tokens barely
        # move the output (a 1e-5 change). Larger attention weights let them condition it
        # visibly, as trained weights do: different references give different pixels.
        for name, param in transformer.named_parameters():
            if ".attn." in name and name.endswith("weight"):
                param.mul_(ATTENTION_GAIN)
        # Damp the decoder's last layer, as in the tiny SDXL: low-contrast grey outputs that no
        # face detector mistakes for a face, like a real output with no face in it.
        vae.decoder.conv_out.weight.mul_(0.1)
        vae.decoder.conv_out.bias.zero_()
    pipe = Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    )
    pipe.save_pretrained(folder)
    for leftover in sorted(tok_dir.iterdir()):
        leftover.unlink()
    tok_dir.rmdir()
    return folder
