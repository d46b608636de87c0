"""The aiohttp transport: uploads, the shared rate limit, and 429s that never drop a message."""

from __future__ import annotations

import time

from telegram.ext import ExtBot

from bot.client import make_bot
from pipeline.testing.synthetic_photos import synthetic_face_photo
from studio.domain import Studio
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory

USER = 7501


async def _bot(
    make_settings: SettingsFactory, emulator: RunningEmulator, **overrides: object
) -> tuple[ExtBot[None], Studio]:
    settings = make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        **overrides,
    )
    studio = await Studio.open(settings)
    bot = make_bot(settings, studio)
    await bot.initialize()
    return bot, studio


async def test_a_429_is_waited_out_and_the_message_still_arrives(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: object
) -> None:
    await emulator.client.send_text(USER, "hi")
    bot, studio = await _bot(make_settings, emulator)
    try:
        await emulator.client.inject_fault("sendMessage", count=2, status=429, retry_after=1)
        started = time.monotonic()
        sent = await bot.send_message(USER, "after the flood")
        assert time.monotonic() - started >= 1.9
        texts = await emulator.client.texts(USER)
        assert texts == ["after the flood"]
        assert sent.text == "after the flood"
    finally:
        await bot.shutdown()
        await studio.close()


async def test_uploads_go_as_multipart_and_arrive_byte_exact(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: object
) -> None:
    await emulator.client.send_text(USER, "hi")
    bot, studio = await _bot(make_settings, emulator)
    photo = synthetic_face_photo(1, 0)
    try:
        await bot.send_document(USER, photo, filename="portrait.jpg", caption="full size")
        message = (await emulator.client.messages(USER))[-1]
        assert message["caption"] == "full size"
        assert await emulator.client.file_bytes(message["files"][0]["file_id"]) == photo
        downloaded = await (
            await bot.get_file(message["files"][0]["file_id"])
        ).download_as_bytearray()
        assert bytes(downloaded) == photo
    finally:
        await bot.shutdown()
        await studio.close()


async def test_sends_to_one_chat_wait_on_the_shared_rate_limit(
    make_settings: SettingsFactory, emulator: RunningEmulator, redis: object
) -> None:
    await emulator.client.send_text(USER, "hi")
    bot, studio = await _bot(make_settings, emulator, tg_chat_per_second=4.0, tg_chat_burst=1)
    try:
        started = time.monotonic()
        for index in range(5):
            await bot.send_message(USER, f"message {index}")
        # One token at once, then 4 per second: the last of 5 waits ~1 s.
        assert time.monotonic() - started >= 0.9
        assert len(await emulator.client.texts(USER)) == 5
    finally:
        await bot.shutdown()
        await studio.close()
