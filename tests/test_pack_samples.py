"""Sample images per style pack, on request from the pack list (issue 11.9).

The operator's PACK_SAMPLES_DIR/<pack_id>.jpg where there is one, else a placeholder drawn in
memory (a card over the pack's palette; the pack's name is in the caption). Sent only when
asked, as one album; uploaded once, then sent by the file_id Telegram gave it.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from bot.packs import SAMPLE_SIZE, pack_palette, pack_sample, style_packs
from bot.texts import text
from studio import keys
from tests.fixtures.bot import BotEnv, Message, button

USER = 8_601
OTHER = 8_602


async def sample_photos(env: BotEnv, user: int) -> list[Message]:
    return [m for m in await env.messages(user) if m["kind"] == "photo"]


async def ask_for_samples(env: BotEnv, user: int, packs: Message) -> list[Message]:
    await env.press(user, packs, "samples:")
    count = len(style_packs())
    for _ in range(300):
        photos = await sample_photos(env, user)
        if len(photos) >= count:
            return photos
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} sample photos, got {len(photos)}")


def test_a_placeholder_shows_the_pack_and_its_palette_and_an_operator_file_wins(
    tmp_path: Path,
) -> None:
    pack = style_packs()[0]
    placeholder = pack_sample(pack, None)
    assert placeholder.placeholder
    image = Image.open(io.BytesIO(placeholder.data))
    assert image.format == "PNG" and image.size == SAMPLE_SIZE
    image.verify()  # a well-formed file (CRCs included), as Telegram will check
    image = Image.open(io.BytesIO(placeholder.data))
    # The bottom band is the palette, one colour per stripe.
    stripe = SAMPLE_SIZE[0] // len(pack_palette(pack))
    for i, colour in enumerate(pack_palette(pack)):
        got = image.convert("RGB").getpixel((i * stripe + stripe // 2, SAMPLE_SIZE[1] - 20))
        assert isinstance(got, tuple)
        assert max(abs(a - b) for a, b in zip(got, colour, strict=True)) < 24, (i, got, colour)
    assert pack_sample(pack, tmp_path).placeholder  # an empty folder: still the placeholder
    (tmp_path / f"{pack.id}.jpg").write_bytes(b"\xff\xd8operator's own sample")
    own = pack_sample(pack, tmp_path)
    assert not own.placeholder and own.data == b"\xff\xd8operator's own sample"
    assert own.digest != placeholder.digest


async def test_samples_come_on_request_as_one_album_uploaded_once(
    bot_env: BotEnv, tmp_path: Path
) -> None:
    env = bot_env
    packs = style_packs()
    own = Image.new("RGB", (400, 500), (10, 120, 200))
    buffer = io.BytesIO()
    own.save(buffer, format="JPEG")
    (tmp_path / f"{packs[1].id}.jpg").write_bytes(buffer.getvalue())
    env.settings.pack_samples_dir = tmp_path

    pack_list = await env.reach_style(USER)
    assert button(pack_list, "samples:") is not None
    labels = [row[0]["text"] for row in pack_list["reply_markup"]["inline_keyboard"]]
    assert labels[-1] == text("en", "samples_button")
    await asyncio.sleep(0.3)
    assert await sample_photos(env, USER) == []  # nothing before the user asks

    photos = await ask_for_samples(env, USER, pack_list)
    assert len({m["media_group_id"] for m in photos}) == 1  # one album
    assert [m["caption"] for m in photos] == [
        text("en", "sample_caption", name=p.names["en"]) for p in packs
    ]
    # The operator's file is sent as it is; the others are placeholders made in memory.
    original = photos[1]["files"][0]["file_id"]
    assert await env.client.file_bytes(original) == buffer.getvalue()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{packs[1].id}.jpg"]
    # The pack list keeps its buttons, to choose from after looking.
    [listed] = [m for m in await env.messages(USER) if m["message_id"] == pack_list["message_id"]]
    assert button(listed, "pack:") is not None and button(listed, "samples:") is not None

    cached = [
        await env.studio.redis.get(keys.pack_sample(p.id, pack_sample(p, tmp_path).digest))
        for p in packs
    ]
    assert all(cached)
    first_ids = [m["files"][0]["file_id"] for m in photos]

    # Another user's album goes by file_id: the same stored files (an upload makes new ones).
    other_list = await env.reach_style(OTHER)
    other_photos = await ask_for_samples(env, OTHER, other_list)
    assert [m["files"][0]["file_id"] for m in other_photos] == first_ids


async def test_samples_are_answered_once_per_tap(bot_env: BotEnv) -> None:
    env = bot_env
    pack_list = await env.reach_style(USER)
    data = button(pack_list, "samples:")
    assert data is not None
    taps = await asyncio.gather(
        *(env.client.press(USER, pack_list["message_id"], data) for _ in range(2))
    )
    for tap in taps:
        await env.answer_of(tap["callback_query_id"])
    await asyncio.sleep(0.5)
    assert len(await sample_photos(env, USER)) == len(style_packs())
