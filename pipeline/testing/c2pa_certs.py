"""A throwaway ES256 certificate chain (root CA -> signer) for C2PA signing in dev and tests.

Made in memory with `cryptography`; the signer certificate has the key usage C2PA wants
(digitalSignature, emailProtection EKU, not a CA). Never for production: an operator signs with
a certificate from a CA on the C2PA trust list.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrowawayChain:
    """PEM bytes: the chain to sign with (signer, root), its key, and the root (trust anchor)."""

    cert_chain_pem: bytes
    private_key_pem: bytes
    root_pem: bytes


def _name(common_name: str) -> object:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portrait Studio test"),
        ]
    )


def _key_usage(signer: bool) -> object:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=signer,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not signer,
        crl_sign=not signer,
        encipher_only=False,
        decipher_only=False,
    )


def make_test_chain(days: int = 30) -> ThrowawayChain:
    """A fresh root and signer certificate, valid from yesterday for `days` days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=days)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Portrait Studio test root")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)  # type: ignore[arg-type]
        .issuer_name(root_name)  # type: ignore[arg-type]
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)  # type: ignore[arg-type]
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signer_name = _name("Portrait Studio test signer")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(signer_name)  # type: ignore[arg-type]
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)  # type: ignore[arg-type]
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    root_pem = root.public_bytes(pem)
    return ThrowawayChain(
        cert_chain_pem=leaf.public_bytes(pem) + root_pem,
        private_key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        root_pem=root_pem,
    )
