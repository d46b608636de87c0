"""Weak secrets are refused in production: too short, low entropy, patterned, or shared.

An estimate, not a proof: the empirical entropy of a secret's own bytes (length x Shannon entropy
of its byte frequencies) is far below its true entropy for patterned input ("aaaa", "abab",
"0123") and near it for random input. A key from `generate_master_key()` or
`secrets.token_urlsafe(32)` estimates at 140 bits or more; the bar is MIN_BITS.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

MIN_BITS = 80.0  # 32 random hex digits (128 bits) estimate at about 90
MIN_PAYLOAD_SECRET_BYTES = 32
MAX_PERIOD = 8  # a secret that repeats a pattern this short is refused whatever its length


def estimated_bits(secret: bytes) -> float:
    """Length times the Shannon entropy of the secret's byte frequencies."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    total = len(secret)
    per_byte = -sum(n / total * math.log2(n / total) for n in counts.values())
    return total * per_byte


def _patterned(secret: bytes) -> bool:
    """A short pattern repeated, or a counting run (a constant step between bytes)."""
    if any(
        secret == (secret[:p] * (len(secret) // p + 1))[: len(secret)]
        for p in range(1, MAX_PERIOD + 1)
    ):
        return True
    steps = {(b - a) % 256 for a, b in itertools.pairwise(secret)}
    return len(steps) == 1


def weakness(secret: bytes, min_bytes: int) -> str | None:
    """Why `secret` is too weak to run production on, or None when it is strong enough."""
    if len(secret) < min_bytes:
        return f"too short ({len(secret)} bytes; at least {min_bytes})"
    if len(set(secret)) == 1:
        return "all one byte"
    if _patterned(secret):
        return "a repeated or counting pattern"
    bits = estimated_bits(secret)
    if bits < MIN_BITS:
        return f"low entropy (about {bits:.0f} bits; at least {MIN_BITS:.0f})"
    return None


def production_secret_problems(
    master_key: bytes, master_key_text: str, payload_secret: bytes, others: dict[str, str]
) -> list[str]:
    """Every reason production must refuse these secrets; `others`: other secrets by name."""
    problems = []
    master = weakness(master_key, 32)
    if master:
        problems.append(f"MASTER_KEY is {master}")
    payload = weakness(payload_secret, MIN_PAYLOAD_SECRET_BYTES)
    if payload:
        problems.append(f"PAYLOAD_SECRET is {payload}")
    if payload_secret in (master_key, master_key_text.encode()):
        problems.append("PAYLOAD_SECRET equals MASTER_KEY: each secret must be its own")
    for name, value in others.items():
        if value and value.encode() in (payload_secret, master_key_text.encode()):
            problems.append(f"{name} equals MASTER_KEY or PAYLOAD_SECRET: each must be its own")
    return problems
