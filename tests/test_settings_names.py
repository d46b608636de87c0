"""One naming scheme for model folders: <WHAT>_DIR; an old name is refused, never ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from studio.settings import RENAMED_SETTINGS, Settings

# Settings that name a model folder (the stack's weights, each model, the face pack's root).
MODEL_FOLDERS = {
    "weights_dir",
    "face_dir",
    "sdxl_dir",
    "ip_adapter_dir",
    "image_encoder_dir",
    "lora_dir",
    "flux2_dir",
}


def test_every_model_folder_setting_is_named_dir() -> None:
    assert set(Settings.model_fields) >= MODEL_FOLDERS
    assert {new.lower() for new in RENAMED_SETTINGS.values()} <= MODEL_FOLDERS
    stray = {name for name in Settings.model_fields if name.endswith(("_root", "_model", "_path"))}
    assert stray <= {"c2pa_cert_path", "c2pa_key_path"}, stray


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED_SETTINGS.items()))
def test_an_old_name_in_the_environment_is_refused_with_the_new_one(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> None:
    monkeypatch.setenv(old, "/models/somewhere")
    with pytest.raises(ValidationError, match=f"{old} is now {new}"):
        Settings()
    monkeypatch.delenv(old)
    monkeypatch.setenv(new, "/models/somewhere")
    assert str(getattr(Settings(), new.lower())) == "/models/somewhere"


def test_an_old_name_in_the_env_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("MODE=dev\n# SDXL_MODEL=commented out is fine\nsdxl_model=/m\n")
    with pytest.raises(ValidationError, match="SDXL_MODEL is now SDXL_DIR"):
        Settings()
    (tmp_path / ".env").write_text("MODE=dev\n# SDXL_MODEL=/commented/out\nSDXL_DIR=/m\n")
    assert Settings().sdxl_dir == "/m"
