"""FaceID-Plus-v2 on tiny random models: perceiver-resampler adapter plus a CLIP vision encoder,
both loaded through diffusers' load_ip_adapter(image_encoder_folder=...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.checks import face_crop
from pipeline.decode import decode_image
from pipeline.faces import FaceAnalyzer
from pipeline.generator import PortraitGenerator, tiny_generator_config
from pipeline.identity import IdentityProfile, build_profile
from pipeline.styles import STYLE_PACKS
from pipeline.testing.synthetic_photos import synthetic_face_photo
from pipeline.testing.tiny_models import (
    ADAPTER_PLUS_WEIGHT_NAME,
    IMAGE_ENCODER_SUBFOLDER,
    build_tiny_faceid_adapter,
)

SIZE = (128, 128)


@pytest.fixture(scope="module")
def plus_generator(
    tiny_models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortraitGenerator]:
    """The tiny SDXL with a Plus-v2 adapter and its image encoder, on CPU fp32."""
    folder = build_tiny_faceid_adapter(
        tmp_path_factory.mktemp("faceid_plus"),
        unet_folder=tiny_models_dir / "sdxl" / "unet",
        plus=True,
    )
    config = tiny_generator_config(
        tiny_models_dir,
        adapter_dir=str(folder),
        adapter_weight_name=ADAPTER_PLUS_WEIGHT_NAME,
        plus_v2=True,
        image_encoder_path=str(folder / IMAGE_ENCODER_SUBFOLDER),
        batch_size=2,
    )
    yield PortraitGenerator.load(config, device="cpu", dtype=torch.float32)


def _profile(analyzer: FaceAnalyzer, identity: int) -> IdentityProfile:
    photos = [decode_image(synthetic_face_photo(identity, v, SIZE)) for v in range(3)]
    faces = [analyzer.analyze(rgb)[0] for rgb in photos]
    return build_profile(
        [f.embedding for f in faces],
        crops=[face_crop(rgb, f) for rgb, f in zip(photos, faces, strict=True)],
        frontality=[abs(f.yaw) + abs(f.pitch) for f in faces],
    )


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(int)


def test_plus_v2_adapter_and_encoder_load_through_diffusers(
    plus_generator: PortraitGenerator,
) -> None:
    from diffusers.models.embeddings import IPAdapterFaceIDPlusImageProjection
    from transformers import CLIPVisionModelWithProjection

    pipe = plus_generator.pipe
    layer = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    assert isinstance(layer, IPAdapterFaceIDPlusImageProjection)
    assert isinstance(pipe.image_encoder, CLIPVisionModelWithProjection)
    assert plus_generator.image_encoder is pipe.image_encoder
    # diffusers sized the feature extractor from the encoder's config (32 px here, 224 real).
    assert plus_generator.image_processor.crop_size["height"] == 32


def test_plus_v2_generates_with_face_crop_clip_embeddings(
    plus_generator: PortraitGenerator, tiny_face_analyzer: FaceAnalyzer
) -> None:
    pack = STYLE_PACKS["business"]
    shots, seeds = list(pack.shots[:3]), [1, 2, 3]
    progress: list[tuple[int, int]] = []
    images = plus_generator.generate(
        _profile(tiny_face_analyzer, 5),
        pack,
        shots,
        seeds,
        progress=lambda d, t: progress.append((d, t)),
    )
    cfg = plus_generator.config
    assert [im.size for im in images] == [(cfg.width, cfg.height)] * 3
    assert progress == [(1, 3), (2, 3), (3, 3)]
    layer = plus_generator.pipe.unet.encoder_hid_proj.image_projection_layers[0]
    # Last batch had one image; with CFG the unconditional crop features come first.
    assert layer.clip_embeds.shape[:2] == (2, 1) and layer.shortcut is True
    assert not torch.equal(layer.clip_embeds[0], layer.clip_embeds[1])


def test_plus_v2_scale_zero_equals_no_adapter(
    plus_generator: PortraitGenerator, tiny_face_analyzer: FaceAnalyzer, tiny_models_dir: Path
) -> None:
    from diffusers import StableDiffusionXLPipeline

    pack = STYLE_PACKS["window"]
    shot, seed = pack.shots[0], 99
    profile = _profile(tiny_face_analyzer, 6)
    off = plus_generator.generate(profile, pack, [shot], [seed], adapter_scale=0.0)[0]
    plain = StableDiffusionXLPipeline.from_pretrained(tiny_models_dir / "sdxl")
    plain.set_progress_bar_config(disable=True)
    cfg = plus_generator.config
    reference = plain(
        prompt=[pack.prompt(shot)],
        negative_prompt=[pack.negative_prompt],
        num_inference_steps=cfg.steps,
        guidance_scale=cfg.guidance,
        width=cfg.width,
        height=cfg.height,
        generator=[torch.Generator().manual_seed(seed)],
    ).images[0]
    assert np.abs(_pixels(off) - _pixels(reference)).max() <= 1
    on = plus_generator.generate(profile, pack, [shot], [seed], adapter_scale=1.0)[0]
    assert np.abs(_pixels(on) - _pixels(reference)).mean() > 0.2


def test_plus_v2_two_identities_differ(
    plus_generator: PortraitGenerator, tiny_face_analyzer: FaceAnalyzer
) -> None:
    pack = STYLE_PACKS["golden"]
    shots, seeds = list(pack.shots[:2]), [7, 8]
    a = plus_generator.generate(
        _profile(tiny_face_analyzer, 1), pack, shots, seeds, adapter_scale=1.0
    )
    b = plus_generator.generate(
        _profile(tiny_face_analyzer, 2), pack, shots, seeds, adapter_scale=1.0
    )
    again = plus_generator.generate(
        _profile(tiny_face_analyzer, 1), pack, shots, seeds, adapter_scale=1.0
    )
    for x, y, x2 in zip(a, b, again, strict=True):
        assert np.array_equal(_pixels(x), _pixels(x2))
        assert np.abs(_pixels(x) - _pixels(y)).mean() > 0.2


def test_plus_v2_face_crop_alone_changes_the_image(
    plus_generator: PortraitGenerator, tiny_face_analyzer: FaceAnalyzer
) -> None:
    """Same ArcFace vector, different crop: the CLIP branch really feeds the resampler."""
    pack = STYLE_PACKS["film"]
    profile = _profile(tiny_face_analyzer, 3)
    other = _profile(tiny_face_analyzer, 4)
    swapped = IdentityProfile(
        mean_embedding=profile.mean_embedding,
        top_embeddings=profile.top_embeddings,
        reference_crops=other.reference_crops,
    )
    a = plus_generator.generate(profile, pack, [pack.shots[0]], [5], adapter_scale=1.0)[0]
    b = plus_generator.generate(swapped, pack, [pack.shots[0]], [5], adapter_scale=1.0)[0]
    assert np.abs(_pixels(a) - _pixels(b)).mean() > 0.2


def test_plus_v2_without_a_face_crop_is_refused(
    plus_generator: PortraitGenerator, tiny_face_analyzer: FaceAnalyzer
) -> None:
    profile = _profile(tiny_face_analyzer, 8)
    bare = IdentityProfile(
        mean_embedding=profile.mean_embedding, top_embeddings=profile.top_embeddings
    )
    pack = STYLE_PACKS["bw"]
    with pytest.raises(ValueError, match="reference face crop"):
        plus_generator.generate(bare, pack, [pack.shots[0]], [1])
