"""Each checked photo is marked on the user's own message: 👍 taken, 👎 refused (issue 11.9).

In an album of 10 the user sees which photos were refused; the status message lists why. The
emulator's setMessageReaction is checked against the Bot API's rules first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from emulator.client import latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from tests.fixtures.bot import BotEnv, is_status_message
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator

USER = 8_401


async def _user_photo(emulator: RunningEmulator, user: int) -> int:
    sent = await emulator.client.send_photo(user, synthetic_face_photo(1, 0))
    return int(sent["message_id"])


async def test_set_message_reaction_follows_the_bot_api(emulator: RunningEmulator) -> None:
    message_id = await _user_photo(emulator, USER)
    status, body = await emulator.api(
        "setMessageReaction",
        chat_id=USER,
        message_id=message_id,
        reaction=[{"type": "emoji", "emoji": "👍"}],
    )
    assert (status, body) == (200, {"ok": True, "result": True})
    [photo] = await emulator.client.messages(USER, include_user=True)
    assert photo["reactions"] == [{"type": "emoji", "emoji": "👍"}]

    # Not on the list of reactions, more than a bot may set, a message that is not there.
    refusals = [
        ({"message_id": message_id, "reaction": [{"type": "emoji", "emoji": "🦖"}]}, "REACTION"),
        (
            {
                "message_id": message_id,
                "reaction": [{"type": "emoji", "emoji": "👍"}, {"type": "emoji", "emoji": "🔥"}],
            },
            "REACTIONS_TOO_MANY",
        ),
        (
            {"message_id": message_id + 50, "reaction": [{"type": "emoji", "emoji": "👎"}]},
            "MESSAGE",
        ),
        ({"message_id": message_id, "reaction": [{"type": "paid"}]}, "paid"),
    ]
    for params, fragment in refusals:
        status, body = await emulator.api("setMessageReaction", chat_id=USER, **params)
        assert status == 400 and fragment in body["description"], (params, body)
    status, body = await emulator.api(
        "setMessageReaction", chat_id=USER + 1, message_id=message_id, reaction=[]
    )
    assert status == 400 and "chat not found" in body["description"]
    # None of that changed the reaction; an empty list takes it away.
    [photo] = await emulator.client.messages(USER, include_user=True)
    assert photo["reactions"] == [{"type": "emoji", "emoji": "👍"}]
    status, _ = await emulator.api(
        "setMessageReaction", chat_id=USER, message_id=message_id, reaction=[]
    )
    assert status == 200
    [photo] = await emulator.client.messages(USER, include_user=True)
    assert photo["reactions"] == [] and len(photo["reaction_log"]) == 2


async def test_reactions_are_not_messages_to_the_chats_flood_limit(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(chat_rate=1.0, chat_burst=1.0)
    message_id = await _user_photo(emulator, USER)
    for emoji in ("👍", "👎", "👍", "👎", "👍"):  # five at once: a 1/s chat would refuse four
        status, body = await emulator.api(
            "setMessageReaction",
            chat_id=USER,
            message_id=message_id,
            reaction=[{"type": "emoji", "emoji": emoji}],
        )
        assert status == 200, body
    # A message still finds the chat's bucket full.
    assert (await emulator.api("sendMessage", chat_id=USER, text="a"))[0] == 200
    assert (await emulator.api("sendMessage", chat_id=USER, text="b"))[0] == 429


def _marks(messages: list[dict[str, Any]]) -> dict[int, str]:
    """The bot's reaction on each of the user's messages that has one."""
    return {
        m["message_id"]: m["reactions"][0]["emoji"]
        for m in messages
        if not m["from_bot"] and m["reactions"]
    }


async def test_every_photo_of_an_album_is_marked_taken_or_refused(bot_env: BotEnv) -> None:
    env = bot_env
    env.settings.max_selfies = 10  # every photo of the album is checked
    await env.consent(USER)
    headshot = await env.client.send_photo(USER, synthetic_face_photo(1, 0))
    await env.status_message(USER)
    # An album of 10: 7 selfies of the user, 2 of someone else, 1 without a face.
    photos = [synthetic_face_photo(1, v) for v in range(1, 8)]
    photos[2:2] = [synthetic_face_photo(2, 1), synthetic_face_photo(3, 2)]
    photos.append(synthetic_face_photo(1, 9, kind="no_face"))
    album = await env.client.send_album(USER, photos)
    ids = [int(m["message_id"]) for m in album["messages"]]
    refused = {ids[2], ids[3], ids[9]}

    marks: dict[int, str] = {}
    for _ in range(300):
        marks = _marks(await env.client.messages(USER, include_user=True))
        if all(i in marks for i in ids):
            break
        await asyncio.sleep(0.05)
    assert marks.get(headshot["message_id"]) == "👍"
    assert {i for i in ids if marks.get(i) == "👎"} == refused
    assert {i for i in ids if marks.get(i) == "👍"} == set(ids) - refused

    # The status message gives the reasons and says how the refused ones are marked.
    status = await env.wait_for(
        USER,
        lambda m: (
            is_status_message(m) and "Checking" not in latest_text(m) and "Not" in (latest_text(m))
        ),
    )
    body = latest_text(status)
    assert "Not usable (each one marked 👎 on your photo):" in body
    assert "it doesn't look like the person in the headshot: 2" in body
    assert "no face found: 1" in body
    # The marks are reactions, not messages: the chat got no message per photo.
    assert sum(is_status_message(m) for m in await env.messages(USER)) == 1
    calls = await env.client.calls(method="setMessageReaction")
    assert len(calls) == 11 and all(c["status"] == 200 for c in calls)


async def test_a_refused_headshot_is_marked_on_the_photo_too(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    sent = await env.client.send_photo(USER, synthetic_face_photo(1, 0, kind="no_face"))
    await env.wait_text(USER, "I can't use this headshot: no face found")
    for _ in range(100):
        if _marks(await env.client.messages(USER, include_user=True)):
            break
        await asyncio.sleep(0.05)
    assert _marks(await env.client.messages(USER, include_user=True)) == {sent["message_id"]: "👎"}
