"""Production on one machine: the bot and both workers as child processes, stopped together.

Reads the same environment as each process (TELEGRAM_BOT_TOKEN, REDIS_URL, MASTER_KEY, ...).
When REDIS_URL is not set, a local redis-server is started in ./.redis-data with the
persistence production runs (REDIS_PERSISTENCE below): AOF with fsync every second, and Redis's
default RDB snapshots. Erasure compacts both after a /delete (studio/compaction.py). A managed
Redis must allow BGREWRITEAOF, BGSAVE and INFO for that; its replicas and backups are outside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from studio.logs import configure_process

ROOT = Path(__file__).resolve().parent.parent

# What production runs, stated here once (tests/fixtures/redis_server.py runs the same):
# the AOF with fsync every second (Redis 7: multi-part files in appendonlydir/, an RDB-format
# base), and the RDB snapshots Redis itself defaults to.
REDIS_PERSISTENCE: tuple[str, ...] = (
    "--appendonly",
    "yes",
    "--appendfsync",
    "everysec",
    "--save",
    "3600 1 300 100 60 10000",
)


def start_local_redis(data_dir: Path, port: int = 6379) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed and REDIS_URL is not set")
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data_dir),
            *REDIS_PERSISTENCE,
        ],
    )


def main() -> int:
    env = dict(os.environ)
    if not env.get("TELEGRAM_BOT_TOKEN"):
        print("TELEGRAM_BOT_TOKEN is not set. For a local run without Telegram use: make demo")
        return 2
    env.setdefault("MODE", "prod")
    # Each child configures its own logging (studio.logs.configure_logging, redacted) at this
    # level, and keeps its model libraries offline and without telemetry.
    env.setdefault("LOG_LEVEL", "INFO")
    configure_process(env)
    children: list[subprocess.Popen[bytes]] = []
    if "REDIS_URL" not in env:
        children.append(start_local_redis(ROOT / ".redis-data"))
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
        time.sleep(0.3)
    py = sys.executable
    for argv in ([py, "-m", "bot"], [py, "worker.py", "intake"], [py, "worker.py", "render"]):
        children.append(subprocess.Popen(argv, cwd=ROOT, env=env))

    def stop(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Run until any process exits; then stop the rest so a supervisor can restart everything.
    while all(child.poll() is None for child in children):
        time.sleep(0.5)
    stop()
    for child in children:
        child.wait(timeout=60)
    failed = [c.returncode for c in children if c.returncode not in (0, -signal.SIGTERM)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
