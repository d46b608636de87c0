"""The commercial stack's generator: tiny random FLUX.2 [klein] through `from_pretrained`.

The folder is written by the test session (tests/fixtures/models.py) with `save_pretrained` for
every component and loaded back by `Flux2KleinPipeline.from_pretrained`, as real weights are.
Random weights draw no faces, so orders here review permissively; identity review is the face
backend's and is tested with it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.decode import decode_image
from pipeline.faces import Face
from pipeline.generators import GENERATORS, generator_class
from pipeline.generators.flux2_klein import Flux2KleinConfig, Flux2KleinGenerator
from pipeline.generators.sdxl_faceid import PortraitGenerator
from pipeline.identity import build_profile
from pipeline.labels import mark_present, read_label
from pipeline.portraits import PortraitConfig, PortraitModels, make_portraits, reference_crop
from pipeline.review import ReviewConfig
from pipeline.styles import STYLE_PACKS
from pipeline.testing.synthetic_photos import synthetic_face_photo

SIZE = (128, 128)


def _photos(identity: int, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    head = decode_image(synthetic_face_photo(identity, 0, SIZE))
    return head, [decode_image(synthetic_face_photo(identity, v, SIZE)) for v in range(1, n + 1)]


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.int16)


def test_the_folder_is_a_real_flux2_klein_pipeline(tiny_models_dir: Path) -> None:
    folder = tiny_models_dir / "flux2_klein"
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline"
    assert index["transformer"] == ["diffusers", "Flux2Transformer2DModel"]
    assert index["text_encoder"] == ["transformers", "Qwen3ForCausalLM"]
    assert index["vae"] == ["diffusers", "AutoencoderKLFlux2"]
    assert index["scheduler"] == ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    for part in ("transformer", "text_encoder", "vae"):
        assert any((folder / part).glob("*.safetensors")), part
    assert (folder / "tokenizer" / "tokenizer.json").is_file()


def test_generation_gives_images_and_seeds_and_references_change_them(
    tiny_flux2_models: PortraitModels, tiny_face_analyzer: object
) -> None:
    generator = tiny_flux2_models.generator
    assert isinstance(generator, Flux2KleinGenerator)
    head, selfies = _photos(21, 3)
    faces = [tiny_flux2_models.analyzer.analyze(rgb)[0] for rgb in [head, *selfies]]
    profile = build_profile([f.embedding for f in faces])
    pack = STYLE_PACKS["window"]
    shots = list(pack.shots[:3])
    refs = [head, *selfies]
    progress: list[tuple[int, int]] = []
    images = generator.generate(
        profile,
        pack,
        shots,
        [1, 2, 1],
        progress=lambda d, t: progress.append((d, t)),
        references=refs,
    )
    cfg = generator.config
    assert [im.size for im in images] == [(cfg.width, cfg.height)] * 3
    assert progress == [(1, 3), (2, 3), (3, 3)]
    a, b = _pixels(images[0]), _pixels(images[1])
    assert np.abs(a - b).mean() > 1.0  # seeds 1 and 2 (and shots 0 and 1) differ
    again = generator.generate(profile, pack, shots[:1], [1], references=refs)
    assert np.array_equal(_pixels(again[0]), a)  # the same seed, shot and references: same image
    other_seed = generator.generate(profile, pack, shots[:1], [7], references=refs)
    assert np.abs(_pixels(other_seed[0]) - a).mean() > 1.0
    # The references condition every step: another person's photos give another image.
    stranger, strangers = _photos(22, 3)
    moved = generator.generate(profile, pack, shots[:1], [1], references=[stranger, *strangers])
    assert np.abs(_pixels(moved[0]) - a).mean() > 0.1
    with pytest.raises(ValueError, match="reference images"):
        generator.generate(profile, pack, shots[:1], [1])


def test_an_order_on_the_commercial_generator_uses_headshot_first_references(
    tiny_flux2_models: PortraitModels,
) -> None:
    head, selfies = _photos(31, 4)
    config = PortraitConfig(review=ReviewConfig.permissive(), shots=4)
    result = make_portraits(head, selfies, "golden", "order-flux", tiny_flux2_models, config)
    assert len(result.images) == 4
    report = result.report
    assert report["stack"] == "commercial"
    wanted = tiny_flux2_models.generator.references_wanted
    assert report["identity"]["references"] == wanted == 3
    for portrait in result.images:
        png = Image.open(io.BytesIO(portrait.png))
        assert mark_present(np.asarray(png.convert("RGB")))
        assert read_label(portrait.png)["content_id"] == portrait.content_id
    again = make_portraits(head, selfies, "golden", "order-flux", tiny_flux2_models, config)
    assert again.images[0].png == result.images[0].png  # a re-run gives the same file


def test_reference_crop_is_a_square_around_the_face_inside_the_image() -> None:
    rgb = np.zeros((200, 300, 3), np.uint8)
    face = Face(
        bbox=np.array([250.0, 20.0, 290.0, 70.0]),
        kps=np.zeros((5, 2)),
        det_score=0.9,
        embedding=np.zeros(512, np.float32),
        yaw=0.0,
        pitch=0.0,
        roll=0.0,
    )
    crop = reference_crop(rgb, face, 2.4)
    assert crop.shape[:2] == (120, 120)  # 2.4 x the 50 px box side, shifted in from the edge
    huge = reference_crop(rgb, face, 10.0)
    assert huge.shape[:2] == (200, 200)  # never larger than the image


def test_the_registry_names_each_stack_generator() -> None:
    assert generator_class("research") is PortraitGenerator
    assert generator_class("commercial") is Flux2KleinGenerator
    assert set(GENERATORS) == {"research", "commercial"}
    with pytest.raises(ValueError, match="unknown model stack"):
        generator_class("qwen-edit")
    with pytest.raises(ValueError, match="multiple of 16"):
        Flux2KleinConfig(model="x", width=100)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_full_size_random_flux2_klein_on_gpu() -> None:
    gen = Flux2KleinGenerator.random_full_size(
        Flux2KleinConfig(model="random", steps=2, batch_size=2, references=2),
        device="cuda",
        dtype=torch.bfloat16,
    )
    head, selfies = _photos(41, 1)
    profile = build_profile([np.eye(512, dtype=np.float32)[0]])
    pack = STYLE_PACKS["business"]
    images = gen.generate(profile, pack, list(pack.shots[:2]), [1, 2], references=[head, *selfies])
    assert [im.size for im in images] == [(896, 1152)] * 2


def test_references_are_shrunk_to_reference_px_never_enlarged() -> None:
    from pipeline.generators.flux2_klein import reference_image

    assert reference_image(np.zeros((1000, 800, 3), np.uint8), 512).size == (410, 512)
    assert reference_image(np.zeros((300, 200, 3), np.uint8), 512).size == (200, 300)
    assert reference_image(np.zeros((40, 50, 3), np.uint8), 512).size == (64, 64)
