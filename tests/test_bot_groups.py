"""In groups, supergroups and channels the bot only points to a private chat and stores nothing."""

from __future__ import annotations

import asyncio

from bot.app import ALLOWED_UPDATES
from emulator.client import latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio import keys
from tests.fixtures.bot import BotEnv

USER = 7301
GROUP = -1001234
SUPERGROUP = -1005678
CHANNEL = -1009999
# What the update pipeline (dedupe, the pending hash), the send rate limiter and the bot's
# start-up chores keep; nothing else may appear, and none of it names the sender.
# The one group-level marker: a group had its pointer this window (it names the group only).
TRANSPORT = (
    b"ps:update:",
    b"ps:updates:",
    b"ps:rl:",
    b"ps:chore:",
    b"ps:payments:",
    b"ps:group:",
)


async def _assert_nothing_stored(env: BotEnv) -> None:
    redis = env.studio.redis
    stored = await redis.keys(f"{keys.PREFIX}*")
    assert [k for k in stored if not k.startswith(TRANSPORT)] == [], stored
    assert [k for k in stored if str(USER).encode() in k] == [], stored
    assert await redis.zscore(keys.ACTIVE_USERS, str(USER)) is None
    pending = await redis.hlen(keys.UPDATES_PENDING)  # type: ignore[misc]
    assert pending == 0  # every update was handled
    for key in stored:
        if key.startswith(b"ps:group:"):  # expires with the window
            assert 0 < await redis.pttl(key) <= env.settings.user_limit_window_s * 1000, key
    for key in (keys.data_key(USER), keys.session(USER), keys.user_orders(USER)):
        assert not await env.studio.redis.exists(key), key
    for pattern in (keys.user_charges(USER), f"{keys.PREFIX}tap:{USER}:*", f"{keys.PREFIX}order*"):
        assert not await env.studio.redis.keys(pattern), pattern


async def _bot_texts(env: BotEnv, chat_id: int) -> list[str]:
    return [latest_text(m) for m in await env.client.messages(chat_id) if m["from_bot"]]


async def _until(env: BotEnv, chat_id: int, count: int) -> list[str]:
    for _ in range(300):
        texts = await _bot_texts(env, chat_id)
        if len(texts) >= count:
            return texts
        await asyncio.sleep(0.05)
    raise AssertionError(await _bot_texts(env, chat_id))


async def test_start_and_a_photo_in_a_group_get_the_link_and_store_nothing(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    sent = [
        await env.client.send_group_text(GROUP, "/start", user_id=USER),
        await env.client.send_group_photo(GROUP, synthetic_face_photo(1, 0), user_id=USER),
        await env.client.send_group_text(
            SUPERGROUP, "/start", user_id=USER, chat_type="supergroup"
        ),
    ]
    group_texts = await _until(env, GROUP, 1)
    super_texts = await _until(env, SUPERGROUP, 1)
    bot_username = env.bots[0].application.bot.username
    for answer in [*group_texts, *super_texts]:
        assert f"https://t.me/{bot_username}" in answer and "private chat" in answer
    await asyncio.sleep(0.3)  # nothing more arrives: one pointer per group per window
    for posted in sent:
        assert await env.studio.redis.get(keys.update_seen(posted["update_id"])) == b"done"
    assert len(await _bot_texts(env, GROUP)) == 1
    assert len(await _bot_texts(env, SUPERGROUP)) == 1
    assert not await env.client.messages(USER)  # nothing sent to the user privately
    await _assert_nothing_stored(env)


async def test_a_channel_post_is_taken_and_left_unanswered(bot_env: BotEnv) -> None:
    env = bot_env
    posted = await env.client.send_group_text(CHANNEL, "hello subscribers", chat_type="channel")
    await env.client.send_group_text(GROUP, "/help", user_id=USER)  # a marker behind it
    await _until(env, GROUP, 1)
    await asyncio.sleep(0.5)
    # Asked for in allowed_updates, so it reached the bot and was handled: silently.
    assert await env.studio.redis.get(keys.update_seen(posted["update_id"])) == b"done"
    assert await _bot_texts(env, CHANNEL) == []
    await _assert_nothing_stored(env)


def test_channel_posts_are_asked_for() -> None:
    assert {"channel_post", "edited_channel_post"} <= set(ALLOWED_UPDATES)


async def test_a_group_gets_one_pointer_per_window_however_often_it_asks(bot_env: BotEnv) -> None:
    env = bot_env
    env.settings.user_limit_window_s = 2.0
    for _ in range(5):
        await env.client.send_group_text(GROUP, "/start", user_id=USER)
    await _until(env, GROUP, 1)
    await asyncio.sleep(2.2)  # the window is over: the next ask is answered again
    await env.client.send_group_text(GROUP, "/start", user_id=USER)
    await _until(env, GROUP, 2)
    await asyncio.sleep(0.3)
    assert len(await _bot_texts(env, GROUP)) == 2
    await _assert_nothing_stored(env)
