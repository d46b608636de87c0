"""Scale-out: two webhook replicas behind a round-robin balancer, one intake worker, two render
workers and one delivery worker on one Redis; twenty users order at once, start to delivery."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from arq.worker import Worker
from redis.asyncio import Redis

from bot.app import build_application
from bot.texts import format_wait, text
from bot.webhook import create_webhook_app
from studio.clock import ManualClock
from studio.domain import Studio
from studio.durations import stage_seconds
from studio.orders import OrderState
from studio.queue import queue_length, running_renders
from studio.render_workers import live_render_workers
from tests.fixtures.bot import BotEnv, PreCheckoutTimes, close_worker
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import delivery_counts, render_bot_settings, wait_for_state
from tests.test_bot_webhook import HOOK_PATH, SECRET, Balancer, Replica, start_server
from worker import build_worker

USERS = 20
RENDER_S = 60.0  # the estimate before any render has finished
SENDING_S = 20.0
PLACE = re.compile(r"Your place in the queue: (\d+)\. Estimated time: (.+?)\.\n")


async def test_twenty_users_on_two_replicas_and_two_render_workers(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
) -> None:
    await run_scale_out(make_settings, emulator, redis, clock, tiny_models_dir, "one Redis")


async def run_scale_out(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    redis: Redis,
    clock: ManualClock,
    tiny_models_dir: Path,
    label: str,
    **redis_overrides: Any,
) -> None:
    """The whole run; `redis` is a direct connection to the master, `redis_overrides` how every
    process finds it (nothing: REDIS_URL; or REDIS_SENTINELS and the master's name)."""
    balancer = Balancer()
    proxy_app = web.Application()
    proxy_app.router.add_post(HOOK_PATH, balancer.handle)
    proxy_runner, balancer.url = await start_server(proxy_app)
    settings = render_bot_settings(
        make_settings,
        emulator,
        tiny_models_dir,
        webhook_url=f"{balancer.url}{HOOK_PATH}",
        webhook_secret=SECRET,
        render_seconds_default=RENDER_S,
        delivery_seconds_default=SENDING_S,
        **redis_overrides,
    )
    workers: list[tuple[Worker, asyncio.Task[None]]] = []
    studio = await Studio.open(settings, clock=clock)
    try:
        for _ in range(2):
            replica_studio = await Studio.open(settings, clock=clock)
            application = build_application(settings, replica_studio)
            runner, url = await start_server(create_webhook_app(application, settings))
            balancer.replicas.append(Replica(application, replica_studio, runner, url))
        for kind in ("intake", "delivery", "render", "render"):
            worker = build_worker(
                kind,
                settings,
                burst=False,
                poll_delay=0.02,
                ctx={"clock": clock},
                handle_signals=False,
            )
            workers.append((worker, asyncio.create_task(worker.async_run())))
            if kind == "render":  # one model load at a time in one process
                deadline = time.monotonic() + 120
                while await live_render_workers(redis) < len(workers) - 2:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
        assert await live_render_workers(redis) == 2
        env = BotEnv(settings, studio, clock, emulator, emulator.client, PreCheckoutTimes())
        users = [9100 + i for i in range(USERS)]

        # The first two payers find both workers free and start at once; their renders are
        # held at the download (8 s, under the bot's 10 s read timeout) while the other 18 pay
        # together, so those 18 wait in a real queue for two busy workers.
        started = time.monotonic()
        invoices = await asyncio.gather(*(env.reach_invoice(u) for u in users))
        inputs = 1 + settings.min_selfies  # the checks' downloads are done by now
        await emulator.client.inject_fault("download", count=2 * inputs, status=None, delay=8.0)
        pairs = list(zip(users, invoices, strict=True))
        first, rest = pairs[:2], pairs[2:]
        paid = await asyncio.gather(*(env.pay(u, i) for u, i in first))
        deadline = time.monotonic() + 30
        while await running_renders(redis, 2) < 2:
            assert time.monotonic() < deadline, "the first two renders never started"
            await asyncio.sleep(0.02)
        paid += await asyncio.gather(*(env.pay(u, i) for u, i in rest))
        assert all(p["ok"] for p in paid)
        orders = [await env.current_order(u) for u in users]
        told = {u: await _payment_notice(emulator, u) for u in users}
        # The hold outlasted the payments: still two running, nobody has been served yet.
        assert await running_renders(redis, 2) == 2
        assert await queue_length(redis) == USERS
        per_render, sending = await stage_seconds(redis, settings)

        # The place and ETA each user was told reflect two workers.
        for user, _ in first:
            assert told[user] == text("en", "payment_received_running"), told[user]
        places: dict[int, int] = {}
        for user, _ in rest:
            match = PLACE.search(told[user])
            assert match, told[user]
            place = int(match.group(1))
            places[user] = place
            two_workers = math.ceil(place / 2) * per_render + sending
            assert match.group(2) == format_wait("en", two_workers), (place, told[user])
        assert sorted(places.values()) == list(range(1, USERS - 1)), places
        # The deepest place's time under one worker would read differently: the check bites.
        assert format_wait("en", (USERS - 2) * per_render + sending) != format_wait(
            "en", math.ceil((USERS - 2) / 2) * per_render + sending
        )

        for o in orders:
            await wait_for_state(studio, o.id, {OrderState.DELIVERED}, timeout=240)
        seconds = time.monotonic() - started

        # Every order delivered once: one preview sheet and the four originals, each once.
        for user in users:
            assert await delivery_counts(emulator, user) == (1, 4), user
        # Every update handled once: each forwarded once, answered 200, each answer sent once.
        ids = [u for u, _, _ in balancer.forwarded]
        assert len(ids) == len(set(ids))
        assert {s for _, _, s in balancer.forwarded} == {200}
        deliveries = (await emulator.client.webhook())["deliveries"]
        assert len(deliveries) == len(ids) and {d["status"] for d in deliveries} == {200}
        per_replica = [sum(1 for _, i, _ in balancer.forwarded if i == r) for r in (0, 1)]
        assert min(per_replica) > 0
        # Both render workers served orders.
        per_worker = [w.jobs_complete for w, _ in workers[2:]]
        assert sum(per_worker) == USERS and min(per_worker) > 0, per_worker
        print(
            f"\nscale-out on {label}: {USERS} orders in {seconds:.1f} s; orders per render worker "
            f"{per_worker}; updates per replica {per_replica}; "
            f"places told 1..{max(places.values())}"
        )
    finally:
        for worker, task in workers:
            await close_worker(worker)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for replica in balancer.replicas:
            await replica.runner.cleanup()
            await replica.studio.close()
        await proxy_runner.cleanup()
        await studio.close()


async def _payment_notice(emulator: RunningEmulator, user: int) -> str:
    """The text the payment's announcement had when sent (later edits show progress)."""
    deadline = time.monotonic() + 30
    while True:
        for message in await emulator.client.messages(user):
            original = str(message.get("original", {}).get("text") or "")
            if original.startswith("Payment received"):
                return original
        assert time.monotonic() < deadline, f"user {user} was never told a place"
        await asyncio.sleep(0.05)
