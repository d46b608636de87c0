"""`portrait-studio all`: a killed role comes back (with backoff) and SIGTERM stops every one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portrait_studio.cli import DEFAULT_ROLES, resolve, with_health_ports
from portrait_studio.supervisor import Role, parse_procfile

ROOT = Path(__file__).resolve().parent.parent

# Each child writes its pid to a file named after its role, then sleeps until signalled.
CHILD = (
    "import os, pathlib, sys, time; "
    "pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); "
    "time.sleep(600)"
)


BACKOFF = ("--backoff", "0.2")


def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too (the supervisor reaps it soon after).
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_a_killed_role_is_restarted_and_sigterm_stops_all(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "# two roles\n"
        f"first: {sys.executable} -c '{CHILD}' {tmp_path / 'first.pid'}\n"
        f"second: {sys.executable} -c '{CHILD}' {tmp_path / 'second.pid'}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # no local redis-server for this Procfile
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "portrait_studio", "all", "--procfile", str(procfile), *BACKOFF],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        pid_file = {name: tmp_path / f"{name}.pid" for name in ("first", "second")}
        _wait_for(lambda: all(p.exists() and p.read_text() for p in pid_file.values()))
        first, second = (int(pid_file[n].read_text()) for n in ("first", "second"))
        pid_file["first"].unlink()
        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: pid_file["first"].exists() and pid_file["first"].read_text() != "")
        again = int(pid_file["first"].read_text())
        assert again != first
        assert _alive(again) and _alive(second), "the other role kept running"
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
        assert not _alive(again) and not _alive(second)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    assert supervisor.stderr is not None
    log = supervisor.stderr.read().decode()
    assert "first exited with -9" in log and "restarting in 0.2 s" in log


def test_procfile_parsing_refuses_malformed_lines() -> None:
    assert parse_procfile("bot: portrait-studio bot --webhook\n\n# c\n") == [
        Role("bot", ("portrait-studio", "bot", "--webhook"))
    ]
    for bad in ("no colon here", "two words: x", "bot:", "a: x\na: y"):
        with pytest.raises(ValueError):
            parse_procfile(bad)


def test_the_shipped_procfile_runs_the_roles_all_runs() -> None:
    shipped = [resolve(role) for role in parse_procfile((ROOT / "Procfile").read_text())]
    assert [r.argv[1:] for r in shipped] == [r.argv[1:] for r in DEFAULT_ROLES]


def test_health_ports_are_one_per_role() -> None:
    roles = with_health_ports(DEFAULT_ROLES, 9100)
    assert [dict(r.env)["HEALTH_PORT"] for r in roles] == ["9100", "9101", "9102", "9103"]
    assert with_health_ports(DEFAULT_ROLES, 0) == list(DEFAULT_ROLES)
