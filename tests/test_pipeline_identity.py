"""Identity profile on synthetic embedding clusters shaped like real ArcFace statistics."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from pipeline.checks import CheckConfig
from pipeline.identity import (
    IdentityProfile,
    InconsistentIdentity,
    build_profile,
    leave_one_out_consistency,
)

RNG_SEED = 42


def _cluster(
    centre_seed: int, n: int, rng: np.random.Generator, pairwise: float = 0.65
) -> np.ndarray:
    """n unit vectors whose pairwise cosine is ~`pairwise` (one person's selfies)."""
    centre = np.random.default_rng(centre_seed).standard_normal(512)
    centre /= np.linalg.norm(centre)
    noise = rng.standard_normal((n, 512))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    a = np.sqrt(pairwise)
    out = a * centre + np.sqrt(1 - pairwise) * noise
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_one_person_is_accepted_and_summarised() -> None:
    rng = np.random.default_rng(RNG_SEED)
    emb = _cluster(1, 20, rng)
    crops = [np.full((8, 8, 3), i, np.uint8) for i in range(20)]
    frontality = [abs(10 - i) for i in range(20)]  # photo 10 is the most frontal
    profile = build_profile(emb, crops, frontality)
    assert profile.dropped == [] and len(profile.kept) == 20
    assert profile.consistency > 0.75
    assert profile.mean_embedding.shape == (512,)
    assert abs(float(np.linalg.norm(profile.mean_embedding)) - 1) < 1e-5
    assert profile.top_embeddings.shape == (4, 512)
    assert int(profile.reference_crops[0][0, 0, 0]) == 10
    # The same person's new photo scores high against the profile, an impostor low.
    threshold = CheckConfig().max_same_person_distance(profile.space)
    assert profile.distance(_cluster(1, 1, rng)[0]) < threshold
    assert profile.distance(_cluster(2, 1, rng)[0]) > threshold
    assert profile.ranked[0] in profile.kept and sorted(profile.ranked) == profile.kept


def test_an_outlier_is_dropped() -> None:
    rng = np.random.default_rng(RNG_SEED)
    emb = np.vstack([_cluster(1, 12, rng), _cluster(99, 1, rng)])
    profile = build_profile(emb)
    assert profile.dropped == [12]
    assert 12 not in profile.kept and len(profile.kept) == 12
    clean = build_profile(emb[:12])
    assert float(profile.mean_embedding @ clean.mean_embedding) > 0.999


def test_two_people_are_refused() -> None:
    rng = np.random.default_rng(RNG_SEED)
    emb = np.vstack([_cluster(1, 10, rng), _cluster(2, 10, rng)])
    with pytest.raises(InconsistentIdentity, match="more than one person") as info:
        build_profile(emb)
    assert info.value.consistency < 0.62


def test_interleaved_two_people_are_refused_whatever_the_order() -> None:
    rng = np.random.default_rng(RNG_SEED)
    a, b = _cluster(3, 7, rng), _cluster(4, 6, rng)
    emb = np.empty((13, 512))
    emb[0::2], emb[1::2] = a, b
    with pytest.raises(InconsistentIdentity):
        build_profile(emb)


def test_consistency_is_leave_one_out() -> None:
    v = np.eye(512)[:3]
    # Orthogonal vectors: each is orthogonal to the mean of the others.
    assert abs(leave_one_out_consistency(v)) < 1e-9
    assert leave_one_out_consistency(np.vstack([v[0], v[0]])) == pytest.approx(1.0)


def test_profile_refuses_to_be_serialised() -> None:
    profile = build_profile(_cluster(1, 5, np.random.default_rng(0)))
    with pytest.raises(TypeError):
        pickle.dumps(profile)
    assert "0." not in repr(profile).split("consistency")[0]
    assert isinstance(profile, IdentityProfile)
