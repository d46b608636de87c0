"""The shipped deploy files run real commands: every ExecStart, compose command and Procfile
line parses as a `portrait-studio` command line, and the compose file has every role."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from portrait_studio.cli import build_parser
from worker import WORKERS

ROOT = Path(__file__).resolve().parent.parent


def _parses(argv: list[str]) -> None:
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on a bad command line
        pytest.fail(f"not a portrait-studio command: {argv} ({exc})")


def test_systemd_units_start_portrait_studio_commands() -> None:
    units = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
    assert len(units) >= 2
    for unit in units:
        (exec_start,) = re.findall(r"^ExecStart=(.+)$", unit.read_text(), re.MULTILINE)
        argv = shlex.split(exec_start.replace("%i", "render"))
        assert argv[0].endswith("/portrait-studio"), unit.name
        _parses(argv[1:])


def test_compose_runs_every_role_with_redis_and_a_gpu_for_render() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "bot", *WORKERS} <= set(services)
    assert "deploy/redis.conf" in " ".join(services["redis"]["volumes"])
    devices = services["render"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    for name in ("bot", *WORKERS):
        service = services[name]
        entry = ["bot"] if service["build"]["target"] == "bot" else ["worker"]
        argv = service["command"] if name == "bot" else [*entry, *service["command"]]
        _parses(argv)


def test_dockerfile_has_a_bot_and_a_worker_target_and_installs_with_constraints() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM .+ AS bot$", text, re.MULTILINE)
    assert re.search(r"^FROM .+ AS worker$", text, re.MULTILINE)
    assert "-c constraints.txt '.[bot]'" in text and "-c constraints.txt '.[worker]'" in text
