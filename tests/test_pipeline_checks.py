"""Face analysis and photo checks: synthetic photos through the tiny pack, real photos by rule."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.checks import (
    CheckConfig,
    check_headshot,
    check_selfie,
    hamming,
    image_fingerprint,
)
from pipeline.decode import decode_image
from pipeline.face_backends import load_face_backend
from pipeline.faces import (
    ARCFACE_SPACE,
    Face,
    FaceAnalyzer,
    pose_from_eyes_and_nose,
    pose_from_keypoints,
)
from pipeline.testing.synthetic_photos import synthetic_face_photo, synthetic_face_rgb
from pipeline.testing.tiny_face_pack import ARCFACE_TEMPLATE, tint_apparent_age

# Hand-measured on skimage.data.astronaut(): the face box and its five keypoints.
ASTRONAUT_BOX = (172.0, 62.0, 272.0, 175.0)
ASTRONAUT_KPS = np.array([[203, 101], [243, 100], [224, 125], [207, 147], [242, 146]], np.float32)


def _face(
    box: tuple[float, float, float, float],
    kps: np.ndarray | None = None,
    emb: np.ndarray | None = None,
    yaw: float = 0.0,
) -> Face:
    x1, y1, x2, y2 = box
    if kps is None:
        kps = (ARCFACE_TEMPLATE / 112.0) * [x2 - x1, y2 - y1] + [x1, y1]
    _, pitch, roll = pose_from_keypoints(kps)
    emb = emb if emb is not None else np.eye(512, dtype=np.float32)[0]
    return Face(
        bbox=np.array(box, np.float32),
        kps=np.asarray(kps, np.float32),
        det_score=0.9,
        embedding=emb,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
    )


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def _t1_faces() -> tuple[np.ndarray, list[Face]]:
    import insightface

    path = Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"
    rgb = decode_image(path.read_bytes())
    # Six similar-sized faces across a group photo, as a real detector reports them.
    h, w = rgb.shape[:2]
    boxes = [
        (w * (0.08 + 0.15 * i), h * 0.3, w * (0.08 + 0.15 * i) + w * 0.08, h * 0.3 + w * 0.1)
        for i in range(6)
    ]
    return rgb, [_face(b) for b in boxes]


def test_missing_pack_is_a_clear_error_not_a_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        FaceAnalyzer("buffalo_l", tmp_path)


def test_synthetic_faces_are_seen_as_one_face_per_identity(
    tiny_face_analyzer: FaceAnalyzer,
) -> None:
    embeddings = {}
    for identity in (1, 2):
        for variant in range(4):
            rgb = decode_image(synthetic_face_photo(identity, variant, size=(128, 128)))
            faces = tiny_face_analyzer.analyze(rgb)
            assert len(faces) == 1
            face = faces[0]
            assert face.embedding.shape == (512,)
            assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4
            assert face.kps.shape == (5, 2)
            assert face.age is not None and 20 <= face.age <= 40  # the pack's genderage model
            assert abs(face.yaw) < 5 and abs(face.pitch) < 5 and abs(face.roll) < 5
            embeddings[identity, variant] = face.embedding
    same = ARCFACE_SPACE.distance(embeddings[1, 0], embeddings[1, 3])
    other = ARCFACE_SPACE.distance(embeddings[1, 0], embeddings[2, 0])
    threshold = CheckConfig().max_same_person_distance(tiny_face_analyzer.space)
    assert same < threshold < other


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("one", "ok"),
        ("two_faces", "multiple_faces"),
        ("no_face", "no_face"),
        ("dark", "too_dark"),
        ("bright", "too_bright"),
        ("blurry", "blurry"),
        ("small_face", "face_too_small"),
    ],
)
def test_headshot_check_on_synthetic_kinds(
    tiny_face_analyzer: FaceAnalyzer, kind: str, reason: str
) -> None:
    rgb = decode_image(synthetic_face_photo(5, 1, size=(128, 128), kind=kind))  # type: ignore[arg-type]
    result = check_headshot(rgb, tiny_face_analyzer.analyze(rgb))
    assert result.reason == reason, result.measured
    assert result.ok == (reason == "ok")


def test_selfie_checks_person_background_faces_and_duplicates(
    tiny_face_analyzer: FaceAnalyzer,
) -> None:
    head = decode_image(synthetic_face_photo(7, 0, size=(128, 128)))
    head_emb = check_headshot(head, tiny_face_analyzer.analyze(head)).face.embedding  # type: ignore[union-attr]
    accepted: list[int] = []
    for variant in range(1, 21):
        rgb = decode_image(synthetic_face_photo(7, variant, size=(128, 128)))
        result = check_selfie(rgb, tiny_face_analyzer.analyze(rgb), head_emb, accepted)
        assert result.reason == "ok", (variant, result.measured)
        accepted.append(image_fingerprint(rgb))
    # Re-sending an accepted photo (re-encoded) is a duplicate.
    again = decode_image(synthetic_face_photo(7, 3, size=(128, 128), quality=70))
    assert (
        check_selfie(again, tiny_face_analyzer.analyze(again), head_emb, accepted).reason
        == "duplicate"
    )
    stranger = decode_image(synthetic_face_photo(8, 1, size=(128, 128)))
    result = check_selfie(stranger, tiny_face_analyzer.analyze(stranger), head_emb, accepted)
    assert result.reason == "different_person"
    assert result.measured["distance_to_headshot"] > ARCFACE_SPACE.same_person
    crowd = decode_image(synthetic_face_photo(7, 2, size=(640, 640), kind="background_face"))
    faces = tiny_face_analyzer.analyze(crowd)
    assert len(faces) == 2
    assert check_selfie(crowd, faces, head_emb).reason == "ok"
    assert check_headshot(crowd, faces).reason == "multiple_faces"
    pair = decode_image(synthetic_face_photo(7, 2, size=(128, 128), kind="two_faces"))
    assert check_selfie(pair, tiny_face_analyzer.analyze(pair), head_emb).reason == "multiple_faces"


def test_a_selfie_without_the_headshot_embedding_is_refused_not_accepted() -> None:
    rgb = _astronaut()
    face = _face(ASTRONAUT_BOX, ASTRONAUT_KPS)
    result = check_selfie(rgb, [face], None)
    assert (result.ok, result.reason) == (False, "identity_unverified")
    assert check_selfie(rgb, [face], face.embedding).reason == "ok"


def test_faces_estimated_clearly_under_18_are_refused_with_a_margin() -> None:
    rgb = _astronaut()
    config = CheckConfig()
    assert config.min_apparent_age == 16.0
    for age, reason in ((12, "minor"), (15, "minor"), (16, "ok"), (35, "ok"), (None, "ok")):
        face = _face(ASTRONAUT_BOX, ASTRONAUT_KPS)
        face.age = age
        headshot = check_headshot(rgb, [face], config)
        selfie = check_selfie(rgb, [face], face.embedding, (), config)
        assert (headshot.reason, selfie.reason) == (reason, reason), age
        assert headshot.ok == selfie.ok == (reason == "ok")
        if age is not None:
            assert headshot.measured["apparent_age"] == age
    # The margin is a setting: an operator can move it.
    face = _face(ASTRONAUT_BOX, ASTRONAUT_KPS)
    face.age = 17
    assert check_headshot(rgb, [face], CheckConfig(min_apparent_age=18.0)).reason == "minor"
    # A poor photo is refused for its quality first: the age estimate of a bad crop is noise.
    dark = (rgb.astype(np.float32) * 0.25).astype(np.uint8)
    face.age = 12
    assert check_headshot(dark, [face]).reason == "too_dark"


def test_the_tiny_pack_reads_a_tinted_face_as_a_child_and_another_as_an_adult(
    tiny_face_analyzer: FaceAnalyzer,
) -> None:
    head = synthetic_face_rgb(1, 0)
    [head_face] = tiny_face_analyzer.analyze(head)
    assert head_face.age is not None
    child = tint_apparent_age(synthetic_face_rgb(1, 1), 12 - head_face.age)
    adult = tint_apparent_age(synthetic_face_rgb(1, 2), 35 - head_face.age)
    [child_face] = tiny_face_analyzer.analyze(child)
    [adult_face] = tiny_face_analyzer.analyze(adult)
    assert child_face.age is not None and adult_face.age is not None
    assert abs(child_face.age - 12) <= 3 and abs(adult_face.age - 35) <= 3
    # The same person either way: only the age estimate moved.
    assert float(child_face.embedding @ head_face.embedding) > 0.95
    assert check_selfie(child, [child_face], head_face.embedding).reason == "minor"
    assert check_selfie(adult, [adult_face], head_face.embedding).reason == "ok"
    assert check_headshot(child, [child_face]).reason == "minor"
    # Every untinted synthetic face reads as an adult, well clear of the margin.
    ages = [
        face.age
        for identity in range(1, 25)
        for face in tiny_face_analyzer.analyze(synthetic_face_rgb(identity, identity % 7))
    ]
    assert min(a for a in ages if a is not None) >= CheckConfig().min_apparent_age + 5


def test_astronaut_accepted_as_headshot_on_its_real_pixels() -> None:
    rgb = _astronaut()
    result = check_headshot(rgb, [_face(ASTRONAUT_BOX, ASTRONAUT_KPS)])
    assert result.reason == "ok", result.measured
    assert abs(result.measured["roll"]) < 5 and abs(result.measured["pitch"]) < 20


def test_astronaut_variants_are_refused_for_the_right_reason() -> None:
    rgb = _astronaut()
    face = _face(ASTRONAUT_BOX, ASTRONAUT_KPS)
    blurred = cv2.GaussianBlur(rgb, (0, 0), 3)
    assert check_headshot(blurred, [face]).reason == "blurry"
    dark = (rgb.astype(np.float32) * 0.25).astype(np.uint8)
    assert check_headshot(dark, [face]).reason == "too_dark"
    small = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA)
    small_face = _face(tuple(v / 4 for v in ASTRONAUT_BOX), ASTRONAUT_KPS / 4)  # type: ignore[arg-type]
    assert check_headshot(small, [small_face]).reason == "face_too_small"
    turned = _face(ASTRONAUT_BOX, ASTRONAUT_KPS, yaw=35.0)
    assert check_headshot(rgb, [turned]).reason == "not_frontal"
    # Looser pose limits for selfies (compared with its own embedding: the same person).
    assert check_selfie(rgb, [turned], turned.embedding).reason == "ok"


def test_t1_group_photo_refused_for_several_faces() -> None:
    rgb, faces = _t1_faces()
    assert check_headshot(rgb, faces).reason == "multiple_faces"
    assert check_selfie(rgb, faces, faces[0].embedding).reason == "multiple_faces"


def test_pose_from_keypoints_reads_turn_and_tilt() -> None:
    frontal = ARCFACE_TEMPLATE.copy()
    assert all(abs(v) < 2 for v in pose_from_keypoints(frontal))
    turned = frontal.copy()
    turned[2, 0] += 12  # nose swings right
    yaw, _, _ = pose_from_keypoints(turned)
    assert yaw > 20
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    _, _, roll = pose_from_keypoints((frontal - 56) @ rot.T + 56)
    assert 25 < roll < 35


def test_rotated_exif_astronaut_decodes_upright() -> None:
    rgb = _astronaut()
    img = Image.fromarray(np.rot90(rgb, k=1).copy())  # stored sideways, like a phone does
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, exif=exif.tobytes())
    out = decode_image(buf.getvalue())
    assert out.shape == rgb.shape
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 6


def test_fingerprint_is_stable_under_reencoding_and_differs_between_photos() -> None:
    a = synthetic_face_rgb(1, 1, (640, 640))
    b = synthetic_face_rgb(1, 2, (640, 640))
    a_jpeg = decode_image(synthetic_face_photo(1, 1, (640, 640), quality=60))
    fa, fb = image_fingerprint(a), image_fingerprint(b)
    assert 0 <= fa < 2**64
    assert hamming(fa, image_fingerprint(a_jpeg)) <= CheckConfig().max_duplicate_hamming
    assert hamming(fa, fb) > CheckConfig().max_duplicate_hamming


def test_pose_from_eyes_and_nose_reads_turn_tilt_and_nod() -> None:
    left, right = np.array([40.0, 50.0]), np.array([80.0, 50.0])
    nose = np.array([60.0, 50.0 + 0.85 * 40])  # the nose base on a frontal face
    assert all(abs(v) < 1 for v in pose_from_eyes_and_nose(left, right, nose, 0.85))
    yaw, _, _ = pose_from_eyes_and_nose(left, right, nose + np.array([12.0, 0.0]), 0.85)
    assert yaw > 20
    _, pitch, _ = pose_from_eyes_and_nose(left, right, np.array([60.0, 50.0 + 0.5 * 40]), 0.85)
    assert pitch < -20  # the nose foreshortened towards the eyes: a nod
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted_left, tilted_right, tilted_nose = np.array([left, right, nose]) @ rot.T
    _, _, roll = pose_from_eyes_and_nose(tilted_left, tilted_right, tilted_nose, 0.85)
    assert 25 < roll < 35


def test_the_model_stack_picks_the_face_backend(tiny_face_root: Path) -> None:
    from tests.fixtures.models import TINY_FACE_PACK

    research = load_face_backend("research", face_pack=TINY_FACE_PACK, face_root=tiny_face_root)
    assert (research.name, research.space, research.estimates_age) == (
        "insightface",
        ARCFACE_SPACE,
        True,
    )
    pytest.importorskip("dlib")
    commercial = load_face_backend("commercial")
    assert (commercial.name, commercial.space.metric, commercial.estimates_age) == (
        "dlib",
        "euclidean",
        False,
    )
    with pytest.raises(ValueError, match="unknown model stack"):
        load_face_backend("qwen")
    with pytest.raises(ValueError, match="min_same_person_cosine applies to cosine spaces"):
        CheckConfig(min_same_person_cosine=0.4).max_same_person_distance(commercial.space)
