"""Delivery: preview albums, then the originals as .zip parts, each confirmed or sent again."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from bot.delivery import (
    ZIP_END_OVERHEAD,
    ZIP_ENTRY_OVERHEAD,
    DeliveryLog,
    DeliveryReport,
    PortraitFile,
    Sent,
    Undeliverable,
    deliver_portraits,
    pack_archives,
    plan_albums,
)
from studio import keys
from studio.domain import Studio
from studio.orders import Order
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import StudioBot, bot_media, delivered_originals, make_queued_order


def _portraits(count: int) -> list[PortraitFile]:
    out = []
    for i in range(count):
        image = Image.new("RGB", (64, 80), (20 * i % 255, 90, 160))
        jpeg, png = io.BytesIO(), io.BytesIO()
        image.save(jpeg, "JPEG")
        image.save(png, "PNG")
        out.append(PortraitFile(index=i, album_jpeg=jpeg.getvalue(), full_png=png.getvalue()))
    return out


async def _always() -> bool:
    return True


@pytest.mark.parametrize(
    ("count", "sizes"),
    [(2, [2]), (4, [4]), (10, [10]), (11, [6, 5]), (20, [10, 10]), (21, [7, 7, 7]), (1, [1])],
)
def test_albums_hold_two_to_ten(count: int, sizes: list[int]) -> None:
    assert [len(r) for r in plan_albums(count)] == sizes


@pytest.mark.parametrize(
    ("count", "sizes"), [(4, [2, 2]), (20, [3, 3, 3, 3, 3, 3, 2]), (3, [3]), (1, [1])]
)
def test_albums_of_at_most_the_chat_burst(count: int, sizes: list[int]) -> None:
    assert [len(r) for r in plan_albums(count, 3)] == sizes


async def _order(studio: Studio, emulator: RunningEmulator, user_id: int) -> Order:
    return await make_queued_order(studio, emulator, user_id)


def _names(count: int, first: int = 1) -> list[str]:
    return [f"portrait-{i:02d}.png" for i in range(first, first + count)]


def test_archives_split_only_past_the_limit_and_repeat_byte_for_byte() -> None:
    portraits = _portraits(12)
    (whole,) = pack_archives(portraits, 48_000_000)
    with zipfile.ZipFile(io.BytesIO(whole.data)) as archive:
        assert archive.namelist() == _names(12)
        assert archive.read("portrait-03.png") == portraits[2].full_png
    assert whole.portraits == range(12)
    six = sum(len(p.full_png) + ZIP_ENTRY_OVERHEAD for p in portraits[:6]) + ZIP_END_OVERHEAD
    parts = pack_archives(portraits, six)
    assert [a.portraits for a in parts] == [range(0, 6), range(6, 12)]
    assert all(len(a.data) <= six for a in parts)
    # A re-run (after a crash) builds the very same bytes.
    assert [a.data for a in pack_archives(portraits, six)] == [a.data for a in parts]


async def test_429_then_500_on_the_album_still_delivers_once(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await _order(studio, emulator, 901)
    await emulator.client.inject_fault("sendMediaGroup", count=1, status=429, retry_after=1)
    await emulator.client.inject_fault("sendMediaGroup", count=1, status=500)

    report = await deliver_portraits(studio.redis, bot, order, _portraits(4), _always)

    photos, documents = await bot_media(emulator, 901)
    assert (report.albums_sent, report.documents_sent) == (1, 1)
    assert len(photos) == 4 and len({m["media_group_id"] for m in photos}) == 1
    assert [m["files"][0]["filename"] for m in documents] == ["portraits.zip"]
    assert [name for name, _ in await delivered_originals(emulator, 901)] == _names(4)
    statuses = [c["status"] for c in await emulator.client.calls("sendMediaGroup")]
    assert statuses == [429, 500, 200]
    assert await DeliveryLog(studio.redis, order.id).fully_sent() == 4


async def test_a_rerun_sends_only_what_is_missing(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await _order(studio, emulator, 902)
    portraits = _portraits(12)
    six = sum(len(p.full_png) + ZIP_ENTRY_OVERHEAD for p in portraits[:6]) + ZIP_END_OVERHEAD
    log = DeliveryLog(studio.redis, order.id)
    # A previous try sent the preview album and the first of two archive parts, then died.
    await log.mark([f"preview:{i}" for i in range(10)], Sent.SENT, list(range(1, 11)))
    await log.mark(["preview:10", "preview:11"], Sent.SENT, [11, 12])
    await log.mark(["archive:0"], Sent.SENT, [13], portraits=6)

    async def deliver() -> DeliveryReport:
        return await deliver_portraits(
            studio.redis, bot, order, portraits, _always, archive_max_bytes=six
        )

    report = await deliver()

    photos, documents = await bot_media(emulator, 902)
    assert (report.albums_sent, report.documents_sent, report.skipped) == (0, 1, 3)
    assert photos == []
    assert [m["files"][0]["filename"] for m in documents] == ["portraits-part2.zip"]
    assert [name for name, _ in await delivered_originals(emulator, 902)] == _names(6, first=7)
    assert await log.fully_sent() == 12

    # And once more: nothing at all is sent.
    before = len(await emulator.client.messages(902))
    again = await deliver()
    assert (again.albums_sent, again.documents_sent) == (0, 0)
    assert len(await emulator.client.messages(902)) == before


async def test_an_unconfirmed_album_is_sent_again(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await _order(studio, emulator, 903)
    log = DeliveryLog(studio.redis, order.id)
    # A crash between our "sending" and Telegram's answer: we cannot know whether the user got
    # it, and prefer a duplicate to a loss.
    await log.plan(3)
    await log.plan_layout(3, 1)
    await log.mark([f"preview:{i}" for i in range(3)], Sent.SENDING)
    await log.mark(["archive:0"], Sent.SENT, [5], portraits=3)
    assert await log.fully_sent() is None  # "sending" is not delivered

    report = await deliver_portraits(studio.redis, bot, order, _portraits(3), _always)

    photos, documents = await bot_media(emulator, 903)
    assert (len(photos), len(documents)) == (3, 0)
    assert (report.resent, report.skipped) == (1, 1)
    assert await log.fully_sent() == 3


async def test_a_blocked_chat_is_undeliverable(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await _order(studio, emulator, 905)
    await emulator.client.inject_fault(
        "sendMediaGroup", count=1, status=403, description="Forbidden: bot was blocked by the user"
    )
    with pytest.raises(Undeliverable):
        await deliver_portraits(studio.redis, bot, order, _portraits(4), _always)
    assert await DeliveryLog(studio.redis, order.id).fully_sent() is None


async def test_withdrawn_order_stops_delivery(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await _order(studio, emulator, 904)
    calls = 0

    async def until_first_album() -> bool:
        nonlocal calls
        calls += 1
        return calls == 1

    report = await deliver_portraits(studio.redis, bot, order, _portraits(4), until_first_album)

    photos, documents = await bot_media(emulator, 904)
    assert report.stopped and (len(photos), len(documents)) == (4, 0)
    assert not await studio.redis.hexists(keys.order_deliveries(order.id), "archive:0")  # type: ignore[misc]
