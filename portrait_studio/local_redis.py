"""The local redis-server `portrait-studio all` starts when REDIS_URL is not set."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

# What production runs, stated here once (tests/fixtures/redis_server.py and deploy/redis.conf
# run the same): the AOF with fsync every second (Redis 7: multi-part files in appendonlydir/,
# an RDB-format base), and the RDB snapshots Redis itself defaults to.
REDIS_PERSISTENCE: tuple[str, ...] = (
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "3600 1 300 100 60 10000",
    "--maxmemory-policy",
    "noeviction",
)


def start_local_redis(data_dir: Path, port: int = 6379) -> subprocess.Popen[bytes]:
    """redis-server on 127.0.0.1:`port` with production persistence, once it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed and REDIS_URL is not set")
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
    proc = subprocess.Popen([*argv, *REDIS_PERSISTENCE])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"redis-server did not start on port {port}")
