"""Paid broadcasts for surges: bulk sends past Telegram's 30/s, within an hourly cap in Stars.

A real bot on the project's transport and Redis limiter, against the emulator, whose bot-wide
bucket is made small so a surge is cheap to cause. The emulator admits a call with
`allow_paid_broadcast` past that bucket (its own 1,000/s) and logs the units it charged for.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from bot.transport import bulk_sends
from studio.clock import ManualClock
from studio.ratelimit import Rate, RedisRateLimiter
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator
from tests.render_support import emulator_settings, open_studio_bot

CHATS = [9_700 + i for i in range(12)]


async def _surge(
    make_settings: Any, emulator: RunningEmulator, clock: ManualClock, stars: int
) -> float:
    """One bulk message to each of 12 chats at once, against a bot-wide 2/s; the seconds taken."""
    settings = emulator_settings(
        make_settings,
        emulator,
        tg_global_per_second=2.0,
        paid_broadcast_stars_per_hour=stars,
        paid_broadcast_after_s=0.3,
    )
    for chat in CHATS:
        await emulator.client.send_text(chat, "/start")  # the chats exist
    async with open_studio_bot(settings, clock) as (_, bot):

        async def send(chat: int) -> None:
            with bulk_sends():
                await bot.send_message(chat_id=chat, text="Your portraits are ready")

        await asyncio.sleep(1.5)  # the bot-wide bucket refills after the set-up
        started = time.monotonic()
        await asyncio.gather(*(send(chat) for chat in CHATS))
        return time.monotonic() - started


def _paid_units(calls: list[dict[str, Any]]) -> int:
    return sum(int(c.get("paid_broadcast_units") or 0) for c in calls)


async def test_a_surge_goes_out_as_paid_broadcasts_within_the_cap(
    make_settings: Any, emulator_factory: EmulatorFactory, clock: ManualClock, redis: Redis
) -> None:
    # Telegram's side a little looser than ours (2/s, burst 2): different clocks, no 429s.
    emulator = await emulator_factory(global_rate=2.5, global_burst=3.0)
    seconds = await _surge(make_settings, emulator, clock, stars=0)
    free_calls = await emulator.client.calls("sendMessage")
    assert _paid_units(free_calls) == 0

    # 1 Star an hour buys 10 messages: the other 2 wait for the free 2/s.
    paid_emulator = await emulator_factory(global_rate=2.5, global_burst=3.0)
    await redis.flushdb()
    paid_seconds = await _surge(make_settings, paid_emulator, clock, stars=1)
    calls = [c for c in await paid_emulator.client.calls("sendMessage") if c["status"] == 200]
    sent = [c for c in calls if c["chat_id"] in CHATS]
    assert len(sent) == len(CHATS)  # every message went out, once
    assert _paid_units(sent) == 10  # 1 Star = 10 messages at 0.1 each, not one more
    assert await paid_emulator.client.rate_limited() == []  # Telegram never had to refuse one
    print(
        f"\n12 bulk sends at a 2/s limit: free {seconds:.2f} s, with paid broadcasts "
        f"{paid_seconds:.2f} s ({_paid_units(sent)} paid units)"
    )
    assert paid_seconds < seconds


async def test_the_hourly_cap_counts_stars_and_respects_each_chat(redis: Redis) -> None:
    limiter = RedisRateLimiter(
        redis, global_rate=Rate(1.0, 1), chat_rate=Rate(1.0, 3), paid_stars_per_hour=1
    )
    now = 7_200.0 * 100
    # An album of 3 to one chat uses its burst; a fourth message to it must wait its turn.
    assert await limiter.try_paid(1, now, cost=3)
    assert not await limiter.try_paid(1, now, cost=1)
    # Other chats share the hour's 10 units: 7 are left.
    assert all([await limiter.try_paid(chat, now, cost=1) for chat in range(2, 9)])
    assert not await limiter.try_paid(9, now, cost=1)
    assert await limiter.paid_this_hour(now) == 1.0
    # The next hour has its own budget.
    assert await limiter.try_paid(10, now + 3_600, cost=1)
    off = RedisRateLimiter(redis, global_rate=Rate(1.0, 1), chat_rate=Rate(1.0, 3))
    assert not off.pays_in_surges and not await off.try_paid(11, now, cost=1)
