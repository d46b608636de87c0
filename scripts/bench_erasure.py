"""What one /delete costs on disk: a synthetic dataset, then an erasure and its compaction.

Starts a redis-server with production persistence (scripts/launch.py's REDIS_PERSISTENCE) in a
temporary directory, fills it with USERS users shaped like ours (session, data key, a delivered
order, its ledger entry, the index entries; a share of them mid-intake with sealed photos), then
runs `erase_user` + `finish_erasure` for one user and prints the time of each part, the AOF
rewrite and RDB save, the files' sizes, and the figures extrapolated to 1,000,000 users (the
rewrite is linear in the dataset: Redis forks and serialises every key).

    .venv/bin/python scripts/bench_erasure.py --users 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402

from studio import compaction, keys  # noqa: E402
from studio.domain import Studio  # noqa: E402
from studio.erasure import erase_user, finish_erasure  # noqa: E402
from studio.orders import Order, OrderState  # noqa: E402
from studio.settings import Settings  # noqa: E402

TARGET_USERS = 1_000_000
PHOTOS_MID_INTAKE = 25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(redis: Redis, users: int, intake_share: float) -> None:
    template = Order(
        id="x", user_id=1, chat_id=1, state=OrderState.DELIVERED, created_at=time.time()
    ).to_hash()
    template.update(pack="studio", price="150", charge_id="c", paid_at="1.0", delivered_at="2.0")
    now = time.time()
    intake_every = max(1, round(1 / intake_share)) if intake_share > 0 else 0
    pipe = redis.pipeline(transaction=False)
    for uid in range(10_000_000, 10_000_000 + users):
        order_id = f"o{uid:011d}"
        charge = f"stxCharge{uid:020d}"
        pipe.set(keys.data_key(uid), os.urandom(60))
        pipe.hset(
            keys.session(uid),
            mapping={
                "language": "en",
                "consent.policy_version": "2026-11-30",
                "consent.text_sha256": os.urandom(32).hex(),
                "consent.agreed_at": str(now),
                "declined_at": "0",
                "order_id": order_id,
            },
        )
        pipe.sadd(keys.user_orders(uid), order_id)
        pipe.hset(
            keys.order(order_id),
            mapping={
                **template,
                "id": order_id,
                "user_id": uid,
                "chat_id": uid,
                "charge_id": charge,
            },
        )
        pipe.zadd(keys.CLOSED_ORDERS, {order_id: now})
        pipe.hset(
            keys.ledger(charge),
            mapping={
                "charge_id": charge,
                "order_id": order_id,
                "user_id": uid,
                "amount": 150,
                "currency": "XTR",
                "paid_at": now,
                "outcome": "delivered",
                "closed_at": now,
            },
        )
        pipe.zadd(keys.LEDGER_INDEX, {charge: now})
        pipe.sadd(keys.user_charges(uid), charge)
        pipe.zadd(keys.ACTIVE_USERS, {str(uid): now})
        if intake_every and uid % intake_every == 0:
            photos = {os.urandom(12).hex(): os.urandom(170) for _ in range(PHOTOS_MID_INTAKE)}
            pipe.hset(keys.order_photos(order_id + "i"), mapping=photos)  # type: ignore[arg-type]
        if len(pipe) > 5000:
            pipe.execute()
    pipe.execute()


async def erase_one(settings: Settings, user_id: int) -> tuple[float, float, float]:
    """Seconds of erase_user (first sweep), finish_erasure's sweep, and its compaction."""
    studio = await Studio.open(settings)
    try:
        started = time.perf_counter()
        report = await erase_user(studio, user_id)
        erased = time.perf_counter()
        done = await finish_erasure(studio, user_id, report.order_ids)
        finished = time.perf_counter()
        assert done is not None and done.ran
        print(
            f"compaction: {done.waited_s:.2f} s waiting for a running rewrite, AOF rewrite "
            f"{done.aof_s:.2f} s, RDB save {done.rdb_s:.2f} s"
        )
        return erased - started, finished - erased - done.seconds, done.seconds
    finally:
        await studio.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--intake-share", type=float, default=0.01, help="users mid-intake")
    args = parser.parse_args()
    persistence = runpy.run_path(str(ROOT / "scripts" / "launch.py"))["REDIS_PERSISTENCE"]
    data_dir = Path(tempfile.mkdtemp(prefix="bench-erasure-"))
    port = free_port()
    binary = shutil.which("redis-server") or "redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir), *persistence],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        redis = Redis(port=port)
        for _ in range(200):
            try:
                redis.ping()
                break
            except Exception:
                time.sleep(0.05)
        started = time.perf_counter()
        fill(redis, args.users, args.intake_share)
        fill_s = time.perf_counter() - started
        # A first compaction, so the erasure's starts from a steady state (one base, no history).
        busy = ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
        while any(int(redis.info("persistence")[field]) for field in busy):  # type: ignore[index]
            time.sleep(0.05)  # Redis's own automatic rewrite (64 MB of growth), or a save
        redis.execute_command("BGREWRITEAOF")
        while any(int(redis.info("persistence")[field]) for field in busy):  # type: ignore[index]
            time.sleep(0.05)
        memory_info: dict[str, Any] = redis.info("memory")  # type: ignore[assignment]
        memory = int(memory_info["used_memory"])
        keys_total = int(redis.dbsize())  # type: ignore[arg-type]
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, redis_url=f"redis://127.0.0.1:{port}/0"
        )
        sweep_s, final_sweep_s, compact_s = asyncio.run(
            erase_one(settings, 10_000_000 + args.users // 2)
        )
        info: dict[str, Any] = redis.info("persistence")  # type: ignore[assignment]
        base = sum(p.stat().st_size for p in (data_dir / "appendonlydir").glob("*.base.*"))
        rdb = (data_dir / "dump.rdb").stat().st_size
        aof_s = float(info["aof_last_rewrite_time_sec"])
        rdb_s = float(info["rdb_last_bgsave_time_sec"])
        assert asyncio.run(_due(settings)) is None
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(data_dir, ignore_errors=True)
    scale = TARGET_USERS / args.users
    print(
        f"users {args.users:,} ({args.intake_share:.0%} mid-intake), {keys_total:,} keys, "
        f"{memory / 2**20:.0f} MiB in memory (filled in {fill_s:.1f} s)"
    )
    print(
        f"one /delete: erase_user {sweep_s * 1000:.0f} ms (before the confirmation), final sweep "
        f"{final_sweep_s * 1000:.0f} ms, compaction {compact_s * 1000:.0f} ms "
        f"(Redis: AOF rewrite {aof_s:.0f} s, RDB save {rdb_s:.0f} s, rounded)"
    )
    print(f"files after: AOF base {base / 2**20:.1f} MiB, dump.rdb {rdb / 2**20:.1f} MiB")
    sweeps = (sweep_s + final_sweep_s) * scale
    print(
        f"at {TARGET_USERS:,} users (x{scale:.0f}, linear): "
        f"memory ~{memory * scale / 2**30:.2f} GiB, sweeps ~{sweeps:.1f} s (keyspace walks), "
        f"compaction ~{compact_s * scale:.1f} s, "
        f"disk written per compaction ~{(base + rdb) * scale / 2**30:.2f} GiB"
    )
    print(
        f"erasure bound at {TARGET_USERS:,} users (press to clean disk): sweeps + compaction "
        f"~{sweeps + compact_s * scale:.0f} s, ~{sweeps + 2 * compact_s * scale:.0f} s when "
        "another erasure's compaction is running; a process killed mid-erasure adds up to "
        "the 10 s cron period"
    )
    return 0


async def _due(settings: Settings) -> float | None:
    studio = await Studio.open(settings)
    try:
        return await compaction.due_since(studio.redis)
    finally:
        await studio.close()


if __name__ == "__main__":
    sys.exit(main())
