"""Erasure, access export and retention in the domain, against a real Redis and a moved clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from studio import keys
from studio.clock import ManualClock
from studio.compaction import compact, compact_if_due, due_since, mark_due
from studio.domain import Studio
from studio.erasure import erase_user, finish_erasure
from studio.export import export_user
from studio.orders import OrderState
from studio.payments import LedgerEntry, Outcome
from studio.photos import PhotoRecord, PhotoRole, PhotoStatus
from studio.retention import purge_expired
from studio.sessions import ConsentRecord
from tests.disk_recovery import (
    blobs_naming,
    commands_naming,
    open_sealed,
    read_redis_files,
    recover_data_keys,
)
from tests.fixtures.redis_server import dump_redis, start_redis_server
from tests.fixtures.studio import SettingsFactory
from tests.render_support import walk_to_payment

USER = 4242


async def _user_with_paid_order(studio: Studio) -> str:
    await studio.sessions.record_consent(
        USER, ConsentRecord(policy_version="v1", text_sha256="ab" * 32, agreed_at=1.0)
    )
    order = await studio.orders.create(USER, USER, "en", studio.clock.now())
    await studio.sessions.set_order(USER, order.id)
    key = await studio.vault.key_for(USER)
    for i in range(3):
        record = PhotoRecord(
            file_id=f"FILE-{i}",
            file_unique_id=f"UNIQUE-{i}",
            role=PhotoRole.SELFIE,
            status=PhotoStatus.ACCEPTED,
        )
        await studio.photos.add(order.id, key, record)
    await studio.ledger.record_payment(
        LedgerEntry(
            charge_id="CHARGE-1",
            order_id=order.id,
            user_id=USER,
            amount=150,
            currency="XTR",
            paid_at=studio.clock.now(),
            outcome=Outcome.PAID,
        )
    )
    await walk_to_payment(studio, order, "studio")
    assert await studio.orders.pay(order.id, "CHARGE-1", 2.0)
    await studio.redis.set(keys.tap(USER, "abc"), b"1")
    return order.id


async def test_erasure_leaves_only_the_ledger_entry(studio: Studio) -> None:
    order_id = await _user_with_paid_order(studio)
    ref = (await studio.orders.get(order_id)).invoice_ref  # type: ignore[union-attr]
    assert await studio.redis.get(keys.invoice(ref)) == order_id.encode()
    before = await dump_redis(studio.redis)

    report = await erase_user(studio, USER)
    # The Stars payload Telegram keeps carries only `ref`: it resolves to nothing now.
    assert not await studio.redis.exists(keys.invoice(ref))

    assert report.orders == 1 and report.photos == 3 and report.ledger_entries_kept == 1
    after = await dump_redis(studio.redis)
    needles = (str(USER).encode(), order_id.encode())
    naming = [
        k
        for k, values in after.items()
        if any(n in k or any(n in v for v in values) for n in needles)
    ]
    assert naming == [keys.ledger("CHARGE-1").encode()], naming
    ledger = await studio.ledger.get("CHARGE-1")
    assert ledger is not None and ledger.user_id == USER
    # Crypto-shredding: the sealed photo records copied before erasure cannot be opened now.
    fields_and_blobs = before[keys.order_photos(order_id).encode()]
    blobs = fields_and_blobs[1::2]
    assert len(blobs) == 3 and not any(b"FILE-0" in blob for blob in blobs)
    # Nothing left in Redis unwraps (under the master key) to a key that opens them...
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from studio.crypto import UserKey

    master = AESGCM(studio.settings.master_key_bytes)
    for values in after.values():
        for value in values:
            try:
                raw = master.decrypt(value[:12], value[12:], b"ps-dek-v1" + str(USER).encode())
            except Exception:
                continue
            for blob in blobs:
                try:
                    UserKey(USER, raw).open(f"photo:{order_id}", blob)
                except ValueError:
                    continue
                raise AssertionError("an erased photo record could still be decrypted")
    # ...and neither does the fresh key a returning user would get.
    fresh_key = await studio.vault.key_for(USER)
    for blob in blobs:
        try:
            fresh_key.open(f"photo:{order_id}", blob)
        except ValueError:
            continue
        raise AssertionError("an erased photo record could still be decrypted")


async def test_export_matches_what_is_stored(studio: Studio) -> None:
    order_id = await _user_with_paid_order(studio)
    doc = await export_user(studio, USER)
    assert doc["consent"]["policy_version"] == "v1"
    assert doc["current_order"] == order_id
    [order] = doc["orders"]
    assert order["order"]["state"] == "paid"
    assert sorted(p["telegram_file_id"] for p in order["photos"]) == ["FILE-0", "FILE-1", "FILE-2"]
    assert order["payment"]["charge_id"] == "CHARGE-1"


async def test_retention_purges_abandoned_intake_and_reduces_closed_orders(
    studio: Studio, clock: ManualClock
) -> None:
    abandoned = await studio.orders.create(USER, USER, "en", clock.now())
    await studio.sessions.set_order(USER, abandoned.id)
    key = await studio.vault.key_for(USER)
    await studio.photos.add(
        abandoned.id, key, PhotoRecord(file_id="F", file_unique_id="U", role=PhotoRole.HEADSHOT)
    )

    clock.advance(23 * 3600)
    assert (await purge_expired(studio)).abandoned_intakes == 0
    clock.advance(2 * 3600)
    report = await purge_expired(studio)
    assert report.abandoned_intakes == 1
    assert not await studio.redis.exists(keys.order_photos(abandoned.id))
    order = await studio.orders.get(abandoned.id)
    assert order is not None and order.state is OrderState.CANCELLED
    assert (await studio.sessions.get(USER)).order_id == ""

    clock.advance(31 * 86400)
    report = await purge_expired(studio)
    assert report.reduced_orders == 1
    assert await studio.orders.get(abandoned.id) is None
    assert not await studio.redis.sismember(keys.user_orders(USER), abandoned.id)  # type: ignore[misc]


async def test_retention_never_purges_an_order_that_was_paid_meanwhile(
    studio: Studio, clock: ManualClock
) -> None:
    order = await studio.orders.create(USER, USER, "en", clock.now())
    key = await studio.vault.key_for(USER)
    await studio.photos.add(
        order.id, key, PhotoRecord(file_id="F", file_unique_id="U", role=PhotoRole.HEADSHOT)
    )
    # Paid, and a stale entry left in the open list (as an older release could leave it).
    await walk_to_payment(studio, order, "studio")
    assert await studio.orders.pay(order.id, "CHARGE-2", clock.now())
    await studio.redis.zadd(keys.OPEN_ORDERS, {order.id: clock.now()})
    clock.advance(25 * 3600)

    report = await purge_expired(studio)

    assert report.abandoned_intakes == 0
    assert await studio.redis.hlen(keys.order_photos(order.id)) == 1  # type: ignore[misc]
    stored = await studio.orders.get(order.id)
    assert stored is not None and stored.state is OrderState.PAID
    assert await studio.redis.zscore(keys.OPEN_ORDERS, order.id) is None


async def test_erasure_compacts_the_disk_so_nothing_of_the_user_can_be_recovered(
    studio: Studio, redis_dir: Path
) -> None:
    """AOF (base and increments) and RDB: before, the scanner finds the key; after, nothing."""
    order_id = await _user_with_paid_order(studio)
    # The order is paid, so its ledger entry stays; its order id is blanked there.
    sealed = await studio.redis.hgetall(keys.order_photos(order_id))  # type: ignore[misc]
    lengths = {len(blob) for blob in sealed.values()}
    fields = [f"photo:{order_id}"]
    master = studio.settings.master_key_bytes
    needles = [order_id.encode(), f"session:{USER}".encode(), f"user:{USER}:".encode()]
    needles.append(keys.tap(USER, "abc").encode())

    before = read_redis_files(redis_dir)
    recovered = recover_data_keys(before, master, USER)
    assert recovered, "the scanner must find the data key while it is on disk"
    opened = open_sealed(before, recovered, USER, fields, lengths)
    assert any(b"FILE-0" in plain for plain in opened)

    report = await erase_user(studio, USER)
    done = await finish_erasure(studio, USER, report.order_ids)

    assert done is not None and done.ran and done.aof and done.rdb
    assert await due_since(studio.redis) is None
    after = read_redis_files(redis_dir)
    assert any(p.name == "dump.rdb" for p in after.paths)
    assert any(p.name.endswith(".base.rdb") for p in after.paths)
    assert recover_data_keys(after, master, USER) == set()
    assert commands_naming(after, needles) == []
    assert blobs_naming(after, needles) == []
    entry = await studio.ledger.get("CHARGE-1")
    assert entry is not None and entry.order_id == "" and entry.user_id == USER
    print(
        f"compaction after /delete: {done.seconds * 1000:.0f} ms; "
        f"{len(after.paths)} files, {after.size} bytes scanned"
    )


async def test_a_compaction_mark_left_by_a_dead_process_is_compacted_by_the_cron_check(
    studio: Studio, redis_dir: Path
) -> None:
    """Erased, then the process died before compacting: `compact_if_due` finishes the job."""
    await _user_with_paid_order(studio)
    await erase_user(studio, USER)  # no finish_erasure: the process "died" here
    assert await due_since(studio.redis) is not None

    done = await compact_if_due(studio.redis)

    assert done is not None and done.ran
    assert (
        recover_data_keys(read_redis_files(redis_dir), studio.settings.master_key_bytes, USER)
        == set()
    )
    assert await compact_if_due(studio.redis) is None  # nothing due any more: one MGET


async def test_retention_blanks_the_order_id_then_deletes_the_ledger_entry(
    studio: Studio, clock: ManualClock
) -> None:
    order_id = await _user_with_paid_order(studio)
    ref = (await studio.orders.get(order_id)).invoice_ref  # type: ignore[union-attr]
    await studio.orders.claim(order_id, clock.now())
    assert await studio.orders.deliver(order_id, clock.now())
    await studio.ledger.close("CHARGE-1", Outcome.DELIVERED, clock.now())
    entry = await studio.ledger.get("CHARGE-1")
    assert entry is not None and entry.order_id == order_id  # the reconciler's link, while alive

    clock.advance(31 * 86400)  # past ORDER_TTL_DAYS: the order is reduced to its ledger entry
    report = await purge_expired(studio)
    assert report.reduced_orders == 1 and report.ledger_entries_deleted == 0
    entry = await studio.ledger.get("CHARGE-1")
    assert entry is not None and entry.order_id == "" and entry.user_id == USER
    assert not await studio.redis.exists(keys.invoice(ref))  # the payload's ref leads nowhere
    assert await due_since(studio.redis) is not None  # what retention deleted leaves the disk too

    clock.advance((studio.settings.ledger_retention_days - 31) * 86400 - 3600)
    assert (await purge_expired(studio)).ledger_entries_deleted == 0
    clock.advance(2 * 3600)
    assert (await purge_expired(studio)).ledger_entries_deleted == 1
    assert await studio.ledger.get("CHARGE-1") is None
    assert await studio.redis.zcard(keys.LEDGER_INDEX) == 0
    assert not await studio.redis.exists(keys.user_charges(USER))


async def test_an_open_ledger_entry_is_never_purged(studio: Studio, clock: ManualClock) -> None:
    await _user_with_paid_order(studio)  # paid, not yet delivered: outcome "paid"
    clock.advance((studio.settings.ledger_retention_days + 1) * 86400)
    await purge_expired(studio)
    entry = await studio.ledger.get("CHARGE-1")
    assert entry is not None and entry.outcome is Outcome.PAID


async def test_idle_users_are_erased_after_idle_user_days(
    studio: Studio, clock: ManualClock
) -> None:
    """Session, data key and orders go after IDLE_USER_DAYS without an update; not before."""
    other = USER + 1
    for user in (USER, other):
        await studio.sessions.record_consent(
            user, ConsentRecord(policy_version="v1", text_sha256="ab" * 32, agreed_at=1.0)
        )
        await studio.vault.key_for(user)
    await studio.redis.zadd(keys.ACTIVE_USERS, {str(USER): clock.now()})
    clock.advance(100 * 86400)
    await studio.redis.zadd(keys.ACTIVE_USERS, {str(other): clock.now()})  # active later

    clock.advance((studio.settings.idle_user_days - 100) * 86400 - 60)
    assert (await purge_expired(studio)).idle_users_erased == 0
    clock.advance(120)
    report = await purge_expired(studio)

    assert report.idle_users_erased == 1
    assert not await studio.redis.exists(keys.session(USER), keys.data_key(USER))
    assert await studio.redis.zscore(keys.ACTIVE_USERS, str(USER)) is None
    assert (await studio.sessions.get(other)).consented
    assert await studio.redis.exists(keys.data_key(other))
    assert await due_since(studio.redis) is not None


async def test_an_idle_user_with_a_paid_undelivered_order_is_kept(
    studio: Studio, clock: ManualClock
) -> None:
    order_id = await _user_with_paid_order(studio)
    await studio.redis.zadd(keys.ACTIVE_USERS, {str(USER): clock.now()})
    clock.advance((studio.settings.idle_user_days + 1) * 86400)

    report = await purge_expired(studio)

    assert report.idle_users_erased == 0
    assert await studio.orders.get(order_id) is not None
    assert await studio.redis.exists(keys.data_key(USER))


async def test_a_redis_killed_before_compacting_is_compacted_after_its_restart(
    make_settings: SettingsFactory, tmp_path: Path, clock: ManualClock
) -> None:
    """SIGKILL after the erasure's deletes, before any compaction: the mark is in the AOF."""
    proc, port = start_redis_server(tmp_path)
    settings = make_settings(redis_url=f"redis://127.0.0.1:{port}/0")
    master = settings.master_key_bytes
    studio = await Studio.open(settings, clock=clock)
    try:
        await _user_with_paid_order(studio)
        await erase_user(studio, USER)
        assert recover_data_keys(read_redis_files(tmp_path), master, USER)  # still on disk
        proc.kill()
        proc.wait(timeout=10)
        await studio.close()
        proc, _ = start_redis_server(tmp_path, port)
        studio = await Studio.open(settings, clock=clock)
        assert not await studio.redis.exists(keys.data_key(USER))  # the deletes survived
        assert await due_since(studio.redis) is not None  # and so did the mark

        done = await compact_if_due(studio.redis)  # what the cron runs every 10 s

        assert done is not None and done.ran
        assert recover_data_keys(read_redis_files(tmp_path), master, USER) == set()
    finally:
        await studio.close()
        proc.terminate()
        proc.wait(timeout=10)


async def test_concurrent_erasures_share_their_compactions(studio: Studio) -> None:
    """Five erasures marked at once and compacting together: all covered, two rewrites at most."""
    redis = studio.redis
    marks = [await mark_due(redis) for _ in range(5)]
    before = int((await redis.info("persistence"))["aof_rewrites"])

    results = await asyncio.gather(*(compact(redis, since) for since in marks))

    rewrites = int((await redis.info("persistence"))["aof_rewrites"]) - before
    assert 1 <= rewrites <= 2, rewrites  # one running rewrite serves every caller it covers
    assert all(r.ran or r.waited_s > 0 for r in results)
    assert await due_since(redis) is None
