"""The honest ETA: live workers and running renders counted, sending included, none online said."""

from __future__ import annotations

import math

from arq.constants import in_progress_key_prefix

from bot.texts import format_wait
from studio import keys
from studio.domain import Studio
from studio.queue import enqueue_render, place_and_eta
from studio.render_workers import register_render_worker


async def _workers(studio: Studio, count: int) -> None:
    for n in range(count):
        name = f"eta-worker-{n}"
        await register_render_worker(studio.redis, name)
        await studio.redis.set(keys.RENDER_HEALTH_PREFIX + name, b"ok", px=60_000)


async def _queue(studio: Studio, count: int) -> list[str]:
    ids = [f"eta-order-{i}" for i in range(count)]
    for order_id in ids:
        assert await enqueue_render(studio.redis, order_id, studio.settings)
    return ids


async def test_no_worker_online_says_so(studio: Studio) -> None:
    (order_id,) = await _queue(studio, 1)
    place, seconds = await place_and_eta(studio.redis, studio.settings, order_id)
    assert place == 1 and math.isinf(seconds)
    assert "no portrait renderer is online" in format_wait("en", seconds)
    assert "没有在线" in format_wait("zh", seconds)


async def test_one_busy_worker_puts_the_next_payer_first_with_sending_time(
    studio: Studio,
) -> None:
    await _workers(studio, 1)
    running, waiting = await _queue(studio, 2)
    await studio.redis.set(in_progress_key_prefix + running, b"1", px=60_000)
    assert (await place_and_eta(studio.redis, studio.settings, running))[0] is None
    place, seconds = await place_and_eta(studio.redis, studio.settings, waiting)
    settings = studio.settings
    assert place == 1
    assert seconds == settings.render_seconds_default + settings.delivery_seconds_default


async def test_two_free_workers_three_payers_are_not_told_one_two_three(studio: Studio) -> None:
    await _workers(studio, 2)
    orders = await _queue(studio, 3)
    places = [(await place_and_eta(studio.redis, studio.settings, o))[0] for o in orders]
    # Two free workers take the first two at once; only the third waits, first in line.
    assert places == [None, None, 1]
