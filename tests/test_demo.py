"""`make demo` stays true: the scripted user walks the whole flow and the portraits arrive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_delivers_portraits_and_erases_the_user(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "scripts/demo.py", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    portraits = sorted(out.glob("portrait-*.png"))
    assert portraits, sorted(p.name for p in out.iterdir())
    assert "demo done" in done.stdout
    assert "Erased: 1 order" in done.stdout
