"""End to end on tiny random models loaded through the real loaders.

Random-weight SDXL outputs never contain a face, so runs that must deliver use
ReviewConfig.permissive(); the review's refusals are proven separately below.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.checks import CheckConfig
from pipeline.decode import decode_image
from pipeline.generators.sdxl_faceid import PortraitGenerator
from pipeline.identity import IdentityProfile, InconsistentIdentity, build_profile
from pipeline.labels import mark_present, read_label
from pipeline.portraits import (
    NoAcceptablePortraits,
    NoUsablePhotos,
    PortraitConfig,
    PortraitModels,
    make_portraits,
)
from pipeline.review import ReviewConfig, review_image
from pipeline.styles import STYLE_PACKS, seeds_for
from pipeline.testing.synthetic_photos import synthetic_face_photo

SIZE = (128, 128)


def _photos(identity: int, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    head = decode_image(synthetic_face_photo(identity, 0, SIZE))
    return head, [decode_image(synthetic_face_photo(identity, v, SIZE)) for v in range(1, n + 1)]


def _sdxl(models: PortraitModels) -> PortraitGenerator:
    """The research stack's generator, as its own type (these tests use its adapter knobs)."""
    assert isinstance(models.generator, PortraitGenerator)
    return models.generator


def _profile(models: PortraitModels, identity: int) -> IdentityProfile:
    head, selfies = _photos(identity, 3)
    embs = [models.analyzer.analyze(rgb)[0].embedding for rgb in [head, *selfies]]
    return build_profile(embs)


def test_end_to_end_delivers_labelled_images_and_a_report(
    tiny_portrait_models: PortraitModels,
) -> None:
    head, selfies = _photos(11, 5)
    selfies.append(decode_image(synthetic_face_photo(12, 1, SIZE)))  # a stranger slips in
    calls: list[tuple[int, int]] = []
    config = PortraitConfig(review=ReviewConfig.permissive(), shots=6)
    result = make_portraits(
        head,
        selfies,
        "business",
        "order-e2e",
        tiny_portrait_models,
        config,
        progress=lambda done, total: calls.append((done, total)),
    )
    gen_cfg = _sdxl(tiny_portrait_models).config
    assert len(result.images) == 6
    assert calls[:6] == [(i, 6) for i in range(1, 7)] and calls[-1] == (6, 6)
    for i, portrait in enumerate(result.images):
        png = Image.open(io.BytesIO(portrait.png))
        assert png.size == (gen_cfg.width, gen_cfg.height) and png.format == "PNG"
        assert read_label(portrait.png)["content_id"] == portrait.content_id
        assert read_label(portrait.jpeg) == read_label(portrait.png)
        assert mark_present(np.asarray(png.convert("RGB")))
        assert portrait.shot == STYLE_PACKS["business"].shots[i]
        assert portrait.seed == seeds_for("order-e2e", 6)[i]
    report = result.report
    assert [s["reason"] for s in report["selfies"]] == ["ok"] * 5 + ["different_person"]
    assert report["identity"]["photos_used"] == 6
    assert report["identity"]["consistency"] > 0.9
    assert len(report["outputs"]) == 6
    assert {"checks", "profile", "generate", "review", "label"} <= set(report["seconds"])
    # A re-run of the same order gives the same pixels.
    again = make_portraits(head, selfies, "business", "order-e2e", tiny_portrait_models, config)
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(again.images[0].png))),
        np.asarray(Image.open(io.BytesIO(result.images[0].png))),
    )


def test_adapter_scale_zero_equals_no_adapter(
    tiny_portrait_models: PortraitModels, tiny_models_dir: Path
) -> None:
    from diffusers import StableDiffusionXLPipeline

    gen = _sdxl(tiny_portrait_models)
    pack = STYLE_PACKS["window"]
    shot, seed = pack.shots[0], 1234
    with_adapter = gen.generate(
        _profile(tiny_portrait_models, 3), pack, [shot], [seed], adapter_scale=0.0
    )[0]
    plain = StableDiffusionXLPipeline.from_pretrained(tiny_models_dir / "sdxl")
    plain.set_progress_bar_config(disable=True)
    cfg = gen.config
    reference = plain(
        prompt=[pack.prompt(shot)],
        negative_prompt=[pack.negative_prompt],
        num_inference_steps=cfg.steps,
        guidance_scale=cfg.guidance,
        width=cfg.width,
        height=cfg.height,
        generator=[torch.Generator().manual_seed(seed)],
    ).images[0]
    a = np.asarray(with_adapter).astype(int)
    b = np.asarray(reference).astype(int)
    assert np.abs(a - b).max() <= 1
    scaled = gen.generate(
        _profile(tiny_portrait_models, 3), pack, [shot], [seed], adapter_scale=1.0
    )[0]
    assert np.abs(np.asarray(scaled).astype(int) - b).mean() > 0.2  # the adapter does act


def test_different_identities_give_different_images(tiny_portrait_models: PortraitModels) -> None:
    gen = _sdxl(tiny_portrait_models)
    pack = STYLE_PACKS["golden"]
    shots, seeds = list(pack.shots[:2]), [7, 8]
    a = gen.generate(_profile(tiny_portrait_models, 1), pack, shots, seeds, adapter_scale=1.0)
    b = gen.generate(_profile(tiny_portrait_models, 2), pack, shots, seeds, adapter_scale=1.0)
    a2 = gen.generate(_profile(tiny_portrait_models, 1), pack, shots, seeds, adapter_scale=1.0)
    for x, y, x2 in zip(a, b, a2, strict=True):
        assert np.array_equal(np.asarray(x), np.asarray(x2))
        assert np.abs(np.asarray(x).astype(int) - np.asarray(y).astype(int)).mean() > 0.2


def test_review_refuses_faceless_strangers_and_crowds(tiny_portrait_models: PortraitModels) -> None:
    analyzer = tiny_portrait_models.analyzer
    profile = _profile(tiny_portrait_models, 21)
    gen = _sdxl(tiny_portrait_models)
    generated = np.asarray(
        gen.generate(profile, STYLE_PACKS["bw"], [STYLE_PACKS["bw"].shots[0]], [1])[0]
    )
    assert review_image(generated, analyzer, profile).reason == "no_face"
    same = decode_image(synthetic_face_photo(21, 9, SIZE))
    verdict = review_image(same, analyzer, profile)
    assert verdict.ok and verdict.identity is not None and verdict.identity > 0.9
    other = decode_image(synthetic_face_photo(22, 9, SIZE))
    assert review_image(other, analyzer, profile).reason == "low_identity"
    crowd = decode_image(synthetic_face_photo(21, 9, SIZE, kind="two_faces"))
    assert review_image(crowd, analyzer, profile).reason == "multiple_faces"


def test_strict_review_with_random_weights_refuses_everything(
    tiny_portrait_models: PortraitModels,
) -> None:
    head, selfies = _photos(31, 2)
    config = PortraitConfig(review=ReviewConfig(extra_attempts=1), shots=2)
    with pytest.raises(NoAcceptablePortraits):
        make_portraits(head, selfies, "film", "order-strict", tiny_portrait_models, config)


def test_bad_inputs_raise_typed_errors(tiny_portrait_models: PortraitModels) -> None:
    no_face = decode_image(synthetic_face_photo(41, 0, SIZE, kind="no_face"))
    _, selfies = _photos(41, 2)
    with pytest.raises(NoUsablePhotos) as info:
        make_portraits(no_face, selfies, "film", "o", tiny_portrait_models)
    assert info.value.reason == "headshot_no_face"
    head, _ = _photos(41, 0)
    strangers = [decode_image(synthetic_face_photo(42, v, SIZE)) for v in (1, 2)]
    with pytest.raises(NoUsablePhotos) as info:
        make_portraits(head, strangers, "film", "o", tiny_portrait_models)
    assert info.value.reason == "too_few_selfies"
    # With the person check switched off, a two-person set is caught by the profile.
    mixed = [decode_image(synthetic_face_photo(41 + v % 2, v, SIZE)) for v in range(1, 9)]
    loose = PortraitConfig(
        checks=CheckConfig(min_same_person_cosine=-1.0), review=ReviewConfig.permissive(), shots=1
    )
    with pytest.raises(InconsistentIdentity):
        make_portraits(head, mixed, "film", "o", tiny_portrait_models, loose)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_full_size_random_sdxl_on_gpu() -> None:
    from pipeline.generator import GeneratorConfig

    gen = PortraitGenerator.random_full_size(
        GeneratorConfig(base_model="random", adapter_dir="", steps=2, batch_size=2),
        device="cuda",
        dtype=torch.float16,
    )
    profile = build_profile([np.eye(512, dtype=np.float32)[0]])
    pack = STYLE_PACKS["business"]
    images = gen.generate(profile, pack, list(pack.shots[:2]), [1, 2])
    assert [im.size for im in images] == [(896, 1152)] * 2


@pytest.mark.weights
@pytest.mark.skipif(not os.environ.get("WEIGHTS_DIR"), reason="no real weights")
def test_real_pack_accepts_astronaut_and_refuses_t1() -> None:
    import insightface
    from skimage import data

    from pipeline.checks import check_headshot
    from pipeline.faces import FaceAnalyzer

    analyzer = FaceAnalyzer("buffalo_l", Path(os.environ["WEIGHTS_DIR"]) / "insightface")
    astronaut = np.ascontiguousarray(data.astronaut())
    assert check_headshot(astronaut, analyzer.analyze(astronaut)).ok
    t1 = decode_image((Path(insightface.__file__).parent / "data/images/t1.jpg").read_bytes())
    assert check_headshot(t1, analyzer.analyze(t1)).reason == "multiple_faces"


def test_random_faceid_writer_matches_a_unet_layout(tiny_models_dir: Path, tmp_path: Path) -> None:
    """The full-size benchmark's adapter writer, checked on the tiny UNet's layout."""
    from diffusers import StableDiffusionXLPipeline

    from pipeline.full_size import write_random_faceid_adapter

    pipe = StableDiffusionXLPipeline.from_pretrained(tiny_models_dir / "sdxl")
    name = write_random_faceid_adapter(tmp_path, pipe.unet)
    pipe.load_ip_adapter(str(tmp_path), subfolder=None, weight_name=name, image_encoder_folder=None)
    assert len(pipe.unet.encoder_hid_proj.image_projection_layers) == 1
