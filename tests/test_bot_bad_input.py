"""Every bad input of issue 3 gets a specific, translated answer and leaves Redis whole."""

from __future__ import annotations

import asyncio
import io
import struct
import time
import zlib

from PIL import Image

from emulator.client import latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio import keys
from studio.orders import OrderState
from studio.photos import PhotoRole, PhotoStatus
from tests.fixtures.bot import BotEnv, button

USER = 7101
OTHER = 7102


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb() -> bytes:
    """A 100-byte PNG that claims 30000 x 30000 pixels."""
    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def corrupt_jpeg() -> bytes:
    data = synthetic_face_photo(1, 0)
    return data[: len(data) // 3]  # a truncated upload


def gif() -> bytes:
    frames = [Image.new("RGB", (80, 80), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


async def _stored_keys(env: BotEnv) -> list[bytes]:
    return sorted(await env.studio.redis.keys(f"{keys.PREFIX}*"))


async def test_a_photo_before_consent_is_answered_and_not_stored(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_photo(USER, synthetic_face_photo(1, 0))
    answer = await env.wait_text(USER, "before you agree")
    assert "not stored" in latest_text(answer)
    stored = [k for k in await _stored_keys(env) if not k.startswith(b"ps:update:")]
    assert not [k for k in stored if b"order" in k or b"dek" in k or b"session" in k], stored


async def test_declining_consent_stores_only_the_decision(bot_env: BotEnv) -> None:
    env = bot_env
    await env.client.send_text(USER, "/start")
    screen = await env.wait_for(USER, lambda m: button(m, "consent:no") is not None)
    await env.press(USER, screen, "consent:no")
    await env.wait_text(USER, "nothing was stored except your decision")
    session = await env.studio.sessions.get(USER)
    assert session.declined_at > 0 and not session.consented and not session.order_id
    assert not await env.studio.redis.exists(keys.user_orders(USER))
    # Buttons are removed so the choice cannot be flipped by an old tap.
    assert (await env.wait_for(USER, lambda m: m["message_id"] == screen["message_id"]))[
        "reply_markup"
    ] is None


async def test_text_where_a_photo_is_expected(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.client.send_text(USER, "hello?")
    await env.wait_text(USER, "I need a photo here, not text")
    await env.send_headshot(USER)
    await env.client.send_text(USER, "here you go")
    await env.wait_text(USER, "I need photos here, not text: send selfies (0 of 3 accepted)")


async def test_a_non_image_document_gif_video_and_sticker_get_specific_answers(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.client.send_document(USER, b"%PDF-1.4 not a photo", "notes.pdf", "application/pdf")
    await env.wait_text(USER, "This file is not an image I can use")
    await env.client.send_document(USER, gif(), "funny.gif", "image/gif", kind="animation")
    first = await env.wait_text(USER, "Animations and GIFs can't be used")
    await env.client.send_document(USER, gif(), "clip.gif", "image/gif")
    await env.wait_for(
        USER,
        lambda m: latest_text(m).startswith("Animations") and m["message_id"] > first["message_id"],
    )
    await env.client.send_document(
        USER, b"\x00\x00\x00\x18ftypmp42", "clip.mp4", "video/mp4", kind="video"
    )
    await env.wait_text(USER, "Videos can't be used")
    await env.client.inject_update(
        {
            "message": {
                "message_id": 999,
                "date": 1,
                "chat": {"id": USER, "type": "private", "first_name": "U"},
                "from": {"id": USER, "is_bot": False, "first_name": "U"},
                "sticker": {
                    "file_id": "sticker-file",
                    "file_unique_id": "sticker-u",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                },
            }
        }
    )
    await env.wait_text(USER, "Stickers can't be used")
    order = await env.current_order(USER)
    assert order.state is OrderState.HEADSHOT
    assert not await env.studio.redis.exists(keys.order_photos(order.id))


async def test_a_corrupt_jpeg_headshot_is_refused_with_the_reason(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.client.send_document(USER, corrupt_jpeg(), "IMG_1.jpg", "image/jpeg")
    refused = await env.wait_text(USER, "I can't use this headshot")
    assert "damaged" in latest_text(refused) and "send another" in latest_text(refused)
    order = await env.current_order(USER)
    assert order.state is OrderState.HEADSHOT
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    assert [(p.status, p.reason) for p in photos.values()] == [(PhotoStatus.REJECTED, "corrupt")]


async def test_a_decompression_bomb_and_an_oversized_image_are_refused(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.client.send_document(USER, decompression_bomb(), "bomb.png", "image/png")
    await env.wait_for(USER, lambda m: "too large to open safely: 1" in latest_text(m))
    huge = Image.new("L", (9000, 5000))  # 45 MP: over the 40 MP limit, under PIL's bomb limit
    buffer = io.BytesIO()
    huge.save(buffer, format="PNG")
    await env.client.send_document(USER, buffer.getvalue(), "huge.png", "image/png")
    await env.wait_for(USER, lambda m: "too many pixels: 1" in latest_text(m))
    # Over Telegram's 20 MB download limit: refused before anything is stored.
    await env.client.send_document(
        USER, b"\xff\xd8" + b"\x00" * (21 * 1024 * 1024), "big.jpg", "image/jpeg"
    )
    await env.wait_text(USER, "This file is too large (limit 20 MB)")
    order = await env.current_order(USER)
    photos = await env.studio.photos.records(order.id, await env.studio.vault.key_for(USER))
    selfies = [p for p in photos.values() if p.role is PhotoRole.SELFIE]
    assert sorted(p.reason for p in selfies) == ["decompression_bomb", "too_many_pixels"]


async def test_the_same_photo_twice_counts_once_and_the_maximum_is_enforced(
    bot_env: BotEnv,
) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    same = synthetic_face_photo(1, 1)
    await env.client.send_photo(USER, same)
    await env.client.send_photo(USER, same)
    await env.wait_text(USER, "You already sent this photo; it counts once.")
    await env.send_selfies(USER, 5, first=2)  # 6 selfies = max_selfies
    await env.wait_for(USER, lambda m: "Accepted: 6 of 3" in latest_text(m))
    await env.client.send_photo(USER, synthetic_face_photo(1, 9))
    await env.wait_text(USER, "That's the maximum of 6 selfies")
    counts = (await env.current_order(USER)).photos
    assert counts.accepted == 6 and counts.pending == 0


async def test_photos_after_the_flow_is_finished_are_answered(bot_env: BotEnv) -> None:
    env = bot_env
    await env.reach_style(USER)
    await env.client.send_photo(USER, synthetic_face_photo(1, 20))
    await env.wait_text(USER, "Your photos are complete")
    invoice_order = await env.current_order(USER)
    packs = await env.wait_for(USER, lambda m: button(m, "pack:") is not None)
    await env.press(USER, packs, "pack:")
    invoice = await env.wait_for(USER, lambda m: m["kind"] == "invoice")
    assert (await env.pay(USER, invoice))["ok"]
    await env.wait_text(USER, "Your place in the queue")
    await env.client.send_photo(USER, synthetic_face_photo(1, 21))
    await env.wait_text(USER, "Your order is paid and in the queue; new photos are not added")
    photos = await env.studio.photos.records(invoice_order.id, await env.studio.vault.key_for(USER))
    assert len(photos) == 1 + env.settings.min_selfies


async def test_double_tapped_buttons_act_once(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.send_selfies(USER, 3)
    status = await env.wait_for_done(USER)
    data = button(status, "done:")
    assert data is not None
    taps = [await env.client.press(USER, status["message_id"], data, force=True) for _ in "12"]
    answers = [await env.answer_of(t["callback_query_id"]) for t in taps]
    assert answers[1]["text"] == "Already done."
    packs = await env.wait_for(USER, lambda m: button(m, "pack:") is not None)
    pack = button(packs, "pack:")
    assert pack is not None
    taps = [await env.client.press(USER, packs["message_id"], pack, force=True) for _ in "12"]
    answers = [await env.answer_of(t["callback_query_id"]) for t in taps]
    assert answers[1]["text"] == "Already done."
    await asyncio.sleep(0.3)
    messages = await env.messages(USER)
    assert sum(latest_text(m).startswith("Step 3 of 3") for m in messages) == 1
    assert sum(m["kind"] == "invoice" for m in messages) == 1


async def test_a_button_from_another_users_message_is_refused(bot_env: BotEnv) -> None:
    env = bot_env
    await env.consent(USER)
    await env.send_headshot(USER)
    await env.send_selfies(USER, 3)
    status = await env.wait_for_done(USER)
    data = button(status, "done:")
    assert data is not None
    # OTHER forwards USER's message and taps its button: the order is not theirs.
    await env.consent(OTHER)
    own = (await env.messages(OTHER))[-1]
    tapped = await env.client.press(OTHER, own["message_id"], data, force=True)
    assert (await env.answer_of(tapped["callback_query_id"]))["text"] == "This button isn't yours."
    # A callback whose message sits in another user's chat.
    update_id = await env.client.inject_update(
        {
            "callback_query": {
                "id": "forged-1",
                "from": {"id": OTHER, "is_bot": False, "first_name": "O"},
                "chat_instance": "1",
                "data": data,
                "message": {
                    "message_id": status["message_id"],
                    "date": 1,
                    "chat": {"id": USER, "type": "private", "first_name": "U"},
                    "from": {"id": 1, "is_bot": True, "first_name": "Bot"},
                    "text": "x",
                },
            }
        }
    )
    assert update_id > 0
    await asyncio.sleep(0.3)
    assert (await env.current_order(USER)).state is OrderState.SELFIES


async def test_a_button_from_an_old_message_is_out_of_date(bot_env: BotEnv) -> None:
    env = bot_env
    packs = await env.reach_style(USER)
    await env.client.send_text(USER, "/cancel")
    await env.wait_text(USER, "Cancelled.")
    answer = await env.press(USER, packs, "pack:")
    assert answer["text"] == "This button is out of date."
    assert (await env.current_order(USER)).state is OrderState.HEADSHOT
    assert not [m for m in await env.messages(USER) if m["kind"] == "invoice"]


async def test_an_unknown_command_gets_the_help(bot_env: BotEnv) -> None:
    await bot_env.client.send_text(7101, "/frobnicate")
    await bot_env.wait_text(7101, "How it works:", timeout=15)


async def test_voice_and_location_get_a_short_answer(bot_env: BotEnv) -> None:
    user = 7102
    await bot_env.client.send_text(user, "/help")  # the chat exists
    await bot_env.wait_text(user, "How it works:", timeout=15)
    chat = {"id": user, "type": "private", "first_name": "V"}
    sender = {"id": user, "is_bot": False, "first_name": "V"}
    for extra in (
        {"voice": {"file_id": "v1", "file_unique_id": "v1u", "duration": 2}},
        {"location": {"latitude": 1.5, "longitude": 2.5}},
    ):
        await bot_env.client.inject_update(
            {"message": {"message_id": 900, "date": 1, "chat": chat, "from": sender, **extra}}
        )
    wanted = "I can only work with photos"
    deadline = time.monotonic() + 15
    while sum(wanted in t for t in await bot_env.client.texts(user)) < 2:
        assert time.monotonic() < deadline, await bot_env.client.texts(user)
        await asyncio.sleep(0.05)
