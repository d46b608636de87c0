"""Property-based tests (hypothesis) of the invoice payload's signing (studio/payments.py)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.payments import (
    MAX_PAYLOAD_BYTES,
    PayloadRef,
    new_invoice_ref,
    sign_payload,
    verify_payload,
)

SECRET = b"a test payload secret of 32 bytes+"
URLSAFE = string.ascii_letters + string.digits + "-_"

refs = st.builds(
    PayloadRef,
    invoice_ref=st.text(URLSAFE, min_size=1, max_size=22),
    user_id=st.integers(min_value=1, max_value=2**53),
    amount=st.integers(min_value=1, max_value=10**6),
)


@given(refs)
def test_a_signed_payload_verifies_to_its_reference_and_fits_telegram(ref: PayloadRef) -> None:
    payload = sign_payload(ref, SECRET)
    assert verify_payload(payload, SECRET) == ref
    assert 1 <= len(payload.encode()) <= MAX_PAYLOAD_BYTES


@given(refs, st.data())
def test_any_change_to_a_signed_payload_is_refused(ref: PayloadRef, data: st.DataObject) -> None:
    payload = sign_payload(ref, SECRET)
    at = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    replacement = data.draw(st.characters().filter(lambda c: c != payload[at]))
    forged = payload[:at] + replacement + payload[at + 1 :]
    assert verify_payload(forged, SECRET) is None


@given(refs, st.binary(min_size=1, max_size=64))
def test_a_payload_signed_under_another_secret_is_refused(ref: PayloadRef, other: bytes) -> None:
    if other == SECRET:
        return
    assert verify_payload(sign_payload(ref, other), SECRET) is None


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_verifying_any_text_never_raises_and_accepts_only_what_we_signed(text: str) -> None:
    ref = verify_payload(text, SECRET)
    assert ref is None or sign_payload(ref, SECRET) == text


def test_a_real_invoice_reference_fits() -> None:
    ref = PayloadRef(new_invoice_ref(), 2**53, 10**6)
    assert verify_payload(sign_payload(ref, SECRET), SECRET) == ref
