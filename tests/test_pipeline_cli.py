"""The CLI on a folder of photos, with tiny models: portraits plus report.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.labels import read_label
from pipeline.testing.synthetic_photos import synthetic_face_photo


def test_cli_generate_writes_portraits_and_report(tmp_path: Path) -> None:
    selfies = tmp_path / "selfies"
    selfies.mkdir()
    (tmp_path / "head.jpg").write_bytes(synthetic_face_photo(61, 0, (128, 128)))
    for v in range(1, 4):
        (selfies / f"s{v}.jpg").write_bytes(synthetic_face_photo(61, v, (128, 128)))
    (selfies / "notes.txt").write_text("not a photo")
    (selfies / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "generate",
            "--headshot",
            str(tmp_path / "head.jpg"),
            "--selfies",
            str(selfies),
            "--pack",
            "hanfu",
            "--out",
            str(out),
            "--shots",
            "3",
            "--tiny",
            str(tmp_path / "models"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["headshot"]["reason"] == "ok"
    assert [s["reason"] for s in report["selfies"]] == ["ok"] * 3
    assert report["identity"]["consistency"] > 0.9
    assert len(report["outputs"]) == 3 and all("identity" in o for o in report["outputs"])
    assert {"checks", "profile", "generate", "review", "label"} <= set(report["seconds"])
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 3 and len(list(out.glob("*.jpg"))) == 3
    assert read_label(pngs[0].read_bytes())["ai_generated"] == "true"
