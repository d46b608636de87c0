"""Production on one machine: `portrait-studio all` (kept for old habits and scripts).

The bot and both workers run under a supervisor that restarts a dead one with backoff
(portrait_studio/supervisor.py). When REDIS_URL is not set, a local redis-server is started in
./.redis-data with the persistence production runs (REDIS_PERSISTENCE: AOF with fsync every
second, Redis's default RDB snapshots, noeviction). Erasure compacts both after a /delete
(studio/compaction.py). A managed Redis must allow BGREWRITEAOF, BGSAVE and INFO for that; its
replicas and backups are outside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Re-exported: tests, the demo and the erasure benchmark read it from here (runpy).
from portrait_studio.local_redis import REDIS_PERSISTENCE

__all__ = ["REDIS_PERSISTENCE"]

if __name__ == "__main__":
    from portrait_studio.cli import main

    sys.exit(main(["all", *sys.argv[1:]]))
