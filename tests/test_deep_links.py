"""Deep links (/start <source>): an anonymous count per source, shown to operators in /admin."""

from __future__ import annotations

from bot.start_sources import OTHER, SOURCES_KEY, source_of
from bot.texts import text
from emulator.client import latest_text
from studio import keys
from tests.fixtures.bot import BotEnv

USER = 7501
OTHER_USER = 7502
OPERATOR = 7503
WELCOME = "Hi! I make"


async def _sources(env: BotEnv) -> dict[str, int]:
    raw = await env.studio.redis.hgetall(SOURCES_KEY)  # type: ignore[misc]
    return {name.decode(): int(count) for name, count in raw.items()}


async def test_start_payloads_are_counted_per_source_with_nothing_of_the_user(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    env.settings.admin_user_ids = (OPERATOR,)
    env.settings.start_sources_max = 2
    for user, payload in (
        (USER, "ad_spring-2026"),
        (OTHER_USER, "ad_spring-2026"),
        (USER, "friends"),
        (USER, "third_source"),  # past the cap of 2 distinct sources
        (OTHER_USER, "no spaces; or ünïcode"),  # not a Telegram start payload
        (USER, "x" * 65),  # longer than Telegram allows
    ):
        before = len(await env.messages(user))
        await env.client.send_text(user, f"/start {payload}")
        await env.wait_count(user, before + 1)
    await env.client.send_text(OTHER_USER, "/start")  # no payload: not counted
    await env.wait_text(OTHER_USER, WELCOME)
    assert await _sources(env) == {"ad_spring-2026": 2, "friends": 1, OTHER: 3}

    redis = env.studio.redis
    fields = await redis.hkeys(SOURCES_KEY)  # type: ignore[misc]
    values = await redis.hvals(SOURCES_KEY)  # type: ignore[misc]
    for user in (USER, OTHER_USER):
        assert not [f for f in [*fields, *values] if str(user).encode() in f]
    assert await redis.type(SOURCES_KEY) == b"hash"
    assert await redis.ttl(SOURCES_KEY) == -1  # a lasting count, not per user

    await env.client.send_text(OPERATOR, "/admin")
    shown = latest_text(await env.wait_text(OPERATOR, "Operator view"))
    assert "(deep links, top 10): other 3, ad_spring-2026 2, friends 1" in shown
    assert str(USER) not in shown and str(OTHER_USER) not in shown


async def test_delete_leaves_the_anonymous_count_alone(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start promo")
    await env.consent(USER)
    await env.client.send_text(USER, "/delete")
    confirm = await env.wait_for(USER, lambda m: "Erase all your data" in latest_text(m))
    await env.press(USER, confirm, "erase:yes")
    await env.wait_text(
        USER, text("en", "delete_done", orders=0, photos=0, refunded=0, ledger=0)[:12]
    )
    assert not await env.studio.redis.exists(keys.session(USER))
    assert await _sources(env) == {"promo": 1}


def test_only_telegram_start_payloads_name_a_source() -> None:
    assert source_of("abc_XYZ-09") == "abc_XYZ-09"
    assert source_of("a" * 64) == "a" * 64
    for bad in ("a" * 65, "a b", "a.b", "é", "../x", "a\n"):
        assert source_of(bad) == OTHER


def test_a_payload_that_could_be_an_id_or_a_phone_number_names_no_source() -> None:
    assert source_of("spring2026") == "spring2026"
    assert source_of("ad_1234") == "ad_1234"
    for id_like in ("ref_123456789", "447700900123", "u12345", "order-99999-x"):
        assert source_of(id_like) == OTHER
