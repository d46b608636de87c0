"""During an order no process connects anywhere but the Bot API and Redis; telemetry is off.

The whole-order test runs the real bot, intake and render workers in this process and watches
every socket: a Python audit hook sees each connect, send-to and name lookup (all threads,
all libraries that go through Python's socket module), and a sampler reads this process's
sockets from /proc every few milliseconds, for connects made from native code (onnxruntime's
C++ telemetry client, uvloop) that no audit hook sees. The telemetry tests run the workers as
launched (`python worker.py`) with an empty home directory and find nothing written there.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from studio.logs import PROCESS_DEFAULTS
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import ROOT, render_bot_settings, settings_env
from tests.whole_order import run_whole_order

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
DNS_EVENTS = frozenset({"socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"})


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    """The bot_env settings plus tiny generation models, for the render worker."""
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


class Connections:
    """Destinations this process connects to or looks up while a recorder is active.

    Audit hooks cannot be removed, so one is installed for the whole session and does nothing
    unless a recorder is active.
    """

    _hook_installed: ClassVar[bool] = False
    _active: ClassVar[Connections | None] = None

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        if not Connections._hook_installed:
            sys.addaudithook(Connections._hook)
            Connections._hook_installed = True

    def __enter__(self) -> Connections:
        Connections._active = self
        return self

    def __exit__(self, *exc: object) -> None:
        Connections._active = None

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        recorder = Connections._active
        if recorder is None or not event.startswith("socket."):
            return
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            destination: Any = args[1]
        elif event == "socket.getaddrinfo":
            destination = (args[0], args[1])
        elif event in DNS_EVENTS:
            destination = args[0]
        else:
            return
        with recorder._lock:
            recorder.seen.append((event, destination))

    def outside(self, allowed: set[tuple[str, int]]) -> list[tuple[str, Any]]:
        """What went anywhere but `allowed` (host, port) pairs."""
        hosts = {host for host, _ in allowed}
        ports = {port for _, port in allowed}
        bad = []
        for event, destination in self.seen:
            if event == "socket.getaddrinfo":
                host, port = destination
                host = host.decode() if isinstance(host, bytes) else host
                ok = host in hosts and (port in (None, 0) or int(port) in ports)
            elif event in DNS_EVENTS:
                ok = False
            else:
                ok = isinstance(destination, tuple) and tuple(destination[:2]) in allowed
            if not ok:
                bad.append((event, destination))
        return bad


def _peer(hex_address: str) -> tuple[bytes, int]:
    """/proc/net's "ADDR:PORT" (address bytes in host order per 32-bit word) to (bytes, port)."""
    address, port = hex_address.split(":")
    raw = bytes.fromhex(address)
    words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
    return b"".join(words), int(port, 16)


def _is_loopback(address: bytes) -> bool:
    if len(address) == 4:
        return address[0] == 127
    if address == bytes(15) + b"\x01":
        return True
    return address[:12] == bytes(10) + b"\xff\xff" and address[12] == 127  # v4-mapped


class NativeSockets:
    """Samples this process's sockets from /proc; records any peer that is not this machine."""

    TABLES = ("tcp", "tcp6", "udp", "udp6")

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.remote: set[tuple[str, str]] = set()
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="native-sockets", daemon=True)

    def __enter__(self) -> NativeSockets:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def sample(self) -> None:
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        for table in self.TABLES:
            try:
                rows = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if len(fields) < 10 or fields[9] not in inodes:
                    continue
                address, port = _peer(fields[2])
                if port != 0 and not _is_loopback(address):
                    self.remote.add((table, fields[2]))
        self.samples += 1


def test_the_recorders_see_a_connect_a_lookup_and_a_native_peer() -> None:
    """Both watchers work: a refused connect, a name lookup, a socket with an outside peer."""
    import socket

    with Connections() as seen:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            sock.connect_ex(("127.0.0.1", 9))
        with pytest.raises(OSError):
            socket.getaddrinfo("telemetry.invalid", 443)
    assert seen.outside(set()) == [
        ("socket.connect", ("127.0.0.1", 9)),
        ("socket.getaddrinfo", ("telemetry.invalid", 443)),
    ]
    assert seen.outside({("127.0.0.1", 9)}) == [("socket.getaddrinfo", ("telemetry.invalid", 443))]

    native = NativeSockets()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.1", 53))  # a UDP "connect" sends nothing: it only sets the peer
        native.sample()
    assert native.remote, "the sampler did not see a socket with an outside peer"


def _allowed(settings: Settings) -> set[tuple[str, int]]:
    """The Bot API (the emulator) and Redis, as host and port."""
    allowed = set()
    for url in (settings.bot_api_base_url, settings.redis_url):
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        allowed.add((parts.hostname, parts.port))
    return allowed


async def test_a_whole_order_connects_only_to_the_bot_api_and_redis(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    with NativeSockets() as native, Connections() as seen:
        await run_whole_order(bot_env, render_workers)
        await asyncio.sleep(0.5)  # the workers' next poll and cron
    allowed = _allowed(bot_env.settings)
    assert seen.seen, "the audit hook saw no connection at all"
    assert {d for e, d in seen.seen if e == "socket.connect"} <= allowed
    assert seen.outside(allowed) == []
    assert native.samples > 10 and not native.remote, native.remote
    print(
        f"outbound: {len(seen.seen)} socket events, all to {sorted(allowed)}; "
        f"{native.samples} /proc samples, no outside peer"
    )


# Telemetry: the processes as launched --------------------------------------------------------


@pytest.fixture
def empty_home(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment whose home and cache are empty folders, without our process defaults."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in PROCESS_DEFAULTS}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    yield env


def _written(home: str) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in Path(home).rglob("*") if p.is_file())


def test_onnxruntime_writes_telemetry_unless_told_not_to(empty_home: dict[str, str]) -> None:
    """The control: a bare `import onnxruntime` fills ~/.cache, so the checks below can see it."""
    subprocess.run([sys.executable, "-c", "import onnxruntime"], env=empty_home, check=True)
    if not any("onnxruntime" in p for p in _written(empty_home["HOME"])):
        # Seen on a CI machine: its onnxruntime build or environment keeps no store at all, so
        # the checks below hold there but could not fail. Say so instead of failing the run.
        pytest.skip("this machine's onnxruntime writes no telemetry store even when not told to")


@pytest.mark.parametrize("kind", ["intake", "render"])
async def test_workers_as_launched_write_no_telemetry_and_nothing_at_home(
    kind: str, empty_home: dict[str, str], bot_settings: Settings, redis: Any
) -> None:
    """`python worker.py <kind> --burst` loads its models, runs its startup, exits."""
    env = {**settings_env(bot_settings), **empty_home, "LOG_LEVEL": "INFO"}
    for name in PROCESS_DEFAULTS:
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        kind,
        "--burst",
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, raw = await asyncio.wait_for(proc.communicate(), 180)
    stderr = raw.decode(errors="replace")
    assert proc.returncode == 0, stderr[-3000:]
    assert "worker ready" in stderr, stderr[-3000:]
    assert _written(empty_home["HOME"]) == []


def test_the_face_analyzer_alone_turns_onnxruntime_telemetry_off(
    empty_home: dict[str, str], tiny_face_root: Path
) -> None:
    """pipeline/ is used from notebooks too, without our entry points."""
    code = (
        "import sys; from pathlib import Path; from pipeline.faces import FaceAnalyzer; "
        "FaceAnalyzer('tiny_pack', Path(sys.argv[1]), providers=['CPUExecutionProvider'])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tiny_face_root)], cwd=ROOT, env=empty_home, check=True
    )
    assert _written(empty_home["HOME"]) == []
