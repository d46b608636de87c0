"""Provenance on delivered files: C2PA manifests, the GB 45438 label, EXIF text, the mark font."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFont

from pipeline.labels import (
    MARK_FONT,
    add_visible_mark,
    encode_labelled_jpeg,
    encode_labelled_png,
    read_aigc,
    read_label,
)
from pipeline.provenance import (
    AIGC_ASSERTION,
    C2paCredentials,
    ProvenanceError,
    ProvenanceSigner,
    read_manifest,
)
from pipeline.testing.c2pa_certs import ThrowawayChain, make_test_chain

SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@pytest.fixture(scope="module")
def chain() -> ThrowawayChain:
    return make_test_chain()


@pytest.fixture(scope="module")
def signer(chain: ThrowawayChain) -> ProvenanceSigner:
    return ProvenanceSigner(
        C2paCredentials(chain.cert_chain_pem, chain.private_key_pem), "Portrait Studio"
    )


def _portrait() -> Image.Image:
    rng = np.random.default_rng(3)
    pixels = rng.integers(40, 200, (160, 128, 3), dtype=np.uint8)
    return add_visible_mark(Image.fromarray(pixels))


@pytest.mark.parametrize(("mime", "encode"), [("image/png", "png"), ("image/jpeg", "jpeg")])
def test_signed_file_reads_back_trusted_with_ai_source_and_labels_kept(
    chain: ThrowawayChain, signer: ProvenanceSigner, mime: str, encode: str
) -> None:
    image = _portrait()
    data = (
        encode_labelled_png(image, "Portrait Studio", "cid-1")
        if encode == "png"
        else encode_labelled_jpeg(image, "Portrait Studio", "cid-1")
    )
    signed = signer.sign(data, mime, "cid-1")

    plain = read_manifest(signed, mime)
    assert plain.validation_state == "Valid"
    assert plain.failures == ("signingCredential.untrusted",)  # our test root is on no list
    trusted = read_manifest(signed, mime, trust_anchors_pem=chain.root_pem)
    assert trusted.validation_state == "Trusted" and trusted.failures == ()
    assert SOURCE_TYPE in trusted.digital_source_types
    assert trusted.aigc is not None and trusted.aigc["ProduceID"] == "cid-1"
    assert "Portrait Studio" in trusted.claim_generator
    assert len(signed) - len(data) < 20_000  # the manifest, no embedded thumbnail copy
    # The metadata labels and the pixels survive signing.
    assert read_label(signed) == read_label(data)
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(signed)).convert("RGB")),
        np.asarray(Image.open(io.BytesIO(data)).convert("RGB")),
    )


def test_a_changed_pixel_breaks_the_manifest(signer: ProvenanceSigner) -> None:
    data = encode_labelled_png(_portrait(), "Portrait Studio", "cid-2")
    signed = bytearray(signer.sign(data, "image/png", "cid-2"))
    idat = signed.index(b"IDAT")
    signed[idat + 40] ^= 0xFF  # inside the compressed pixels, outside the manifest
    report = read_manifest(bytes(signed), "image/png")
    assert report.validation_state == "Invalid"
    assert any("dataHash.mismatch" in code for code in report.failures), report.failures


def test_unsigned_files_and_bad_keys_are_refused(chain: ThrowawayChain) -> None:
    data = encode_labelled_jpeg(_portrait(), "Portrait Studio", "cid-3")
    with pytest.raises(ProvenanceError):
        read_manifest(data, "image/jpeg")
    other = make_test_chain()
    mismatched = C2paCredentials(chain.cert_chain_pem, other.private_key_pem)
    with pytest.raises(ProvenanceError):
        ProvenanceSigner(mismatched, "Portrait Studio").sign(data, "image/jpeg", "cid-3")
    with pytest.raises(ValueError, match="PEM"):
        C2paCredentials(b"not a certificate", chain.private_key_pem)
    assert "PRIVATE" not in repr(C2paCredentials(chain.cert_chain_pem, chain.private_key_pem))


@pytest.mark.parametrize("encode", [encode_labelled_png, encode_labelled_jpeg])
def test_gb45438_implicit_label_names_attribute_provider_and_content_id(encode: object) -> None:
    data = encode(_portrait(), "人像工作室 Studio", "cid-4")  # type: ignore[operator]
    assert read_aigc(data) == {
        "Label": "1",
        "ContentProducer": "人像工作室 Studio",
        "ProduceID": "cid-4",
        "ReservedCode1": "",
        "ContentPropagator": "",
        "PropagateID": "",
        "ReservedCode2": "",
    }
    label = read_label(data)
    assert label["provider"] == "人像工作室 Studio" and label["content_id"] == "cid-4"


def test_exif_ascii_tags_hold_ascii_and_the_chinese_sits_in_unicode_tags() -> None:
    for provider in ("Portrait Studio", "人像工作室"):
        data = encode_labelled_jpeg(_portrait(), provider, "cid-5")
        exif = Image.open(io.BytesIO(data)).getexif()
        description = exif[0x010E]
        assert description.isascii() and "?" not in description, description
        assert description.startswith("AI-generated image")
        xp = exif[0x9C9C]
        comment = bytes(xp).decode("utf-16-le").rstrip("\x00")
        assert "AI生成" in comment and provider in comment
        user = exif.get_ifd(0x8769)[0x9286]
        assert user[:8] == b"UNICODE\x00" and "AI生成" in user[8:].decode("utf-16-le")


def test_the_mark_font_ships_real_cjk_glyphs() -> None:
    assert MARK_FONT.is_file() and MARK_FONT.stat().st_size < 64_000
    assert (MARK_FONT.parent / "OFL.txt").read_text().count("SIL OPEN FONT LICENSE") >= 1
    font = ImageFont.truetype(str(MARK_FONT), 64)
    for glyph in "生成":
        mask = np.asarray(font.getmask(glyph), np.uint8)
        # Outline type: many grey anti-aliasing levels and a stroke-rich shape, not a 12x12 bitmap.
        assert len(np.unique(mask)) > 32, glyph
        assert 0.15 < (mask > 127).mean() < 0.6, glyph
    assert not np.array_equal(
        np.asarray(font.getmask("生"), np.uint8), np.asarray(font.getmask("成"), np.uint8)
    )
    assert AIGC_ASSERTION
