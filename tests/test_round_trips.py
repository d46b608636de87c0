"""Redis round trips per handler, counted on a real connection (tests/redis_counting.py).

The polling bot of `bot_env` is stopped; a second bot, whose Redis connections count, takes
each update from the emulator and handles it through the update pipeline, one at a time, so
each count is one update's: taking it (1), its handler, completing it (1). The bounds are the
ones stated in bot/update_pipeline.py's docs; the intake worker runs the photo checks meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

import aiohttp
from telegram import Update

from bot.app import build_application, start_application
from bot.texts import text
from bot.update_pipeline import Offer, UpdatePipeline
from bot.webhook import stop_application
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio.domain import Studio
from tests.fixtures.bot import BotEnv, button, is_status_message
from tests.redis_counting import RoundTrips, count_round_trips

# The first user warms Redis's script cache (a script's first call in a process costs two more
# trips: NOSCRIPT, then SCRIPT LOAD); the second user's counts are the steady state.
WARM_UP, USER = 7_300, 7_301

# Round trips per update, taking (1) and completing it (1) included, as stated in
# bot/update_pipeline.py's docs. "view" is the session and the current order (1: one script);
# "reply" is the send's rate-limit booking (1); "enqueue" is one script (arq's enqueue_job took
# 3: WATCH, EXISTS, MULTI/EXEC). Every call site: bench/hot_path_bench.py.
BOUNDS = {
    # view 1, wait estimate (workers 1, queue length, running renders), reply. No render worker
    # is online here; with one, each estimate adds one read of both durations (stage_seconds).
    "/start": 8,
    "consent": 9,
    "photo (headshot)": 9,  # view 1, new data key 3 (GET, SET NX, GET), add 1, enqueue 1, reply
    "photo (selfie)": 5,  # view 1, add 1, enqueue 1 (the data key is cached)
    "text": 4,  # view 1, reply
    # view 1, reply, and while collecting selfies a fresh status message (send 1, its id 1,
    # its digest 1): the way forward when the old one's edits failed (tests/test_no_dead_ends.py)
    "/status": 7,
    "done": 7,
    "pack": 9,
    "pre_checkout": 5,
    "payment": 14,
    "/status (paid)": 7,  # view 1, place (workers 1, rank and head 1, running 1), reply
}


def label(raw: dict[str, Any], photos_seen: int, paid: bool) -> str:
    """What the update is, in BOUNDS' terms."""
    if "pre_checkout_query" in raw:
        return "pre_checkout"
    if "callback_query" in raw:
        return str(raw["callback_query"]["data"]).split(":", 1)[0]
    message = raw["message"]
    if "successful_payment" in message:
        return "payment"
    if "photo" in message:
        return "photo (headshot)" if photos_seen == 0 else "photo (selfie)"
    command = str(message.get("text", ""))
    if command == "/status" and paid:
        return "/status (paid)"
    return command if command.startswith("/") else "text"


class CountingFeeder:
    """Long-polls the emulator and hands each update to the pipeline, counting its trips."""

    def __init__(self, api_url: str, pipeline: UpdatePipeline, trips: RoundTrips) -> None:
        self.url = f"{api_url}/getUpdates"
        self.pipeline, self.trips = pipeline, trips
        self.counts: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.photos: dict[int, int] = defaultdict(int)
        self.paid: set[int] = set()

    async def run(self) -> None:
        offset = 0
        async with aiohttp.ClientSession() as session:
            while True:
                body = {"offset": offset, "timeout": 1}
                async with session.post(self.url, json=body) as response:
                    updates = (await response.json())["result"]
                for raw in updates:
                    offset = raw["update_id"] + 1
                    update = Update.de_json(raw, self.pipeline.application.bot)
                    assert update.effective_user is not None
                    user = update.effective_user.id
                    kind = label(raw, self.photos[user], user in self.paid)
                    before = self.trips.count
                    offer = await self.pipeline.offer(update, raw, wait=True)
                    assert offer is Offer.HANDLED, (kind, offer)
                    self.counts[user][kind].append(self.trips.count - before)
                    self.photos[user] += "photo" in kind
                    if kind == "payment":
                        self.paid.add(user)


async def test_each_handler_makes_a_stated_number_of_round_trips(bot_env: BotEnv) -> None:
    env = bot_env
    await env.stop_bot(env.bots[0])
    studio = await Studio.open(env.settings, clock=env.clock)
    trips = await count_round_trips(studio)
    application = build_application(env.settings, studio)
    await start_application(application)
    pipeline = UpdatePipeline(application, studio)
    await pipeline.start()
    feeder = CountingFeeder(env.emulator.api_url, pipeline, trips)
    feeding = asyncio.create_task(feeder.run())
    try:
        for user in (WARM_UP, USER):
            await one_order(env, user)
            await _until(lambda: "/status (paid)" in feeder.counts[user])  # noqa: B023
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
        await stop_application(application, pipeline)
        await studio.close()
    report = {kind: max(counts) for kind, counts in feeder.counts[USER].items()}
    print("round trips per update (most seen):", report)
    for kind, bound in BOUNDS.items():
        assert kind in report, f"no {kind} update was handled: {report}"
        assert 2 <= report[kind] <= bound, f"{kind}: {report[kind]} round trips, stated {bound}"


async def one_order(env: BotEnv, user: int) -> None:
    """Every kind of update of an order, up to a /status while it waits in the render queue."""
    client = env.client
    await client.send_text(user, "/start")
    screen = await env.wait_for(user, lambda m: button(m, "consent:yes") is not None)
    await env.press(user, screen, "consent:yes")
    await env.wait_text(user, text("en", "ask_headshot"))
    await client.send_text(user, "hello")
    await client.send_photo(user, synthetic_face_photo(1, 0))
    await env.wait_for(user, is_status_message)
    await env.send_selfies(user, env.settings.min_selfies)
    await client.send_text(user, "/status")
    status = await env.wait_for_done(user)
    await env.press(user, status, "done:")
    packs = await env.wait_for(user, lambda m: button(m, "pack:") is not None)
    await env.press(user, packs, "pack:")
    invoice = await env.wait_for(user, lambda m: m["kind"] == "invoice")
    assert (await env.pay(user, invoice))["ok"]
    await env.wait_text(user, text("en", "payment_received_running").split("!")[0])
    await client.send_text(user, "/status")


async def _until(condition: Any, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.02)
