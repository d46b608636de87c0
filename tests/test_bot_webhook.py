"""Webhook mode: two replicas behind a balancer, the secret header, dedupe, bad bodies, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from bot.app import ALLOWED_UPDATES, build_application
from bot.context import StudioApplication
from bot.texts import text
from bot.webhook import HEALTH_PATH, PIPELINE, SECRET_HEADER, create_webhook_app
from emulator.client import latest_text
from studio import keys
from studio.domain import Studio
from studio.settings import Settings
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory

ROOT = Path(__file__).resolve().parent.parent
SECRET = "webhook-Secret_0123456789"
HOOK_PATH = "/tg/webhook"
WELCOME = {"en": "Hi! I make", "zh": "你好！"}


@dataclass
class Replica:
    """One bot process in webhook mode: its Application, its Redis connection, its server."""

    application: StudioApplication
    studio: Studio
    runner: web.AppRunner
    url: str

    @property
    def hook_url(self) -> str:
        return f"{self.url}{HOOK_PATH}"


@dataclass
class Balancer:
    """A tiny load balancer in front of the replicas, in one of three modes.

    "round_robin": each update to the next replica; "all": every update to every replica at
    once (a retry landing on a second replica); "hold": record it, answer 200, forward nothing.
    """

    url: str = ""
    replicas: list[Replica] = field(default_factory=list)
    mode: str = "round_robin"
    held: list[bytes] = field(default_factory=list)
    # (update_id, replica index, status) of every forwarded delivery
    forwarded: list[tuple[int, int, int]] = field(default_factory=list)
    _turn: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.mode == "hold":
            self.held.append(body)
            return web.Response()
        headers = {k: v for k, v in request.headers.items() if k == SECRET_HEADER}
        headers["Content-Type"] = "application/json"
        if self.mode == "all":
            targets = list(range(len(self.replicas)))
        else:
            targets = [self._turn % len(self.replicas)]
            self._turn += 1
        statuses = await asyncio.gather(
            *(post(self.replicas[i].hook_url, body, headers) for i in targets)
        )
        update_id = json.loads(body)["update_id"]
        self.forwarded += [(update_id, i, s) for i, s in zip(targets, statuses, strict=True)]
        return web.Response(status=max(statuses))


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


def has_text(expected: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: latest_text(message) == expected


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def start_server(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclass
class WebhookEnv:
    settings: Settings
    emulator: RunningEmulator
    balancer: Balancer
    replicas: list[Replica]
    redis: Redis

    async def messages(self, user: int) -> list[dict[str, Any]]:
        return await self.emulator.client.messages(user)


@contextlib.asynccontextmanager
async def open_webhook_env(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: Redis, **overrides: Any
) -> AsyncIterator[WebhookEnv]:
    """Two replicas started through create_webhook_app, behind a Balancer the emulator posts to."""
    balancer = Balancer()
    proxy_app = web.Application()
    proxy_app.router.add_post(HOOK_PATH, balancer.handle)
    proxy_runner, balancer.url = await start_server(proxy_app)
    settings = make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        webhook_url=f"{balancer.url}{HOOK_PATH}",
        webhook_secret=SECRET,
        **{"bot_concurrency": 32, **overrides},
    )
    for _ in range(2):
        studio = await Studio.open(settings)
        application = build_application(settings, studio)
        runner, url = await start_server(create_webhook_app(application, settings))
        balancer.replicas.append(Replica(application, studio, runner, url))
    try:
        yield WebhookEnv(settings, emulator, balancer, list(balancer.replicas), redis)
    finally:
        for replica in balancer.replicas:
            await replica.runner.cleanup()
            await replica.studio.close()
        await proxy_runner.cleanup()


@pytest.fixture
async def webhook_env(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: Redis
) -> AsyncIterator[WebhookEnv]:
    async with open_webhook_env(make_settings, emulator, redis) as env:
        yield env


async def test_start_is_answered_in_english_and_chinese_through_two_replicas(
    webhook_env: WebhookEnv,
) -> None:
    env = webhook_env
    info = (await env.emulator.client.webhook())["info"]
    assert info["url"] == env.settings.webhook_url
    assert info["allowed_updates"] == ALLOWED_UPDATES
    hours = f"{env.settings.intake_ttl_hours:g}"
    for user, language_code, lang in ((8101, "en", "en"), (8102, "zh-hans", "zh")):
        await env.emulator.client.send_text(user, "/start", language_code=language_code)
        screen = "\n\n" + text(lang, "consent", intake_hours=hours)

        def shows_consent(message: Any, screen: str = screen) -> bool:
            return latest_text(message).endswith(screen)

        consent = await env.emulator.client.wait_for(user, shows_consent)
        # The welcome and the consent screen are one message.
        [welcome] = await env.messages(user)
        assert welcome["message_id"] == consent["message_id"]
        assert latest_text(welcome).startswith(WELCOME[lang])
        assert consent["reply_markup"]["inline_keyboard"]
    # One update went to each replica, and each answered Telegram with 200.
    assert sorted((i, s) for _, i, s in env.balancer.forwarded) == [(0, 200), (1, 200)]
    deliveries = (await env.emulator.client.webhook())["deliveries"]
    assert [d["status"] for d in deliveries] == [200, 200]


async def test_wrong_secret_is_refused_and_the_update_is_not_handled(
    webhook_env: WebhookEnv,
) -> None:
    env = webhook_env
    env.balancer.mode = "hold"
    held = await env.emulator.client.send_text(8201, "/start")
    await until(lambda: bool(env.balancer.held))
    body = env.balancer.held[0]
    hook = env.replicas[0].hook_url
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET[:-1] + "X"}):
        assert await post(hook, body, headers) == 403
    # The replica is alive: another user's update is handled meanwhile.
    env.balancer.mode = "round_robin"
    await env.emulator.client.send_text(8202, "/start")
    await env.emulator.client.wait_for(8202, lambda m: latest_text(m).startswith(WELCOME["en"]))
    assert await env.messages(8201) == []
    assert not await env.redis.exists(keys.update_seen(held["update_id"]))
    # The very same body with the right secret is handled: it was only the secret.
    assert await post(hook, body, {SECRET_HEADER: SECRET}) == 200
    await env.emulator.client.wait_for(8201, lambda m: latest_text(m).startswith(WELCOME["en"]))


async def test_an_update_delivered_to_both_replicas_is_handled_once(
    webhook_env: WebhookEnv,
) -> None:
    env = webhook_env
    env.balancer.mode = "all"
    sent = await env.emulator.client.send_text(8301, "/start")
    await env.emulator.client.wait_for(8301, lambda m: "consent:yes" in json.dumps(m))
    await asyncio.sleep(0.5)  # time for a second, duplicate answer to show up if there were one
    assert sorted(env.balancer.forwarded) == [
        (sent["update_id"], 0, 200),
        (sent["update_id"], 1, 200),
    ]
    assert len(await env.messages(8301)) == 1  # welcome and consent (one message), once
    assert len(await env.emulator.client.calls("sendMessage", chat_id=8301)) == 1


async def test_malformed_bodies_get_400_and_the_replica_keeps_serving(
    webhook_env: WebhookEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = webhook_env
    hook = env.replicas[1].hook_url
    headers = {SECRET_HEADER: SECRET}
    for body in (b"{not json", b"\xff\xfe", b"[1, 2]", b'{"update_id": "7"}', b"{}"):
        assert await post(hook, body, headers) == 400, body
    # An update PTB cannot parse is Telegram's own: refusing it would make Telegram hold back
    # every later update, so it is logged and dropped.
    for body in (
        b'{"update_id": 7, "message": "nope"}',
        b'{"update_id": 8, "message": {"text": "no date, no chat"}}',
    ):
        assert await post(hook, body, headers) == 200, body
    dropped = [r.getMessage() for r in caplog.records if r.name == "bot.webhook"]
    assert dropped == [
        "webhook update 7 could not be parsed; dropped",
        "webhook update 8 could not be parsed; dropped",
    ]
    env.balancer.mode = "all"
    await env.emulator.client.send_text(8401, "/start")
    await env.emulator.client.wait_for(8401, lambda m: latest_text(m).startswith(WELCOME["en"]))
    async with aiohttp.ClientSession() as session:
        for replica in env.replicas:
            async with session.get(f"{replica.url}{HEALTH_PATH}") as response:
                assert (response.status, await response.text()) == (200, "ok")
    assert {s for _, _, s in env.balancer.forwarded} == {200}
    assert not await env.redis.exists(keys.update_seen(7), keys.update_seen(8))


async def test_deeply_nested_json_gets_400_not_a_traceback(webhook_env: WebhookEnv) -> None:
    hook = webhook_env.replicas[0].hook_url
    headers = {SECRET_HEADER: SECRET}
    depth = 100_000
    assert (
        await post(hook, b'{"update_id": 9, "x": ' + b"[" * depth + b"]" * depth + b"}", headers)
        == 400
    )
    # Valid JSON that json.loads reads, nested past what the update parser follows (replies).
    level = b'{"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}'
    levels = 600
    chain = (level + b', "reply_to_message": ') * levels + level + b"}" + b"}" * levels
    body = b'{"update_id": 10, "message": ' + chain + b"}"
    json.loads(body)
    assert await post(hook, body, headers) == 400
    await webhook_env.emulator.client.send_text(8701, "/start")
    await webhook_env.emulator.client.wait_for(
        8701, lambda m: latest_text(m).startswith(WELCOME["en"])
    )


async def test_a_full_queue_answers_503_and_the_retried_update_is_handled(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: Redis
) -> None:
    async with open_webhook_env(
        make_settings, emulator, redis, bot_concurrency=1, bot_update_queue_max=1
    ) as env:
        env.balancer.replicas = env.replicas[:1]
        # The first user's welcome hangs, so one update runs, one waits, and the queue is full;
        # the third is held for room (WEBHOOK_FULL_HOLD_S, 1 s) and then refused.
        await emulator.client.inject_fault("sendMessage", count=1, status=None, delay=3.0)
        users = (8801, 8802, 8803)
        for user in users:
            await emulator.client.send_text(user, "/start")
        for user in users:
            await emulator.client.wait_for(
                user, lambda m: latest_text(m).startswith(WELCOME["en"]), timeout=30
            )
        deliveries = (await emulator.client.webhook())["deliveries"]
        statuses = [d["status"] for d in deliveries]
        assert 503 in statuses and statuses.count(200) == len(users), statuses
        for user in users:
            assert (
                len(await emulator.client.calls("sendMessage", chat_id=user)) == 1
            )  # welcome and consent: one message


async def test_a_full_queue_holds_then_refuses_unparsed_but_still_takes_payments(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: Redis
) -> None:
    """While full, a non-payment request waits for room (WEBHOOK_FULL_HOLD_S) and then gets its
    503 before any parsing: a refusal must be cheap, or an overload's retries eat the capacity
    to catch up. A payment is parsed and taken at once; a request held when room comes is taken.
    """

    def start(update_id: int, user: int) -> bytes:
        chat = {"id": user, "type": "private"}
        message = {
            "message_id": update_id, "date": 0, "chat": chat, "text": "/start",
            "from": {"id": user, "is_bot": False, "first_name": "U"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        }  # fmt: skip
        return json.dumps({"update_id": update_id, "message": message}).encode()

    # Unparseable as an update: with room, it is read and dropped with a 200.
    unparsed = b'{"update_id": 9103, "message": "not a message"}'
    query = {
        "id": "q-9105", "currency": "XTR", "total_amount": 1, "invoice_payload": "forged",
        "from": {"id": 8905, "is_bot": False, "first_name": "U"},
    }  # fmt: skip
    payment = json.dumps({"update_id": 9105, "pre_checkout_query": query}).encode()
    async with open_webhook_env(
        make_settings, emulator, redis, bot_concurrency=1, bot_update_queue_max=1
    ) as env:
        assert env.settings.webhook_full_hold_s == 1.0  # as shipped
        hook, headers = env.replicas[0].hook_url, {SECRET_HEADER: SECRET}
        await emulator.client.inject_fault("sendMessage", count=1, status=None, delay=6.0)
        assert await post(hook, start(9101, 8901), headers) == 200  # runs: its answer hangs
        assert await post(hook, start(9102, 8902), headers) == 200  # waits: the queue is full
        began = time.monotonic()
        assert await post(hook, unparsed, headers) == 503
        assert await post(hook, start(9104, 8904), headers) == 503
        assert time.monotonic() - began >= 2.0  # each was held its second for room
        # Taken and handled, full or not: the emulator knows no such query, so the answer to it
        # fails and the webhook says 500 (deliver it again), not 503 (not taken).
        assert await post(hook, payment, headers) == 500
        await asyncio.wait_for(env.replicas[0].runner.app[PIPELINE].queue.wait_idle(), 10)
        assert await post(hook, unparsed, headers) == 200  # room again: read and dropped
        assert not await redis.exists(keys.update_seen(9104))  # never taken: Telegram retries
    async with open_webhook_env(
        make_settings,
        emulator,
        redis,
        bot_concurrency=1,
        bot_update_queue_max=1,
        webhook_full_hold_s=20.0,
    ) as env:
        hook, headers = env.replicas[0].hook_url, {SECRET_HEADER: SECRET}
        await emulator.client.inject_fault("sendMessage", count=1, status=None, delay=2.0)
        assert await post(hook, start(9201, 8901), headers) == 200
        assert await post(hook, start(9202, 8902), headers) == 200
        # Held until the hang ends and 9202 runs: then there is room, and it is taken.
        assert await post(hook, start(9203, 8903), headers) == 200
        assert await redis.exists(keys.update_seen(9203))


# `python -m bot` as a process -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start_bot_process(
    emulator: RunningEmulator, redis_url: str, **env: str
) -> asyncio.subprocess.Process:
    environ = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "BOT_API_BASE_URL": emulator.base_url,
        "BOT_API_BASE_FILE_URL": emulator.base_file_url,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        **env,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=environ, stderr=asyncio.subprocess.PIPE
    )


async def _sigterm_exit_seconds(proc: asyncio.subprocess.Process) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.stderr is not None
    stderr = (await proc.stderr.read()).decode()
    assert proc.returncode == 0, stderr
    return time.monotonic() - started


async def test_python_m_bot_serves_the_webhook_and_stops_on_sigterm_leaving_it_set(
    emulator: RunningEmulator, redis: Redis, redis_url: str
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}{HOOK_PATH}"
    proc = await _start_bot_process(
        emulator,
        redis_url,
        WEBHOOK_URL=url,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=str(port),
    )
    try:
        await emulator.client.send_text(8501, "/start", language_code="zh")
        await emulator.client.wait_for(
            8501, lambda m: latest_text(m).startswith(WELCOME["zh"]), timeout=20
        )
        health = f"http://127.0.0.1:{port}{HEALTH_PATH}"
        async with aiohttp.ClientSession() as session, session.get(health) as response:
            assert response.status == 200
    finally:
        seconds = await _sigterm_exit_seconds(proc)
    assert seconds < 5
    assert (await emulator.client.webhook())["info"]["url"] == url


async def test_python_m_bot_polling_stops_on_sigterm_even_if_the_bot_api_hangs(
    emulator: RunningEmulator, redis: Redis, redis_url: str
) -> None:
    proc = await _start_bot_process(emulator, redis_url)
    try:
        await emulator.client.send_text(8601, "/start")
        await emulator.client.wait_for(
            8601, lambda m: latest_text(m).startswith(WELCOME["en"]), timeout=20
        )
        # PTB's last getUpdates on shutdown would wait out its 30 s read timeout.
        await emulator.client.inject_fault("getUpdates", count=100, status=None, delay=60)
    finally:
        seconds = await _sigterm_exit_seconds(proc)
    assert seconds < 8
