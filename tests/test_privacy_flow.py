"""/delete, /mydata and consent withdrawal through the real bot, intake and render workers.

Each /delete test then scans every Redis key and value: nothing may name the user (their id,
their order ids, their photos' file ids) except the payments-ledger entry, and no message may
reach the user after the confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.texts import text
from emulator.client import latest_text
from pipeline.decode import decode_image
from pipeline.labels import mark_present, read_label
from studio import keys
from studio.crypto import UserKey
from studio.orders import OrderState
from studio.payments import Outcome
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, button
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.redis_server import Dump, dump_redis
from tests.fixtures.studio import SettingsFactory
from tests.privacy_scans import (
    MIN_FLOAT_RUN,
    DiskWatch,
    RedisCommandLog,
    find_needles,
    float_runs,
    linking_needles,
    longest_plausible_run,
)
from tests.render_support import delivered_originals, preview_photos, render_bot_settings

USER = 987_654_321
USER_NAME = "Xiaoming-Unique-Name"
FLOAT_RUN = re.compile(r"(-?\d+\.\d+[,\s]+){8,}")  # eight numbers in a row: an embedding
DONE_PREFIX = text("en", "delete_done", orders=0, photos=0, refunded=0, ledger=0).split(":")[0]


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    """The bot_env settings plus tiny generation models, for the render worker."""
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


class DiskWrites:
    """Records every file opened for writing while active (a Python audit hook, all threads)."""

    _installed: ClassVar[list[DiskWrites]] = []

    def __init__(self) -> None:
        self.paths: list[str] = []
        if not DiskWrites._installed:
            sys.addaudithook(DiskWrites._hook)  # hooks cannot be removed: install once
        self.active = False

    def __enter__(self) -> DiskWrites:
        self.active = True
        DiskWrites._installed.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False
        DiskWrites._installed.remove(self)
        DiskWrites._installed.append(self)  # keep the hook's list non-empty (installed once)

    @staticmethod
    def _hook(event: str, args: tuple[Any, ...]) -> None:
        if event != "open" or not DiskWrites._installed:
            return
        path, mode, flags = args[0], args[1], args[2]
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        if isinstance(flags, int):  # os.open, and what open() passes down
            writing = writing or bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if writing and not str(path).startswith("/dev/"):
            for recorder in DiskWrites._installed:
                if recorder.active:
                    recorder.paths.append(str(path))


def test_the_disk_write_recorder_sees_writes(tmp_path: Path) -> None:
    with DiskWrites() as writes:
        (tmp_path / "a.bin").write_bytes(b"x")
        os.close(os.open(tmp_path / "b.bin", os.O_WRONLY | os.O_CREAT))
        (tmp_path / "a.bin").read_bytes()
    assert writes.paths == [str(tmp_path / "a.bin"), str(tmp_path / "b.bin")]


async def user_needles(env: BotEnv, order_ids: list[str]) -> list[bytes]:
    """What would name the user: their id, their orders, their photos' Telegram ids."""
    needles = [str(USER).encode(), *(oid.encode() for oid in order_ids)]
    for message in await env.client.messages(USER, include_user=True):
        if message["from_bot"]:
            continue
        for item in [*message.get("photo_sizes", []), *message.get("files", [])]:
            needles += [item["file_id"].encode(), item["file_unique_id"].encode()]
    return needles


def known_secrets(settings: Settings) -> list[bytes]:
    """Secrets an operator holds: a value keyed by one of them links for anyone who has it."""
    return [
        settings.master_key_bytes,
        settings.payload_secret.get_secret_value().encode(),
        settings.telegram_bot_token.get_secret_value().encode(),
    ]


async def linking_forms(env: BotEnv, order_ids: list[str]) -> dict[bytes, str]:
    """The user's id (== their private chat's id) and their orders' ids, packed or hashed."""
    ids: list[int | str] = [USER, *order_ids]
    return linking_needles(ids, known_secrets(env.settings))


def embeddings_in(dump: Dump) -> list[str]:
    """Every key or value that holds an embedding-like run of floats (binary or text)."""
    return [
        f"{key!r}: {runs[0]}"
        for key, values in dump.items()
        for item in (key, *values)
        if (runs := float_runs(item))
    ]


async def redis_data_dir(env: BotEnv) -> Path:
    config = await env.studio.redis.config_get("dir")
    return Path(str(config["dir"]))


def naming_keys(dump: Dump, needles: list[bytes]) -> list[bytes]:
    return sorted(
        key
        for key, values in dump.items()
        if any(n in key or any(n in v for v in values) for n in needles)
    )


async def order_ids_of(env: BotEnv) -> list[str]:
    raw = await env.studio.redis.smembers(keys.user_orders(USER))  # type: ignore[misc]
    return sorted(x.decode() for x in raw)


async def delete_everything(env: BotEnv) -> tuple[dict[str, Any], int]:
    """/delete, confirm; returns the confirmation message and how many messages preceded it."""
    await env.client.send_text(USER, "/delete")
    ask = await env.wait_for(USER, lambda m: button(m, "erase:yes") is not None)
    await env.press(USER, ask, "erase:yes")
    confirmation = await env.wait_text(USER, DONE_PREFIX, timeout=30)
    return confirmation, len(await env.messages(USER))


async def pay_for_order(env: BotEnv) -> dict[str, Any]:
    """Walk to the invoice and pay it; returns once the bot confirmed the payment."""
    invoice = await env.reach_invoice(USER)
    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    await env.wait_text(USER, text("en", "payment_received_running").split("!")[0])
    return paid


async def assert_erased(
    env: BotEnv, order_ids: list[str], before: Dump, ledger_keys: list[bytes]
) -> int:
    """Nothing names the user but the ledger, and no sealed field of `before` opens now."""
    after = await dump_redis(env.studio.redis)
    # Hashes of the id link as well as the id: sha256(user id) in a key, a base64 HMAC under
    # the master key in a value, the id as a packed integer...
    linking = await linking_forms(env, order_ids)
    needles = await user_needles(env, order_ids) + list(linking)
    left = [key for key in naming_keys(after, needles) if key not in ledger_keys]
    assert left == [], [(key, find_needles(b"".join([key, *after[key]]), linking)) for key in left]
    assert naming_keys(after, needles) == sorted(ledger_keys)
    assert embeddings_in(after) == []
    for ledger_key in ledger_keys:
        fields = after[ledger_key][0::2]
        assert sorted(fields) == sorted(
            [
                b"charge_id",
                b"order_id",
                b"user_id",
                b"amount",
                b"currency",
                b"paid_at",
                b"outcome",
                b"closed_at",
            ]
        ), "the ledger entry holds more than the minimum"
    # Crypto-shredding: the copy taken before /delete holds sealed photo records; with the
    # master key and anything left in Redis, none of them can be opened.
    sealed = [
        (key.decode().split(":")[2], blob)
        for key, values in before.items()
        if key.endswith(b":photos")
        for blob in values[1::2]
    ]
    master = AESGCM(env.settings.master_key_bytes)
    candidates = []
    for values in after.values():
        for value in values:
            with contextlib.suppress(Exception):
                candidates.append(
                    master.decrypt(value[:12], value[12:], b"ps-dek-v1" + str(USER).encode())
                )
    for order_id, blob in sealed:
        for raw in candidates:
            with pytest.raises(ValueError):
                UserKey(USER, raw).open(f"photo:{order_id}", blob)
    return sum(len(v) + 1 for v in after.values())


async def assert_silent_after(env: BotEnv, count: int, seconds: float = 2.0) -> None:
    await asyncio.sleep(seconds)
    messages = await env.messages(USER)
    assert len(messages) == count, [latest_text(m) for m in messages[count - 1 :]]
    assert all(not m.get("edit_date") or m["message_id"] for m in messages)


async def test_delete_mid_intake(bot_env: BotEnv) -> None:
    await bot_env.consent(USER)
    await bot_env.send_headshot(USER)
    await bot_env.send_selfies(USER, 2)
    await bot_env.send_selfies(USER, 2, first=3)  # checks still in flight when /delete lands
    order_ids = await order_ids_of(bot_env)
    before = await dump_redis(bot_env.studio.redis)

    confirmation, count = await delete_everything(bot_env)

    assert "1 order" in latest_text(confirmation)
    await assert_silent_after(bot_env, count)
    await assert_erased(bot_env, order_ids, before, ledger_keys=[])


async def test_delete_mid_queue_refunds_and_dequeues(bot_env: BotEnv) -> None:
    paid = await pay_for_order(bot_env)
    order = await bot_env.current_order(USER)
    assert order.state is OrderState.PAID
    assert await bot_env.studio.redis.zscore(keys.RENDER_QUEUE, order.id) is not None
    before = await dump_redis(bot_env.studio.redis)

    confirmation, count = await delete_everything(bot_env)

    assert "150" in latest_text(confirmation)  # refunded
    [payment] = await bot_env.client.payments()
    assert payment["refunded"]
    assert await bot_env.studio.redis.zscore(keys.RENDER_QUEUE, order.id) is None
    ledger = await bot_env.studio.ledger.get(paid["charge_id"])
    assert ledger is not None and ledger.outcome is Outcome.REFUNDED
    await assert_silent_after(bot_env, count)
    await assert_erased(
        bot_env, [order.id], before, ledger_keys=[keys.ledger(paid["charge_id"]).encode()]
    )


async def test_delete_mid_render_aborts_refunds_and_sends_nothing_more(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    paid = await pay_for_order(bot_env)
    order = await bot_env.current_order(USER)
    # The render stalls downloading its inputs, so /delete finds it running.
    await bot_env.client.inject_fault("getFile", count=50, status=None, delay=1.5)
    await render_workers()
    for _ in range(200):
        fresh = await bot_env.studio.orders.get(order.id)
        if fresh is not None and fresh.state is OrderState.RENDERING:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the render never started")
    before = await dump_redis(bot_env.studio.redis)

    confirmation, count = await delete_everything(bot_env)

    assert "150" in latest_text(confirmation)
    assert [p["refunded"] for p in await bot_env.client.payments()] == [True]
    await bot_env.client.clear_faults()
    await assert_silent_after(bot_env, count, seconds=3.0)
    assert not [m for m in await bot_env.messages(USER) if m["kind"] in ("photo", "document")]
    await assert_erased(
        bot_env, [order.id], before, ledger_keys=[keys.ledger(paid["charge_id"]).encode()]
    )


async def test_full_flow_then_delete_keeps_only_the_ledger_and_logs_nothing_personal(
    bot_env: BotEnv,
    render_workers: RenderWorkerStarter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Consent → delivery → /mydata → /delete, with every log record captured and scanned."""
    caplog.set_level(logging.INFO)  # what production runs at, for every library
    for ours in ("bot", "jobs", "studio", "pipeline", "worker"):
        caplog.set_level(logging.DEBUG, logger=ours)  # and everything our own code says
    await render_workers()
    # Expected writers: redis-server (its data dir), and, when only inotify is allowed and every
    # process's writes are seen, the linters' caches (make test runs them before pytest).
    tool_caches = [Path.cwd() / name for name in (".mypy_cache", ".ruff_cache", ".pytest_cache")]
    disk = DiskWatch(ignore=[await redis_data_dir(bot_env), *tool_caches])
    with DiskWrites() as writes, disk:
        async with RedisCommandLog(bot_env.settings.redis_url) as commands:
            await bot_env.client.send_text(USER, "/help", first_name=USER_NAME)
            paid = await pay_for_order(bot_env)
            order = await bot_env.current_order(USER)
            done = text("en", "render_delivered", total=bot_env.settings.portraits_per_order)
            await bot_env.wait_text(USER, done, timeout=60)
    # Photos never reach the disk: bot, intake and render opened no file for writing (Python's
    # open, seen by the audit hook) and wrote no file at all (native code included: the watch).
    assert writes.paths == [], writes.paths
    assert disk.unexpected() == [], (disk.mechanism, disk.unexpected())
    # No command Redis ran during the order carried an embedding, even one deleted again.
    assert len(commands.commands) > 100
    carried = [
        (args[:2], runs[0])
        for args in commands.commands
        for runs in [float_runs(b"".join(args))]
        if runs
    ]
    assert carried == [], carried
    margin = max(longest_plausible_run(b"".join(args)) for args in commands.commands)
    print(
        f"embedding scan: {len(commands.commands)} Redis commands, "
        f"{sum(len(a) for args in commands.commands for a in args)} bytes; the longest run of "
        f"plausible floats in them is {margin} values (an embedding needs {MIN_FLOAT_RUN})"
    )

    # Every delivered image carries the visible mark and the provenance metadata: the preview
    # sheets, and each original in the .zip.
    delivered = [m for m in await bot_env.messages(USER) if m["kind"] in ("photo", "document")]
    files = [f for m in delivered for f in m["files"]]  # their file ids must never be logged
    sheets = [m for m in delivered if m["kind"] == "photo"]
    assert len(sheets) == preview_photos(bot_env.settings, bot_env.settings.portraits_per_order)
    images = [("sheet", await bot_env.client.file_bytes(m["files"][0]["file_id"])) for m in sheets]
    originals = await delivered_originals(bot_env.emulator, USER)
    assert len(originals) == bot_env.settings.portraits_per_order
    for name, data in images + originals:
        assert read_label(data).get("ai_generated"), name
        assert mark_present(decode_image(data)), name

    await bot_env.client.send_text(USER, "/mydata")
    await bot_env.wait_for(USER, lambda m: m["kind"] == "document" and "mydata" in str(m))
    before = await dump_redis(bot_env.studio.redis)
    # At rest, Redis holds no file id in plain text and nothing shaped like an embedding.
    needles = [n for n in await user_needles(bot_env, []) if n != str(USER).encode()]
    for key, values in before.items():
        for value in values:
            assert not any(n in value or n in key for n in needles), key
    assert embeddings_in(before) == []

    confirmation, count = await delete_everything(bot_env)

    assert " 0 ⭐" in latest_text(confirmation)  # delivered: nothing to refund
    assert [p["refunded"] for p in await bot_env.client.payments()] == [False]
    ledger = await bot_env.studio.ledger.get(paid["charge_id"])
    assert ledger is not None and ledger.outcome is Outcome.DELIVERED
    await assert_silent_after(bot_env, count)
    checked = await assert_erased(
        bot_env, [order.id], before, ledger_keys=[keys.ledger(paid["charge_id"]).encode()]
    )
    assert checked > 0
    print(f"erasure scan: {checked} keys and values checked after /delete")

    secrets = [
        bot_env.settings.telegram_bot_token.get_secret_value(),
        bot_env.settings.telegram_bot_token.get_secret_value().split(":")[1],
        USER_NAME,
        *(n.decode() for n in await user_needles(bot_env, []) if n != str(USER).encode()),
        *(f["file_id"] for f in files),
    ]
    assert len(caplog.records) > 20
    for record in caplog.records:
        line = record.getMessage() + (record.exc_text or "")
        leaked = [s for s in secrets if s in line]
        assert not leaked, f"log record {record.name}: {line!r} leaks {leaked}"
        assert not FLOAT_RUN.search(line), f"looks like an embedding: {line[:200]!r}"
        assert "JFIF" not in line and "\\x89PNG" not in line and len(line) < 2000, line[:200]


async def test_keep_my_data_changes_nothing(bot_env: BotEnv) -> None:
    await bot_env.consent(USER)
    await bot_env.client.send_text(USER, "/delete")
    ask = await bot_env.wait_for(USER, lambda m: button(m, "erase:no") is not None)
    await bot_env.press(USER, ask, "erase:no")
    await bot_env.wait_text(USER, text("en", "delete_kept"))
    assert (await bot_env.studio.sessions.get(USER)).consented


async def test_withdrawing_consent_is_erasure(bot_env: BotEnv) -> None:
    await bot_env.consent(USER)
    await bot_env.client.send_text(USER, "/privacy")
    policy = await bot_env.wait_for(USER, lambda m: button(m, "erase:ask") is not None)
    await bot_env.press(USER, policy, "erase:ask")
    ask = await bot_env.wait_for(USER, lambda m: button(m, "erase:yes") is not None)
    await bot_env.press(USER, ask, "erase:yes")
    await bot_env.wait_text(USER, DONE_PREFIX)
    assert not (await bot_env.studio.sessions.get(USER)).consented
    assert not await bot_env.studio.redis.exists(keys.data_key(USER))


async def test_mydata_matches_what_is_stored(bot_env: BotEnv) -> None:
    await bot_env.consent(USER)
    await bot_env.send_headshot(USER)
    await bot_env.send_selfies(USER, 2)
    await bot_env.wait_for(USER, lambda m: "Accepted: 2" in latest_text(m))
    await bot_env.client.send_text(USER, "/mydata")
    sent = await bot_env.wait_for(USER, lambda m: m["kind"] == "document")
    [file] = sent["files"]
    assert file["filename"] == "mydata.json"
    document = json.loads(await bot_env.client.file_bytes(file["file_id"]))

    order = await bot_env.current_order(USER)
    key = await bot_env.studio.vault.existing_key(USER)
    stored = await bot_env.studio.photos.records(order.id, key)
    [exported] = document["orders"]
    assert exported["order"]["id"] == order.id and exported["order"]["state"] == "selfies"
    assert sorted(p["telegram_file_id"] for p in exported["photos"]) == sorted(
        r.file_id for r in stored.values()
    )
    session = await bot_env.studio.sessions.get(USER)
    assert session.consent is not None
    assert document["consent"]["text_sha256"] == session.consent.text_sha256
    assert document["consent"]["policy_version"] == bot_env.settings.policy_version
