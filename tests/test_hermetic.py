"""The test run is hermetic: its Redis is provably its own, each bot has its own token, and no
process a test starts outlives it (tests/fixtures/redis_server.py, emulator.py, hermetic.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from redis.asyncio import Redis

from studio.settings import Settings
from tests.fixtures import redis_server as fixture
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator
from tests.fixtures.hermetic import leftover, live_children
from tests.fixtures.redis_server import RedisServer, launch_redis_server, server_identity


def _foreign_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """Someone else's redis-server (another test run) on `port`."""
    binary = shutil.which("redis-server")
    assert binary is not None
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while server_identity(port) is None:
        assert proc.poll() is None, "the foreign redis-server did not start"
    return proc


async def test_the_session_redis_is_this_runs_own(redis: Redis, redis_server: RedisServer) -> None:
    info = await redis.info("server")
    assert info["process_id"] == redis_server.proc.pid
    assert info["run_id"] == redis_server.run_id
    # Its unix socket lies in the server's own temporary directory: no other run can reach it.
    by_socket = Redis.from_url(redis_server.socket_url)
    try:
        assert (await by_socket.info("server"))["run_id"] == redis_server.run_id
    finally:
        await by_socket.aclose()


def test_a_foreign_redis_on_the_requested_port_is_refused(tmp_path: Path) -> None:
    """A PONG is not enough: the server answering must be the process we started."""
    port = fixture._free_port()
    foreign = _foreign_redis(port, tmp_path)
    (tmp_path / "ours").mkdir()
    try:
        with pytest.raises(pytest.fail.Exception, match="another redis-server"):
            launch_redis_server(tmp_path / "ours", port)
    finally:
        foreign.terminate()
        foreign.wait(timeout=10)


def test_a_port_taken_before_redis_binds_it_moves_to_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race with another run: a free port is taken between choosing and binding it."""
    taken = fixture._free_port()
    foreign = _foreign_redis(taken, tmp_path)
    free_port = fixture._free_port
    choices = iter([taken])
    monkeypatch.setattr(fixture, "_free_port", lambda: next(choices, None) or free_port())
    (tmp_path / "ours").mkdir()
    try:
        server = launch_redis_server(tmp_path / "ours")
        try:
            assert server.port != taken
            assert server_identity(server.port) == (server.proc.pid, server.run_id)
        finally:
            server.stop()
    finally:
        foreign.terminate()
        foreign.wait(timeout=10)


async def test_every_emulator_and_bot_has_its_own_token(
    emulator_factory: EmulatorFactory, emulator: RunningEmulator, bot_settings: Settings
) -> None:
    other = await emulator_factory()
    assert emulator.token != other.token
    assert bot_settings.telegram_bot_token.get_secret_value() == emulator.token
    # A bot holding another test's token is refused, as Telegram refuses a wrong token.
    status, body = await emulator.api("getMe")
    assert status == 200 and body["ok"]
    async with emulator.session.post(f"{emulator.url}/bot{other.token}/getMe") as response:
        assert response.status == 401


def test_a_process_left_running_is_found() -> None:
    before = live_children()
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert proc.pid in leftover(before, live_children())
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert leftover(before, live_children()) == {}
