"""Reuse, opt-in: keeping the checked photos after delivery to order another style.

Through the real bot, the intake, render and delivery workers and the emulator: the opt-in on
the pack choice's message, the kept set after delivery, a second order in another pack with no
new upload, /mydata, "stop keeping", /delete, and the expiry (the project's clock and the
retention chore). Without the opt-in the delivery purges the photos as always.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from bot.kept_photos import keep_offer
from bot.texts import text
from emulator.client import latest_text
from studio import keys, retention
from studio.compaction import due_since
from studio.orders import Order, OrderState
from studio.photos import PhotoStatus
from studio.reuse import until_text
from studio.settings import Settings
from tests.disk_recovery import (
    blobs_naming,
    commands_naming,
    open_sealed,
    read_redis_files,
    recover_data_keys,
)
from tests.fixtures.bot import BotEnv, Message, RenderWorkerStarter, button
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

DAY_S = 86400


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


def _buttons(message: Message, prefix: str) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [
        str(item["callback_data"])
        for row in rows
        for item in row
        if str(item.get("callback_data", "")).startswith(prefix)
    ]


async def _user_photos(env: BotEnv, user: int) -> int:
    """How many photos the user has sent the bot."""
    messages = await env.client.messages(user, include_user=True)
    return sum(1 for m in messages if not m["from_bot"] and m.get("photo_sizes"))


async def _opt_in_and_pay(
    env: BotEnv, user: int, render_workers: RenderWorkerStarter, *, keep: bool
) -> Order:
    """Photos, a pack, (the opt-in), a payment, until the final message: the delivered order."""
    invoice = await env.reach_invoice(user)
    order = await env.current_order(user)
    offer = await env.wait_for(user, lambda m: button(m, "keep:yes") is not None)
    days = f"{env.settings.reuse_days:g}"
    assert f"for {days} days after it" in latest_text(offer)
    assert "/delete erases them" in latest_text(offer)
    if keep:
        answer = await env.press(user, offer, "keep:yes")
        assert answer["text"] == text("en", "keep_on", days=days)
        assert (await env.current_order(user)).keep_photos
        await env.wait_for(user, lambda m: button(m, f"keep:no:{order.id}") is not None)
    await render_workers()
    assert (await env.pay(user, invoice))["ok"]
    return await wait_for_state(env.studio, order.id, {OrderState.DELIVERED}, timeout=90)


async def _finals(env: BotEnv, user: int, count: int, timeout: float = 30.0) -> list[Message]:
    """The final delivery messages, once there are `count` of them."""
    done = text("en", "render_delivered", total=env.settings.portraits_per_order)
    deadline = time.monotonic() + timeout
    while True:
        messages = [m for m in await env.messages(user) if done in latest_text(m)]
        if len(messages) >= count:
            return messages
        assert time.monotonic() < deadline, f"{len(messages)} final messages, expected {count}"
        await asyncio.sleep(0.1)


async def test_without_the_opt_in_delivery_purges_the_photos_as_before(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user = bot_env, 6401
    order = await _opt_in_and_pay(env, user, render_workers, keep=False)
    [final] = await _finals(env, user, 1)
    redis = env.studio.redis
    assert not await redis.exists(keys.order_photos(order.id))
    assert not await redis.exists(keys.kept_photos(user))
    assert await redis.zscore(keys.KEPT_PHOTOS, str(user)) is None
    assert "kept" not in latest_text(final) and order.kept_until == 0
    seen = await env.message_ids(user)
    await env.press(user, final, "after:style:")
    await env.wait_new_text(user, "Step 1 of 3", seen)
    assert text("en", "kept_photos_gone") not in await env.client.texts(user)


async def test_kept_photos_order_another_pack_without_a_new_upload_until_they_expire(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user, studio = bot_env, 6402, bot_env.studio
    redis = studio.redis
    first = await _opt_in_and_pay(env, user, render_workers, keep=True)
    [final] = await _finals(env, user, 1)

    # The order's own photos went at delivery, as always; the checked ones are in the kept set.
    assert not await redis.exists(keys.order_photos(first.id))
    key = await studio.vault.existing_key(user)
    kept = await studio.photos.kept(user, key, studio.clock.now())
    assert kept is not None and first.kept_until == kept.until
    assert kept.until == pytest.approx(first.delivered_at + 7 * DAY_S, abs=5)
    assert kept.headshots == 1 and kept.selfies == env.settings.min_selfies
    assert all(r.status is PhotoStatus.ACCEPTED for r in kept.records.values())
    ttl = await redis.ttl(keys.kept_photos(user))
    assert 7 * DAY_S - 60 < ttl <= 7 * DAY_S
    assert await redis.zscore(keys.KEPT_PHOTOS, str(user)) == pytest.approx(kept.until)
    until = until_text(kept.until)
    assert f"until {until}" in latest_text(final)

    # /mydata shows them and until when, with a way to stop keeping them.
    await env.client.send_text(user, "/mydata")
    sent = await env.wait_for(user, lambda m: m["kind"] == "document" and "mydata" in str(m))
    assert f"kept until {until}" in latest_text(sent) and button(sent, "keep:stop")
    [file] = sent["files"]
    document = json.loads(await env.client.file_bytes(file["file_id"]))
    exported = document["kept_photos"]
    assert exported["kept_until"].startswith(until.removesuffix(" UTC").replace(" ", "T"))
    kept_ids = sorted(r.file_id for r in kept.records.values())
    assert sorted(p["telegram_file_id"] for p in exported["photos"]) == kept_ids

    # "Another style": straight to the packs, on the kept photos, nothing sent again.
    photos_sent = await _user_photos(env, user)
    downloads = len(await env.client.calls("getFile"))
    await env.press(user, final, "after:style:")
    await env.wait_text(user, "Using the photos you kept", timeout=15)
    second = await env.current_order(user)
    assert second.id != first.id and second.state is OrderState.STYLE
    assert second.photos.headshot is PhotoStatus.ACCEPTED
    assert second.photos.accepted == env.settings.min_selfies
    copied = await studio.photos.records(second.id, key)
    assert sorted(r.file_id for r in copied.values()) == kept_ids
    packs = await env.wait_for(user, lambda m: button(m, f"pack:{second.id}") is not None)
    other = next(d for d in _buttons(packs, f"pack:{second.id}:") if not d.endswith(first.pack))
    invoices = [m["message_id"] for m in await env.messages(user) if m["kind"] == "invoice"]
    pressed = await env.client.press(user, packs["message_id"], other)
    await env.answer_of(pressed["callback_query_id"])
    invoice = await env.wait_for(
        user, lambda m: m["kind"] == "invoice" and m["message_id"] not in invoices
    )
    assert (await env.pay(user, invoice))["ok"]
    delivered = await wait_for_state(studio, second.id, {OrderState.DELIVERED}, timeout=90)
    finals = await _finals(env, user, 2)
    assert delivered.pack != first.pack and delivered.pack == other.rsplit(":", 1)[1]
    # The render read the kept photos: no photo was sent again, and it downloaded them.
    assert await _user_photos(env, user) == photos_sent
    assert len(await env.client.calls("getFile")) >= downloads + 1 + env.settings.min_selfies
    assert not await redis.exists(keys.order_photos(second.id))  # its copy went at delivery
    assert await studio.photos.kept_until(user, studio.clock.now()) == kept.until

    # Expiry: by the project's clock the set is over at once; the retention chore deletes it.
    env.clock.advance(7 * DAY_S + 1)
    assert await studio.photos.kept(user, key, studio.clock.now()) is None
    await retention.purge_expired(studio)
    assert not await redis.exists(keys.kept_photos(user))
    assert await redis.zscore(keys.KEPT_PHOTOS, str(user)) is None
    seen = await env.message_ids(user)  # the first order's "Step 1 of 3" among them
    await env.press(user, finals[-1], "after:style:")
    await env.wait_text(user, text("en", "kept_photos_gone"), timeout=15)
    await env.wait_new_text(user, "Step 1 of 3", seen)
    assert (await env.current_order(user)).state is OrderState.HEADSHOT


async def test_stop_keeping_from_mydata_deletes_the_kept_photos(
    bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    env, user, studio = bot_env, 6403, bot_env.studio
    await _opt_in_and_pay(env, user, render_workers, keep=True)
    [final] = await _finals(env, user, 1)
    assert await studio.redis.exists(keys.kept_photos(user))
    await env.client.send_text(user, "/mydata")
    sent = await env.wait_for(user, lambda m: button(m, "keep:stop") is not None)
    await env.press(user, sent, "keep:stop")
    await env.wait_text(user, text("en", "kept_stopped"))
    assert not await studio.redis.exists(keys.kept_photos(user))
    assert await studio.redis.zscore(keys.KEPT_PHOTOS, str(user)) is None
    seen = await env.message_ids(user)
    await env.press(user, final, "after:style:")
    await env.wait_new_text(user, "Step 1 of 3", seen)


@pytest.mark.parametrize("way", ["/delete", "withdraw consent"])
async def test_delete_and_withdrawn_consent_erase_the_kept_photos(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, way: str
) -> None:
    env, user, studio = bot_env, 6404, bot_env.studio
    await _opt_in_and_pay(env, user, render_workers, keep=True)
    await _finals(env, user, 1)
    kept = await studio.photos.kept_count(user)
    assert kept == 1 + env.settings.min_selfies
    if way == "/delete":
        await env.client.send_text(user, "/delete")
    else:  # /privacy's "Withdraw consent and erase my data", then the same confirmation
        await env.client.send_text(user, "/privacy")
        policy = await env.wait_for(user, lambda m: button(m, "erase:ask") is not None)
        await env.press(user, policy, "erase:ask")
    ask = await env.wait_for(user, lambda m: button(m, "erase:yes") is not None)
    await env.press(user, ask, "erase:yes")
    done = await env.wait_text(user, "Done. Erased", timeout=30)
    assert f"{kept} photo references" in latest_text(done)
    assert not await studio.redis.exists(keys.kept_photos(user))
    assert await studio.redis.zscore(keys.KEPT_PHOTOS, str(user)) is None
    deadline = time.monotonic() + 30
    while await studio.redis.hexists(keys.ERASURES_PENDING, str(user)):  # type: ignore[misc]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    names_user = [
        name
        async for name in studio.redis.scan_iter(match=f"*{user}*")
        if not name.startswith(b"ps:ledger:")
    ]
    assert names_user == []


async def test_after_delete_the_disk_gives_up_no_kept_photo(
    bot_env: BotEnv, render_workers: RenderWorkerStarter, redis_dir: Path
) -> None:
    """As tests/test_erasure_disk.py, for the kept set: its records open before, none after."""
    env, user, studio = bot_env, 6406, bot_env.studio
    await _opt_in_and_pay(env, user, render_workers, keep=True)
    await _finals(env, user, 1)
    master = env.settings.master_key_bytes
    field = [f"kept:{user}"]
    await asyncio.sleep(1.1)  # appendfsync everysec: the last second reaches the file
    before = read_redis_files(redis_dir)
    kept_key = keys.kept_photos(user).encode()
    lengths = {len(c[-1]) for c in before.commands if len(c) > 3 and c[1] == kept_key}
    recovered = recover_data_keys(before, master, user)
    opened = open_sealed(before, recovered, user, field, lengths)
    key = await studio.vault.existing_key(user)
    kept = await studio.photos.kept(user, key, studio.clock.now())
    assert kept is not None
    ids = [r.file_id.encode() for r in kept.records.values()]
    assert lengths and all(any(i in plain for plain in opened) for i in ids)  # the control

    await env.client.send_text(user, "/delete")
    ask = await env.wait_for(user, lambda m: button(m, "erase:yes") is not None)
    await env.press(user, ask, "erase:yes")
    await env.wait_text(user, "Done. Erased", timeout=30)
    deadline = time.monotonic() + 60
    while await due_since(studio.redis) is not None or await studio.redis.hexists(  # type: ignore[misc]
        keys.ERASURES_PENDING, str(user)
    ):
        assert time.monotonic() < deadline, "no compaction within 60 s of /delete"
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.1)
    after = read_redis_files(redis_dir)
    assert recover_data_keys(after, master, user) == set()
    assert open_sealed(after, recovered, user, field, lengths) == []
    assert blobs_naming(after, [*ids, kept_key]) == []
    assert commands_naming(after, [*ids, kept_key]) == []


async def test_the_opt_in_can_be_undone_before_delivery(bot_env: BotEnv) -> None:
    env, user = bot_env, 6405
    await env.reach_invoice(user)
    order = await env.current_order(user)
    offer = await env.wait_for(user, lambda m: button(m, "keep:yes") is not None)
    await env.press(user, offer, "keep:yes")
    offer = await env.wait_for(user, lambda m: button(m, "keep:no") is not None)
    assert (await env.current_order(user)).keep_photos
    answer = await env.press(user, offer, "keep:no")
    assert answer["text"] == text("en", "keep_off")
    await env.wait_for(user, lambda m: button(m, f"keep:yes:{order.id}") is not None)
    assert not (await env.current_order(user)).keep_photos


def test_no_offer_when_reuse_days_is_zero() -> None:
    settings = Settings(_env_file=None, reuse_days=0)  # type: ignore[call-arg]
    assert keep_offer(settings, "en", "order") == ("", None)
    for lang in ("en", "zh"):
        shown, markup = keep_offer(Settings(_env_file=None, reuse_days=3), lang, "o")  # type: ignore[call-arg]
        assert "3" in shown and markup is not None
