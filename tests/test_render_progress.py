"""The progress message: nothing reaches Redis or the chat once the run stopped waiting."""

from __future__ import annotations

import asyncio

import pytest

from jobs.render import ProgressMessage
from studio import keys
from tests.fixtures.emulator import RunningEmulator
from tests.render_support import StudioBot, make_queued_order


async def _edits(emulator: RunningEmulator, chat_id: int, message_id: int) -> list[str]:
    status = next(
        m for m in await emulator.client.messages(chat_id) if m["message_id"] == message_id
    )
    return [e.get("text", "") for e in status["edits"]]


async def test_progress_is_recorded_and_shown_while_rendering(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_queued_order(studio, emulator, 1401)
    assert await studio.orders.claim(order.id, studio.clock.now())
    progress = ProgressMessage(studio, bot, order, asyncio.get_running_loop())

    await progress._update(2, 4, force=True)

    after = await studio.orders.get(order.id)
    assert after is not None and (after.progress_done, after.progress_total) == (2, 4)
    assert any("2/4" in t for t in await _edits(emulator, 1401, order.queue_message_id))


async def test_a_closed_progress_message_stops_the_thread_and_writes_nothing(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_queued_order(studio, emulator, 1402)
    assert await studio.orders.claim(order.id, studio.clock.now())
    progress = ProgressMessage(studio, bot, order, asyncio.get_running_loop())
    edits = await _edits(emulator, 1402, order.queue_message_id)

    progress.close()  # the run timed out or was aborted

    with pytest.raises(Exception, match=order.id):
        await asyncio.to_thread(progress.report, 1, 4)  # generation stops at this image
    await progress.flush()
    await progress._update(1, 4, force=True)  # a report scheduled before the close
    after = await studio.orders.get(order.id)
    assert after is not None and after.progress_total == 0
    assert await _edits(emulator, 1402, order.queue_message_id) == edits


async def test_progress_never_re_creates_an_erased_order(
    studio_bot: StudioBot, emulator: RunningEmulator
) -> None:
    studio, bot = studio_bot
    order = await make_queued_order(studio, emulator, 1403)
    assert await studio.orders.claim(order.id, studio.clock.now())
    progress = ProgressMessage(studio, bot, order, asyncio.get_running_loop())
    edits = await _edits(emulator, 1403, order.queue_message_id)
    # /delete erased the order (and the user's rate-limit bucket) while the thread ran on.
    await studio.redis.delete(keys.order(order.id), keys.chat_bucket(order.chat_id))

    await progress._update(3, 4, force=True)

    assert not await studio.redis.exists(keys.order(order.id))
    assert not await studio.redis.exists(keys.chat_bucket(order.chat_id))
    assert await _edits(emulator, 1403, order.queue_message_id) == edits
