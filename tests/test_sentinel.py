"""Redis behind Sentinel: the bot and every worker follow a failover by themselves.

A real master and replica (production persistence: AOF every second, noeviction) and a real
sentinel (quorum 1, down after 1 s) from tests/fixtures/redis_server.py. The whole system runs
with REDIS_SENTINELS set (REDIS_URL's host is not used); mid-render the master is SIGKILLed and
never comes back, the sentinel promotes the replica, and the order must still be delivered
exactly once, with no refund, from the new master.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import RedisError

from bot.texts import text
from emulator.client import latest_text
from studio.orders import OrderState, OrderStore
from studio.queue import connect_queue
from studio.redis_config import check_redis_at_start
from studio.settings import Settings
from tests.chaos_support import assert_settled
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.redis_server import (
    RedisServer,
    SentinelSet,
    _made,
    launch_redis_server,
    launch_sentinel,
    launch_sentinel_set,
)
from tests.fixtures.studio import SettingsFactory
from tests.render_support import render_bot_settings, wait_for_state

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parent.parent
RECEIVED = "Payment received, thank you!"
TERMINAL = {OrderState.DELIVERED, OrderState.REFUNDED, OrderState.FAILED}
PROMOTION_S = 30.0  # hang detectors only: no assertion compares how long a step took
WAIT_S = 120.0


@pytest.fixture
def redis_server(redis_sentinel: SentinelSet) -> RedisServer:
    """The master: the `redis` fixture flushes it (and checks it is ours) before the test."""
    return redis_sentinel.master


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    # Only its database and credentials count: with REDIS_SENTINELS set, the host is unused.
    return "redis://unused.invalid:1/0"


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    tiny_models_dir: Path,
    redis_sentinel: SentinelSet,
) -> Settings:
    return render_bot_settings(
        make_settings,
        emulator,
        tiny_models_dir,
        redis_sentinels=(redis_sentinel.sentinels,),
        redis_sentinel_master=redis_sentinel.name,
        reconcile_interval_s=1.0,
    )


async def promoted(watched: SentinelSet) -> None:
    """Until the sentinel names the replica as the master."""
    deadline = time.monotonic() + PROMOTION_S
    while await asyncio.to_thread(watched.master_port) != watched.replica.port:
        assert time.monotonic() < deadline, "the sentinel never promoted the replica"
        await asyncio.sleep(0.05)


async def test_an_order_is_delivered_once_through_a_failover_mid_render(
    bot_env: BotEnv,
    render_workers: RenderWorkerStarter,
    redis_sentinel: SentinelSet,
) -> None:
    env, user = bot_env, 3301
    await render_workers()
    invoice = await env.reach_invoice(user)
    assert (await env.pay(user, invoice))["ok"]
    await env.wait_text(user, RECEIVED, timeout=60)
    order = await env.current_order(user)
    await wait_for_state(env.studio, order.id, {OrderState.RENDERING}, timeout=WAIT_S)
    # Replication is asynchronous: what the master acknowledged in its last instant may never
    # reach the replica (docs/OPERATIONS.md). Waiting for it here keeps this test about the
    # failover itself; the payment reconciler covers a lost write (tests/test_chaos_redis.py).
    assert await env.studio.redis.wait(1, 5000) == 1

    killed = time.monotonic()
    redis_sentinel.master.proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(redis_sentinel.master.proc.wait, 10)
    seen = {m["message_id"] for m in await env.messages(user)}
    await env.client.send_text(user, "/status")
    await promoted(redis_sentinel)
    promoted_after = time.monotonic() - killed

    # The bot answers /status sent while there was no master.
    title = text("en", "status_order", order_id=order.id, state="")[:-2]
    await env.wait_for(
        user,
        lambda m: m["message_id"] not in seen and latest_text(m).startswith(title),
        timeout=WAIT_S,
    )
    ended = await wait_for_state(env.studio, order.id, TERMINAL, timeout=WAIT_S)
    delivered_after = time.monotonic() - killed
    print(f"failover: promoted {promoted_after:.1f} s, delivered {delivered_after:.1f} s after")

    assert ended.state is OrderState.DELIVERED, ended.failure
    await assert_settled(env.studio, env.emulator, [order], env.settings.portraits_per_order)
    # The promoted replica holds the order, read on it directly rather than through Sentinel.
    direct = Redis(host="127.0.0.1", port=redis_sentinel.replica.port)
    try:
        assert (await direct.info("replication"))["role"] == "master"
        held = await OrderStore(direct).get(order.id)
        assert held is not None and held.state is OrderState.DELIVERED
    finally:
        await direct.aclose()


async def test_the_start_check_reads_the_master_the_sentinels_name(
    make_settings: SettingsFactory, redis: Redis, redis_sentinel: SentinelSet
) -> None:
    """studio/redis_config.py checks whichever server is the master now, also after a failover.

    The replica alone is set to let the OS flush its AOF: the check finds nothing while the
    master is sound, and that setting once the sentinels have made the replica the master.
    """
    settings = make_settings(
        redis_url="redis://unused.invalid:1/0",
        redis_sentinels=(redis_sentinel.sentinels,),
        redis_sentinel_master=redis_sentinel.name,
    )
    replica = Redis(host="127.0.0.1", port=redis_sentinel.replica.port)
    try:
        await replica.config_set("appendfsync", "no")
        assert await check_redis_at_start(settings) == []

        sentinel = Redis(host="127.0.0.1", port=redis_sentinel.sentinel.port)
        try:
            await sentinel.execute_command("SENTINEL", "FAILOVER", redis_sentinel.name)
        finally:
            await sentinel.aclose()
        await promoted(redis_sentinel)

        found = await check_redis_at_start(settings)
        assert [(f.setting, f.value) for f in found] == [("appendfsync", "no")]
    finally:
        await replica.aclose()


async def test_a_write_during_a_failover_waits_for_the_promotion_not_the_whole_window(
    make_settings: SettingsFactory,
    redis: Redis,
    redis_sentinel: SentinelSet,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A command sent into a dead master lands on the promoted replica soon after promotion.

    redis-py on its own retries the dead master's address for all of REDIS_RECONNECT_S before
    asking the sentinels again (studio/sentinel.py::MasterConnection): 30 s here, against the
    few seconds a failover takes.
    """
    window_s = 30.0
    settings = make_settings(
        redis_url="redis://unused.invalid:1/0",
        redis_sentinels=(redis_sentinel.sentinels,),
        redis_sentinel_master=redis_sentinel.name,
        redis_reconnect_s=window_s,
    )
    queue = await connect_queue(settings)
    try:
        await queue.set("before", "1")
        assert await queue.wait(1, 5000) == 1
        killed = time.monotonic()
        redis_sentinel.master.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(redis_sentinel.master.proc.wait, 10)
        assert await queue.incr("during") == 1
        landed_s = time.monotonic() - killed
        assert landed_s < window_s, f"the write waited out the whole window ({landed_s:.1f} s)"
        assert await asyncio.to_thread(redis_sentinel.master_port) == redis_sentinel.replica.port
    finally:
        await queue.aclose()
    print(f"a write sent into the dead master landed {landed_s:.1f} s after the kill")
    # The new master has no replica left: the start check says so (and still lets it run).
    with caplog.at_level(logging.WARNING, logger="studio.redis_config"):
        assert await check_redis_at_start(settings) == []
    assert "has no replica connected" in caplog.text
    direct = Redis(host="127.0.0.1", port=redis_sentinel.replica.port)
    try:
        assert await direct.mget("before", "during") == [b"1", b"1"]
    finally:
        await direct.aclose()


async def test_the_master_password_comes_from_redis_url_and_the_sentinels_own_is_sent(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """As deploy/redis.conf and deploy/sentinel.conf ship: every server has a requirepass."""
    watched = launch_sentinel_set(
        tmp_path / "with-passwords", password="master-pw", sentinel_password="sentinel-pw"
    )
    try:
        given = {
            "redis_url": "redis://:master-pw@unused.invalid:1/0",
            "redis_sentinels": (watched.sentinels,),
            "redis_sentinel_master": watched.name,
            "redis_reconnect_s": 0.0,  # a refusal is final here: no waiting it out
        }
        queue = await connect_queue(
            make_settings(**given, redis_sentinel_password=SecretStr("sentinel-pw"))
        )
        try:
            await queue.set("reached", "1")
            assert await queue.wait(1, 5000) == 1
        finally:
            await queue.aclose()
        direct = Redis(host="127.0.0.1", port=watched.replica.port, password="master-pw")
        try:
            assert await direct.get("reached") == b"1"
        finally:
            await direct.aclose()
        # Without the sentinels' password they do not say where the master is.
        with pytest.raises(MasterNotFoundError):
            await connect_queue(make_settings(**given))
    finally:
        watched.stop()


async def test_the_shipped_sentinel_conf_runs_and_logs_in_to_the_master(tmp_path: Path) -> None:
    """deploy/sentinel.conf in a real sentinel, its placeholders replaced as the file says.

    It must start, require its own password, and log in to a password-protected master: it
    learns the replica only from the master's INFO, which needs `sentinel auth-pass`.
    """
    shipped = (ROOT / "deploy" / "sentinel.conf").read_text()
    conf = (
        shipped.replace("CHANGE-ME-sentinel-password", "s-pw")
        .replace("CHANGE-ME-to-a-long-random-password", "m-pw")
        .replace("dir /var/lib/redis\n", f"dir {_made(tmp_path / 'sentinel')}\n")
    )
    assert conf.count("s-pw") == 2 and conf.count("m-pw") == 1 and str(tmp_path) in conf
    started: list[RedisServer] = []
    try:
        master = launch_redis_server(
            _made(tmp_path / "master"), extra=["--repl-diskless-sync-delay", "0"], password="m-pw"
        )
        started.append(master)
        started.append(
            launch_redis_server(
                _made(tmp_path / "replica"),
                extra=["--replicaof", "127.0.0.1", str(master.port)],
                password="m-pw",
            )
        )
        # The master's address is the one line an operator must change (quorum 1: one sentinel).
        conf = conf.replace(
            "portrait-studio 10.0.0.5 6379 2", f"portrait-studio 127.0.0.1 {master.port} 1"
        )
        sentinel = launch_sentinel(tmp_path / "sentinel", "portrait-studio", master, "s-pw", conf)
        started.append(sentinel)
        watched = SentinelSet("portrait-studio", master, started[1], sentinel)
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(watched.replicas_known) < 1:
            assert time.monotonic() < deadline, "the sentinel never learnt the replica"
            await asyncio.sleep(0.05)
        client = Redis(host="127.0.0.1", port=sentinel.port, password="s-pw")
        try:
            state = await client.sentinel_master("portrait-studio")
        finally:
            await client.aclose()
        assert (state["down-after-milliseconds"], state["parallel-syncs"]) == (5000, 1)
        unauthenticated = Redis(host="127.0.0.1", port=sentinel.port)
        try:
            with pytest.raises(RedisError, match=r"(?i)auth"):
                await unauthenticated.sentinel_masters()
        finally:
            await unauthenticated.aclose()
    finally:
        for server in reversed(started):
            server.stop()


def test_redis_sentinels_is_read_as_host_port_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.5:26379, sentinel-b:26380,")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.sentinel_addresses == [("10.0.0.5", 26379), ("sentinel-b", 26380)]
    monkeypatch.setenv("REDIS_SENTINELS", "")
    assert Settings(_env_file=None).sentinel_addresses == []  # type: ignore[call-arg]
    monkeypatch.setenv("REDIS_SENTINELS", "10.0.0.5")
    with pytest.raises(ValidationError, match="not host:port"):
        Settings(_env_file=None)  # type: ignore[call-arg]
