"""Erasure, access export and retention in the domain, against a real Redis and a moved clock."""

from __future__ import annotations

from studio import keys
from studio.clock import ManualClock
from studio.domain import Studio
from studio.erasure import erase_user
from studio.export import export_user
from studio.orders import OrderState
from studio.payments import LedgerEntry, Outcome
from studio.photos import PhotoRecord, PhotoRole, PhotoStatus
from studio.retention import purge_expired
from studio.sessions import ConsentRecord
from tests.fixtures.redis_server import dump_redis
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
            paid_at=2.0,
            outcome=Outcome.PAID,
        )
    )
    await walk_to_payment(studio, order, "studio")
    assert await studio.orders.pay(order.id, "CHARGE-1", 2.0)
    await studio.redis.set(keys.tap(USER, "abc"), b"1")
    return order.id


async def test_erasure_leaves_only_the_ledger_entry(studio: Studio) -> None:
    order_id = await _user_with_paid_order(studio)
    before = await dump_redis(studio.redis)

    report = await erase_user(studio, USER)

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
