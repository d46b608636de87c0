"""A small process supervisor: one child per role, a dead child restarted with backoff.

`portrait-studio all` runs the roles of a Procfile under it. A child that exits (crash, Redis
outage it did not survive, OOM kill) is started again after a delay that doubles from
`backoff_s` up to `backoff_max_s`, and falls back to `backoff_s` once a run lasted
`stable_s`; the other children keep running. SIGTERM or SIGINT stops every child (SIGTERM,
then SIGKILL after `stop_grace_s`) and ends the supervisor.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

logger = logging.getLogger(__name__)

POLL_S = 0.1


@dataclass(frozen=True)
class Role:
    """One line of a Procfile: a name and the command that runs it."""

    name: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()  # set for this role only (its health port)


def parse_procfile(text: str) -> list[Role]:
    """`name: command` lines; blank lines and `#` comments are skipped."""
    roles: list[Role] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip().isidentifier() or not command.strip():
            raise ValueError(f"Procfile line {number} is not 'name: command': {raw!r}")
        roles.append(Role(name.strip(), tuple(shlex.split(command))))
    if len({r.name for r in roles}) != len(roles):
        raise ValueError("Procfile names a role twice")
    return roles


def load_procfile(path: Path) -> list[Role]:
    return parse_procfile(path.read_text())


@dataclass
class Child:
    """A role's current process and its restart bookkeeping."""

    role: Role
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    next_start: float = 0.0
    delay_s: float = 0.0
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Runs `roles` until told to stop; see the module docstring for the restart rule."""

    def __init__(
        self,
        roles: Sequence[Role],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        stable_s: float = 30.0,
        stop_grace_s: float = 20.0,
    ) -> None:
        if not roles:
            raise ValueError("nothing to supervise")
        self.children = [Child(role) for role in roles]
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._stable_s = stable_s
        self._stop_grace_s = stop_grace_s
        self._stopping = False

    def stop(self, *_: object) -> None:
        """Ask the run loop to stop every child (safe from a signal handler)."""
        self._stopping = True

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT (or `stop()`); 0 when every child stopped cleanly."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, self._on_signal)
        try:
            while not self._stopping:
                now = time.monotonic()
                for child in self.children:
                    self._tend(child, now)
                time.sleep(POLL_S)
        finally:
            code = self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("supervisor: %s, stopping every role", signal.Signals(signum).name)
        self.stop()

    def _tend(self, child: Child, now: float) -> None:
        if child.proc is None:
            if now >= child.next_start:
                self._start(child, now)
            return
        code = child.proc.poll()
        if code is None:
            return
        child.proc = None
        child.exits.append(code)
        ran_s = now - child.started_at
        if ran_s >= self._stable_s:
            child.delay_s = self._backoff_s
        else:
            child.delay_s = min(self._backoff_max_s, max(self._backoff_s, child.delay_s * 2))
        child.next_start = now + child.delay_s
        child.restarts += 1
        logger.warning(
            "supervisor: %s exited with %s after %.1f s; restarting in %.1f s",
            child.role.name,
            code,
            ran_s,
            child.delay_s,
        )

    def _start(self, child: Child, now: float) -> None:
        try:
            env = {**self._env, **dict(child.role.env)}
            child.proc = subprocess.Popen(child.role.argv, env=env, cwd=self._cwd)
        except OSError as exc:
            logger.error("supervisor: %s could not start (%s)", child.role.name, exc)
            child.delay_s = min(self._backoff_max_s, max(self._backoff_s, child.delay_s * 2))
            child.next_start = now + child.delay_s
            return
        child.started_at = now
        logger.info("supervisor: %s started (pid %s)", child.role.name, child.proc.pid)

    def _stop_all(self) -> int:
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_grace_s
        failed = False
        for child in running:
            assert child.proc is not None
            try:
                code = child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("supervisor: %s ignored SIGTERM; killing it", child.role.name)
                child.proc.kill()
                code = child.proc.wait()
            failed = failed or code not in (0, -signal.SIGTERM)
        return 1 if failed else 0


def python_argv(*args: str) -> tuple[str, ...]:
    """A command run by this interpreter (so children use the same virtual environment)."""
    return (sys.executable, *args)
