"""A full order and /delete on production persistence, then an attack on Redis's files.

Redis runs as in production (AOF every second and RDB snapshots: scripts/launch.py). After
delivery and /delete, every file in Redis's --dir is read without Redis and with MASTER_KEY
(tests/disk_recovery.py): no data key of the user unwraps, so no sealed photo record opens; no
file id, file_unique_id or order id is anywhere; the user's id is only in the ledger entry.
The same scan on the files before /delete recovers the key and the file ids, so it can see.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.ext import ExtBot

from bot.client import make_bot
from bot.texts import text
from jobs.resources import RESOURCES, WorkerResources
from jobs.retention import ERASURE_RESUME_AFTER_S, finish_pending_erasures
from studio import keys
from studio.compaction import due_since
from studio.erasure import begin_erasure
from studio.payments import Outcome
from studio.settings import Settings
from tests.disk_recovery import (
    RedisFiles,
    blobs_naming,
    commands_naming,
    load_into_scratch_redis,
    open_sealed,
    read_redis_files,
    recover_data_keys,
)
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, button
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings

USER = 731_205_519
DONE_PREFIX = text("en", "delete_done", orders=0, photos=0, refunded=0, ledger=0).split(":")[0]
LEDGER_PREFIX = keys.ledger("").encode()


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


async def photo_ids(env: BotEnv) -> list[bytes]:
    """The Telegram ids of every photo the user sent."""
    ids: list[bytes] = []
    for message in await env.client.messages(USER, include_user=True):
        if not message["from_bot"]:
            for item in [*message.get("photo_sizes", []), *message.get("files", [])]:
                ids += [item["file_id"].encode(), item["file_unique_id"].encode()]
    return ids


def sealed_photos(files: RedisFiles, order_id: str) -> set[int]:
    """Lengths of the sealed photo records the files show being written."""
    photos_key = keys.order_photos(order_id).encode()
    return {len(c[-1]) for c in files.commands if len(c) > 2 and c[1] == photos_key}


async def test_full_order_then_delete_leaves_nothing_of_the_user_on_disk(
    bot_env: BotEnv,
    render_workers: RenderWorkerStarter,
    redis_dir: Path,
    tmp_path: Path,
) -> None:
    await render_workers()
    invoice = await bot_env.reach_invoice(USER)
    paid = await bot_env.pay(USER, invoice)
    assert paid["ok"], paid
    order = await bot_env.current_order(USER)
    done = text("en", "render_delivered", total=bot_env.settings.portraits_per_order)
    await bot_env.wait_text(USER, done, timeout=90)
    master = bot_env.settings.master_key_bytes
    fields = [f"photo:{order.id}"]
    await asyncio.sleep(1.1)  # appendfsync everysec: the last second reaches the file

    # The control: before /delete the files give up the data key and, with it, the file ids.
    before = read_redis_files(redis_dir)
    lengths = sealed_photos(before, order.id)
    recovered = recover_data_keys(before, master, USER)
    assert recovered and lengths, "the scan must find the data key and photos while on disk"
    opened = open_sealed(before, recovered, USER, fields, lengths)
    ids = await photo_ids(bot_env)
    assert any(i in plain for plain in opened for i in ids)

    await bot_env.client.send_text(USER, "/delete")
    ask = await bot_env.wait_for(USER, lambda m: button(m, "erase:yes") is not None)
    pressed_at = time.monotonic()
    await bot_env.press(USER, ask, "erase:yes")
    await bot_env.wait_text(USER, DONE_PREFIX, timeout=30)
    confirmed_at = time.monotonic()
    while await due_since(bot_env.studio.redis) is not None or not await bot_env.studio.redis.get(
        keys.COMPACTED_AT
    ):
        assert time.monotonic() - pressed_at < 60, "no compaction within 60 s of /delete"
        await asyncio.sleep(0.02)
    compacted_at = time.monotonic()
    await asyncio.sleep(1.1)  # whatever is written now is in the files when they are read

    after = read_redis_files(redis_dir)
    assert {p.name for p in after.paths} >= {"dump.rdb", "appendonly.aof.manifest"}
    assert recover_data_keys(after, master, USER) == set()
    assert open_sealed(after, recovered, USER, fields, lengths) == []  # pre-delete keys: gone
    user_id = str(USER).encode()
    needles = [*ids, order.id.encode(), f":{USER}".encode(), user_id]
    assert blobs_naming(after, needles) == []  # the ledger's user id is a binary integer there
    writes = commands_naming(after, needles)
    assert all(c[1].startswith(LEDGER_PREFIX) for c in writes), writes
    for aof in (False, True):  # what Redis itself would load from the RDB, and from the AOF
        loaded = await load_into_scratch_redis(redis_dir, tmp_path / f"aof-{aof}", aof=aof)
        naming = sorted(
            k for k, v in loaded.items() if any(n in k or n in x for n in needles for x in v)
        )
        assert naming == [keys.ledger(paid["charge_id"]).encode()], naming
        ledger = dict(zip(loaded[naming[0]][::2], loaded[naming[0]][1::2], strict=True))
        assert ledger[b"user_id"] == user_id and ledger[b"order_id"] == b""
    print(
        f"erasure bound: confirmation {confirmed_at - pressed_at:.2f} s after the press, disk "
        f"compacted {compacted_at - pressed_at:.2f} s after it; {len(after.paths)} files, "
        f"{after.size} bytes scanned after (before: {before.size})"
    )


@pytest.fixture
async def worker_bot(bot_env: BotEnv) -> AsyncIterator[ExtBot[None]]:
    """The Bot API client the intake worker's resources hold."""
    bot = make_bot(bot_env.settings, bot_env.studio)
    await bot.initialize()
    yield bot
    await bot.shutdown()


async def test_a_delete_whose_bot_died_midway_is_finished_by_the_intake_worker(
    bot_env: BotEnv, worker_bot: ExtBot[None], redis_dir: Path
) -> None:
    """The bot recorded the erasure and died: the cron refunds, erases and compacts."""
    invoice = await bot_env.reach_invoice(USER)
    paid = await bot_env.pay(USER, invoice)
    assert paid["ok"], paid
    await bot_env.wait_text(USER, text("en", "payment_received", position=1, eta="").split(":")[0])
    order = await bot_env.current_order(USER)
    await begin_erasure(bot_env.studio, USER)  # the handler's first step; then the process died
    ctx = {RESOURCES: WorkerResources(bot_env.studio, worker_bot)}

    assert await finish_pending_erasures(ctx) == "0 interrupted erasures finished"  # still live?
    bot_env.clock.advance(ERASURE_RESUME_AFTER_S + 1)
    assert await finish_pending_erasures(ctx) == "1 interrupted erasures finished"

    assert [p["refunded"] for p in await bot_env.client.payments()] == [True]
    ledger = await bot_env.studio.ledger.get(paid["charge_id"])
    assert ledger is not None and ledger.outcome is Outcome.REFUNDED and ledger.order_id == ""
    redis = bot_env.studio.redis
    assert not await redis.exists(keys.session(USER), keys.data_key(USER), keys.order(order.id))
    assert not await redis.exists(keys.ERASURES_PENDING)
    assert await due_since(redis) is None
    await asyncio.sleep(1.1)
    after = read_redis_files(redis_dir)
    assert recover_data_keys(after, bot_env.settings.master_key_bytes, USER) == set()
    assert blobs_naming(after, [order.id.encode(), str(USER).encode()]) == []
