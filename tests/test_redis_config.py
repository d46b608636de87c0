"""At start every process reads the live Redis config: dev warns, production refuses.

Real redis-servers, each started with one unsafe setting, and one with deploy/redis.conf.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from studio.redis_config import UnsafeRedisConfig, check_redis_config
from studio.settings import Mode

ROOT = Path(__file__).resolve().parent.parent
SAFE = ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(directory: Path, *args: str, password: str = "") -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, *args, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hello = f"AUTH {password}\r\nPING\r\n" if password else "PING\r\n"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(hello.encode())
                time.sleep(0.05)
                if b"+PONG" in conn.recv(64):
                    return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("redis-server did not start")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, password: str = "") -> int:
        proc, port = _start(tmp_path, *args, password=password)
        started.append(proc)
        return port

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("flags", "setting"),
    [
        (["--appendonly", "no", "--save", ""], "appendonly"),
        (["--appendonly", "no"], "appendonly"),
        (["--appendonly", "yes", "--appendfsync", "no"], "appendfsync"),
        ([*SAFE[:4], "--maxmemory-policy", "allkeys-lru"], "maxmemory-policy"),
        ([*SAFE[:4], "--maxmemory-policy", "volatile-ttl"], "maxmemory-policy"),
    ],
)
async def test_unsafe_redis_is_warned_about_in_dev_and_refused_in_production(
    server: object, flags: list[str], setting: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = server(*flags)  # type: ignore[operator]
    redis = Redis(port=port)
    try:
        with caplog.at_level(logging.WARNING, logger="studio.redis_config"):
            found = await check_redis_config(redis, Mode.DEV)
        assert [f.setting for f in found] == [setting]
        assert setting in caplog.text
        with pytest.raises(UnsafeRedisConfig, match=setting):
            await check_redis_config(redis, Mode.PROD)
    finally:
        await redis.aclose()


async def test_the_shipped_redis_conf_passes_in_production(server: object, tmp_path: Path) -> None:
    conf = (ROOT / "deploy" / "redis.conf").read_text()
    assert "requirepass" in conf and "bind " in conf
    local = tmp_path / "redis.conf"
    # The shipped file with this test's password (its placeholder must be replaced to run).
    local.write_text(conf.replace("CHANGE-ME-to-a-long-random-password", "test-password"))
    port = server(str(local), password="test-password")  # type: ignore[operator]
    redis = Redis(port=port, password="test-password")
    try:
        assert await check_redis_config(redis, Mode.PROD) == []
        assert await redis.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        await redis.aclose()
    unauthenticated = Redis(port=port)
    try:
        with pytest.raises(Exception, match=r"(?i)auth"):
            await unauthenticated.ping()
    finally:
        await unauthenticated.aclose()
