"""Production refuses weak secrets: too short, low entropy, all one byte, patterned, or shared."""

from __future__ import annotations

import base64
import secrets

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.secret_strength import MIN_PAYLOAD_SECRET_BYTES, weakness
from studio.settings import Mode, Settings, generate_master_key


def _prod(**values: str) -> Settings:
    values = {
        "telegram_bot_token": "123:abc",
        "master_key": generate_master_key(),
        "payload_secret": secrets.token_urlsafe(32),
        **values,
    }
    return Settings(_env_file=None, mode=Mode.PROD, **values)  # type: ignore[call-arg,arg-type]


def _key(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def test_strong_generated_secrets_are_accepted() -> None:
    for _ in range(200):
        settings = _prod()
        assert len(settings.master_key_bytes) == 32


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"payload_secret": "a"}, "PAYLOAD_SECRET is too short"),
        ({"master_key": _key(bytes(32))}, "MASTER_KEY is all one byte"),
        ({"master_key": _key(b"\xff" * 32)}, "MASTER_KEY is all one byte"),
        ({"master_key": _key(bytes(range(32)))}, "MASTER_KEY is a repeated or counting pattern"),
        ({"master_key": _key(b"abcd" * 8)}, "MASTER_KEY is a repeated or counting pattern"),
        ({"payload_secret": "password" * 5}, "PAYLOAD_SECRET is a repeated or counting pattern"),
        ({"payload_secret": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"}, "PAYLOAD_SECRET is low entropy"),
    ],
)
def test_production_refuses_a_weak_secret(values: dict[str, str], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _prod(**values)


def test_production_refuses_a_payload_secret_equal_to_the_master_key() -> None:
    key = generate_master_key()
    with pytest.raises(ValueError, match="PAYLOAD_SECRET equals MASTER_KEY"):
        _prod(master_key=key, payload_secret=key)


def test_production_refuses_a_webhook_secret_equal_to_another() -> None:
    shared = secrets.token_urlsafe(32)
    with pytest.raises(ValueError, match="WEBHOOK_SECRET equals"):
        _prod(payload_secret=shared, webhook_secret=shared, webhook_url="https://x.example/hook")


def test_dev_mode_is_not_refused() -> None:
    dev = Settings(_env_file=None, payload_secret="a")  # type: ignore[call-arg,arg-type]
    assert dev.payload_secret.get_secret_value() == "a"


@given(st.binary(max_size=MIN_PAYLOAD_SECRET_BYTES - 1))
def test_anything_shorter_than_the_minimum_is_refused(secret: bytes) -> None:
    assert weakness(secret, MIN_PAYLOAD_SECRET_BYTES) is not None


@given(st.integers(0, 255), st.integers(32, 128))
def test_one_byte_repeated_is_refused_at_any_length(byte: int, length: int) -> None:
    assert weakness(bytes([byte]) * length, 32) == "all one byte"


@given(st.binary(min_size=2, max_size=8), st.integers(32, 128))
def test_a_short_pattern_repeated_is_refused_at_any_length(pattern: bytes, length: int) -> None:
    assert weakness((pattern * length)[:length], 32) is not None


@given(st.lists(st.binary(min_size=1, max_size=1), min_size=2, max_size=6), st.data())
def test_few_distinct_bytes_are_refused(alphabet: list[bytes], data: st.DataObject) -> None:
    """At most 6 distinct byte values (under 2.6 bits a byte): under 80 bits in 30 bytes."""
    secret = b"".join(data.draw(st.lists(st.sampled_from(alphabet), min_size=16, max_size=30)))
    assert weakness(secret, 16) is not None
