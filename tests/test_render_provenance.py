"""The render worker's C2PA signer comes from settings; production refuses to render without one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jobs.generation import load_signer
from pipeline.labels import encode_labelled_png
from pipeline.provenance import ProvenanceError, read_manifest
from pipeline.testing.c2pa_certs import make_test_chain
from studio.settings import Mode, generate_master_key
from tests.fixtures.studio import SettingsFactory


def _portrait() -> Image.Image:
    return Image.fromarray(np.full((160, 128, 3), 90, np.uint8))


def test_production_without_a_certificate_refuses_and_dev_renders_unsigned(
    make_settings: SettingsFactory,
) -> None:
    secrets = {"master_key": generate_master_key(), "payload_secret": generate_master_key()}
    with pytest.raises(RuntimeError, match="C2PA_CERT_PATH and C2PA_KEY_PATH"):
        load_signer(make_settings(mode=Mode.PROD, **secrets))
    assert load_signer(make_settings()) is None


def test_the_operator_files_sign_and_a_wrong_key_is_refused(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    chain, other = make_test_chain(), make_test_chain()
    (tmp_path / "chain.pem").write_bytes(chain.cert_chain_pem)
    (tmp_path / "key.pem").write_bytes(chain.private_key_pem)
    (tmp_path / "other.pem").write_bytes(other.private_key_pem)
    settings = make_settings(
        c2pa_cert_path=str(tmp_path / "chain.pem"), c2pa_key_path=str(tmp_path / "key.pem")
    )
    signer = load_signer(settings)
    assert signer is not None
    png = encode_labelled_png(_portrait(), signer.provider, "cid-9")
    report = read_manifest(signer.sign(png, "image/png", "cid-9"), "image/png", chain.root_pem)
    assert report.validation_state == "Trusted"
    wrong = settings.model_copy(update={"c2pa_key_path": str(tmp_path / "other.pem")})
    with pytest.raises(ProvenanceError, match="C2PA signing failed"):
        load_signer(wrong)  # at the worker's start, not on an order
