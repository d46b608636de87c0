"""Queue position and the sparse status-message edits, against real arq keys in Redis."""

from __future__ import annotations

from arq.constants import in_progress_key_prefix
from redis.asyncio import Redis

from bot.queue_notices import THRESHOLDS, notify_queue_positions
from studio.queue import orders_at_positions, queue_position
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import StudioBot, make_queued_order


async def _start_render(redis: Redis, order_id: str) -> None:
    # What an arq worker does when it takes a job: the member stays in the queue.
    await redis.set(in_progress_key_prefix + order_id, b"1", px=60_000)


def test_thresholds_are_fibonacci() -> None:
    assert THRESHOLDS[:8] == (1, 2, 3, 5, 8, 13, 21, 34)
    assert sum(t <= 10_000 for t in THRESHOLDS) == 19


async def test_three_users_see_positions_1_2_3(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    orders = [await make_queued_order(studio, emulator, 600 + i) for i in range(3)]

    assert [await queue_position(studio.redis, o.id) for o in orders] == [1, 2, 3]
    assert await notify_queue_positions(studio, bot) == 3
    for position, order in enumerate(orders, start=1):
        assert f"number {position} in the queue" in (await emulator.client.texts(order.chat_id))[-1]

    # Nothing moved: no edit is repeated.
    assert await notify_queue_positions(studio, bot) == 0


async def test_a_render_start_edits_only_threshold_positions(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    orders = [await make_queued_order(studio, emulator, 700 + i) for i in range(30)]
    assert await notify_queue_positions(studio, bot) == 7  # 1 2 3 5 8 13 21

    await _start_render(studio.redis, orders[0].id)
    before = len(await emulator.client.calls("editMessageText"))
    edits = await notify_queue_positions(studio, bot)

    assert edits == 7
    assert len(await emulator.client.calls("editMessageText")) == before + 7
    # Order 9 in line is now 8th: edited. Order 5 is now 4th: not a threshold, keeps "5".
    assert "number 8 in the queue" in (await emulator.client.texts(orders[8].chat_id))[-1]
    assert "number 5 in the queue" in (await emulator.client.texts(orders[4].chat_id))[-1]
    assert await queue_position(studio.redis, orders[4].id) == 4
    assert await queue_position(studio.redis, orders[0].id) is None  # running: not waiting


async def test_batch_lookup_agrees_with_single_position(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, _ = studio_bot
    orders = [await make_queued_order(studio, emulator, 800 + i) for i in range(12)]
    await _start_render(studio.redis, orders[0].id)

    at = await orders_at_positions(studio.redis, list(range(1, 12)), workers=1)

    for position, order_id in at.items():
        assert await queue_position(studio.redis, order_id, workers=1) == position
    assert at[1] == orders[1].id and at[11] == orders[11].id
