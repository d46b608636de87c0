"""Script calls made in one turn of the event loop share a round trip (studio/group_commit.py).

On the studio's real client and a real Redis, with the round trips counted on the wire
(tests/redis_counting.py). Each caller must still get its own reply and its own error, each
call must run exactly once, and a cancelled caller must not take the others down.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from studio.domain import Studio
from studio.group_commit import MAX_GROUP, GroupedScript
from studio.queue import connect_queue
from tests.fixtures.redis_proxy import RedisProxy
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.studio import SettingsFactory
from tests.redis_counting import RoundTrips, count_round_trips

# KEYS: a counter. ARGV: a label; "bad" fails. Returns the label and the count after this call.
_COUNT = """
if ARGV[1] == 'bad' then
  return redis.error_reply('refused: ' .. ARGV[1])
end
return {ARGV[1], redis.call('INCR', KEYS[1])}
"""


async def _grouped(studio: Studio) -> GroupedScript:
    script = GroupedScript(studio.redis, _COUNT)
    await script(["warm-up"], ["warm"])  # the script is in Redis's cache from here on
    return script


async def _counted(studio: Studio) -> RoundTrips:
    """Round trips counted from now on, on connections already open (a handshake is two)."""
    trips = await count_round_trips(studio)
    await asyncio.gather(*(studio.redis.ping() for _ in range(4)))
    trips.count = 0
    return trips


async def test_calls_made_together_share_one_round_trip_and_keep_their_order(
    studio: Studio, redis: Redis
) -> None:
    script = await _grouped(studio)
    trips = await _counted(studio)

    replies = await asyncio.gather(*(script(["counter"], [f"call-{n}"]) for n in range(50)))

    assert replies == [[f"call-{n}".encode(), n + 1] for n in range(50)]
    assert trips.count == 1
    assert int(await redis.get("counter")) == 50


async def test_a_lone_call_is_one_plain_round_trip(studio: Studio) -> None:
    script = await _grouped(studio)
    trips = await _counted(studio)
    assert await script(["counter"], ["alone"]) == [b"alone", 1]
    assert await script(["counter"], ["again"]) == [b"again", 2]
    assert trips.count == 2


async def test_a_failing_call_fails_alone(studio: Studio) -> None:
    script = await _grouped(studio)
    calls = [script(["counter"], [label]) for label in ("a", "bad", "b")]
    first, failed, last = await asyncio.gather(*calls, return_exceptions=True)
    assert first == [b"a", 1] and last == [b"b", 2]
    assert isinstance(failed, ResponseError) and "refused: bad" in str(failed)


async def test_each_call_runs_once_when_redis_has_lost_its_script_cache(
    studio: Studio, redis: Redis
) -> None:
    script = await _grouped(studio)
    await redis.script_flush()  # as a Redis restart does

    replies = await asyncio.gather(*(script(["counter"], [f"c{n}"]) for n in range(10)))

    assert sorted(count for _, count in replies) == list(range(1, 11))
    assert int(await redis.get("counter")) == 10


async def test_a_cancelled_caller_leaves_the_others_their_replies(studio: Studio) -> None:
    script = await _grouped(studio)
    calls = [asyncio.ensure_future(script(["counter"], [f"c{n}"])) for n in range(5)]
    await asyncio.sleep(0)  # all five are waiting in one group
    calls[2].cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(done[2], asyncio.CancelledError)
    del done[2]  # its call may still have run, as a command in flight would
    assert [reply[0] for reply in done if isinstance(reply, list)] == [b"c0", b"c1", b"c3", b"c4"]


async def test_a_large_group_is_split_into_bounded_pipelines(studio: Studio) -> None:
    script = await _grouped(studio)
    groups = script.groups
    count = MAX_GROUP * 2 + 1
    replies = await asyncio.gather(*(script(["counter"], [str(n)]) for n in range(count)))
    assert sorted(reply[1] for reply in replies) == list(range(1, count + 1))
    assert script.groups - groups == 3


async def test_a_lost_redis_reaches_every_caller_of_the_group(
    make_settings: SettingsFactory, redis_server: RedisServer, redis_proxy: RedisProxy
) -> None:
    settings = make_settings(
        redis_url=redis_proxy.url(redis_server.password), redis_reconnect_s=0.5
    )
    client = await connect_queue(settings)
    try:
        script = GroupedScript(client, _COUNT)
        await script(["counter"], ["warm"])
        await redis_proxy.cut()
        redis_proxy.reset_next(10_000)  # every link from now on: Redis is gone

        calls = [script(["counter"], [str(n)]) for n in range(3)]
        failed = await asyncio.gather(*calls, return_exceptions=True)

        assert all(isinstance(error, ConnectionError) for error in failed), failed
    finally:
        await client.aclose()
