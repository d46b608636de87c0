"""Signed provenance: a C2PA manifest on every delivered file, made and read in memory.

The manifest says the picture was created (`c2pa.created`) by a trained model
(`trainedAlgorithmicMedia`, IPTC's term that C2PA readers and platforms look for), names the
provider, and carries the same content id as the EXIF/XMP labels and the invisible watermark,
plus the GB 45438-2025 implicit label (pipeline.labels.aigc_label) as its own assertion.

Signing uses the operator's certificate chain (PEM, leaf first) and private key (PEM), ES256 by
default. Streams only: the picture goes in as BytesIO and comes out as bytes, nothing touches the
disk (photos and portraits are never written anywhere).
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.labels import DIGITAL_SOURCE_TYPE, aigc_label

logger = logging.getLogger(__name__)

# The assertion label of the Chinese implicit label inside the manifest (our own namespace).
AIGC_ASSERTION = "cn.gb45438.aigc"
_ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")


class ProvenanceError(Exception):
    """The operator's certificate or key cannot sign, or a file's manifest is not valid."""


@dataclass(frozen=True)
class C2paCredentials:
    """The operator's signing material; `repr` never shows the key."""

    cert_chain_pem: bytes  # the signing certificate first, then intermediates
    private_key_pem: bytes
    algorithm: str = "es256"
    timestamp_url: str | None = None  # an RFC 3161 authority; None signs without a timestamp

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm {self.algorithm!r} not in {_ALGORITHMS}")
        if b"BEGIN CERTIFICATE" not in self.cert_chain_pem:
            raise ValueError("the C2PA certificate chain is not PEM")
        if b"PRIVATE KEY" not in self.private_key_pem:
            raise ValueError("the C2PA private key is not PEM")

    def __repr__(self) -> str:
        return f"C2paCredentials(algorithm={self.algorithm!r}, key=<hidden>)"

    @classmethod
    def from_files(
        cls,
        cert_path: Path,
        key_path: Path,
        algorithm: str = "es256",
        timestamp_url: str | None = None,
    ) -> C2paCredentials:
        """Read the operator's PEM files (the key file should be readable by the worker only)."""
        return cls(
            Path(cert_path).read_bytes(), Path(key_path).read_bytes(), algorithm, timestamp_url
        )


def _manifest(provider: str, cid: str, title: str) -> dict[str, Any]:
    return {
        "claim_generator_info": [{"name": provider}],
        "title": title,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            "softwareAgent": {"name": provider},
                        }
                    ]
                },
            },
            {"label": AIGC_ASSERTION, "data": aigc_label(provider, cid)},
        ],
    }


def _probe_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    return buffer.getvalue()


class ProvenanceSigner:
    """Signs delivered PNGs and JPEGs with a C2PA manifest; one per worker process."""

    def __init__(self, credentials: C2paCredentials, provider: str) -> None:
        import c2pa

        self.provider = provider
        info = c2pa.C2paSignerInfo(
            credentials.algorithm,
            credentials.cert_chain_pem,
            credentials.private_key_pem,
            credentials.timestamp_url,
        )
        try:
            self._signer = c2pa.Signer.from_info(info)
        except c2pa.C2paError as error:
            raise ProvenanceError(f"the C2PA certificate or key cannot sign: {error}") from error
        # No claim thumbnail: it would embed a second (downscaled) copy of the portrait in every
        # file, ~10x the signing time and up to a megabyte per PNG; the file is its own preview.
        self._context = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        # A key that does not match the certificate only shows when signing: find out at start,
        # not on a paying user's order.
        self.sign(_probe_png(), "image/png", "self-test")

    def sign(self, data: bytes, mime: str, cid: str, title: str = "portrait") -> bytes:
        """`data` (image/png or image/jpeg) with a signed manifest embedded, in memory."""
        import c2pa

        out = io.BytesIO()
        try:
            manifest = _manifest(self.provider, cid, title)
            with c2pa.Builder(manifest, context=self._context) as builder:
                builder.sign(self._signer, mime, io.BytesIO(data), out)
        except c2pa.C2paError as error:
            raise ProvenanceError(f"C2PA signing failed: {error}") from error
        return out.getvalue()

    def close(self) -> None:
        self._signer.close()
        self._context.close()


@dataclass(frozen=True)
class ManifestReport:
    """What a reader found in a file's active manifest."""

    validation_state: str  # "Valid", "Trusted" (with a trust anchor) or "Invalid"
    failures: tuple[str, ...]  # validation failure codes
    digital_source_types: tuple[str, ...]
    aigc: dict[str, Any] | None
    claim_generator: str


def read_manifest(data: bytes, mime: str, trust_anchors_pem: bytes | None = None) -> ManifestReport:
    """Read and validate a file's C2PA manifest in memory; raises ProvenanceError if none.

    Without `trust_anchors_pem` an operator's own certificate reads "Valid" with the one failure
    `signingCredential.untrusted`; with its root as the anchor it reads "Trusted".
    """
    import c2pa

    context = None
    if trust_anchors_pem is not None:
        context = c2pa.Context.from_dict(
            {
                "verify": {"verify_trust": True},
                "trust": {"trust_anchors": trust_anchors_pem.decode()},
            }
        )
    try:
        reader = c2pa.Reader(mime, io.BytesIO(data), context=context)
    except c2pa.C2paError as error:
        raise ProvenanceError(f"no readable C2PA manifest: {error}") from error
    with reader:
        manifest = reader.get_active_manifest() or {}
        state = reader.get_validation_state() or "Invalid"
        results = reader.get_validation_results() or {}
    failures = tuple(
        str(item.get("code")) for item in results.get("activeManifest", {}).get("failure", [])
    )
    sources: list[str] = []
    aigc = None
    for assertion in manifest.get("assertions", []):
        label = str(assertion.get("label", ""))
        if label.startswith("c2pa.actions"):
            for action in assertion.get("data", {}).get("actions", []):
                if "digitalSourceType" in action:
                    sources.append(str(action["digitalSourceType"]))
        elif label == AIGC_ASSERTION:
            aigc = dict(assertion.get("data", {}))
    generator = json.dumps(manifest.get("claim_generator_info", []), ensure_ascii=False)
    return ManifestReport(state, failures, tuple(sources), aigc, generator)
