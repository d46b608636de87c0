"""Every limit the emulator enforces answers with Telegram's status code and description."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from emulator.app import EmulatorConfig
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator

CHAT = 77


def button(data: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}


@pytest.fixture
async def emu(emulator: RunningEmulator) -> RunningEmulator:
    await emulator.client.send_text(CHAT, "/start")
    return emulator


async def expect_error(
    emu: RunningEmulator, method: str, status: int, description: str, /, **params: Any
) -> None:
    got_status, body = await emu.api(method, **params)
    assert (got_status, body) == (
        status,
        {"ok": False, "error_code": status, "description": description},
    )


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("", "Bad Request: message text is empty"),
        ("x" * 4097, "Bad Request: message is too long"),
        # 2049 emoji are 4098 UTF-16 code units, which is what Telegram counts.
        ("😀" * 2049, "Bad Request: message is too long"),
        ("<b></b>", "Bad Request: message text is empty"),
    ],
)
async def test_text_limits(emu: RunningEmulator, text: str, description: str) -> None:
    params: dict[str, Any] = {"chat_id": CHAT, "text": text}
    if text.startswith("<"):
        params["parse_mode"] = "HTML"
    await expect_error(emu, "sendMessage", 400, description, **params)


async def test_text_at_the_limit_counts_after_entity_parsing(emu: RunningEmulator) -> None:
    status, body = await emu.api(
        "sendMessage", chat_id=CHAT, text="<b>" + "x" * 4096 + "</b>", parse_mode="HTML"
    )
    assert status == 200
    assert len(body["result"]["text"]) == 4096
    assert body["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 4096}]


async def test_bad_markup_is_refused(emu: RunningEmulator) -> None:
    await expect_error(
        emu,
        "sendMessage",
        400,
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
        "with the preceding '\\'",
        chat_id=CHAT,
        text="Done.",
        parse_mode="MarkdownV2",
    )
    status, body = await emu.api(
        "sendMessage", chat_id=CHAT, text="*Done*\\.", parse_mode="MarkdownV2"
    )
    assert status == 200 and body["result"]["text"] == "Done."


async def test_caption_limit(emu: RunningEmulator) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("caption", "c" * 1025)
    form.add_field("photo", b"\x89PNG", filename="p.png", content_type="image/png")
    status, body = await emu.api("sendPhoto", form)
    assert (status, body["description"]) == (400, "Bad Request: message caption is too long")


@pytest.mark.parametrize("data", ["", "x" * 65, "é" * 33])
async def test_callback_data_must_be_1_to_64_bytes(emu: RunningEmulator, data: str) -> None:
    await expect_error(
        emu,
        "sendMessage",
        400,
        "Bad Request: BUTTON_DATA_INVALID",
        chat_id=CHAT,
        text="pick",
        reply_markup=button(data),
    )


async def test_callback_data_of_64_bytes_is_fine_in_a_form_body(emu: RunningEmulator) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("text", "pick")
    form.add_field("reply_markup", json.dumps(button("y" * 64)))
    status, body = await emu.api("sendMessage", form)
    assert status == 200
    assert body["result"]["reply_markup"] == button("y" * 64)


@pytest.mark.parametrize(
    ("count", "description"),
    [
        (0, "Bad Request: there are no messages to send"),
        (1, "Bad Request: media group must contain from 2 to 10 items"),
        (11, "Bad Request: too many messages to send as an album"),
    ],
)
async def test_media_group_must_have_2_to_10_items(
    emu: RunningEmulator, count: int, description: str
) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field(
        "media", json.dumps([{"type": "photo", "media": "attach://p"} for _ in range(count)])
    )
    form.add_field("p", b"img", filename="p.jpg", content_type="image/jpeg")
    status, body = await emu.api("sendMediaGroup", form)
    assert (status, body["description"]) == (400, description)
    assert await emu.client.messages(CHAT) == []


def invoice(**overrides: Any) -> dict[str, Any]:
    return {
        "chat_id": CHAT,
        "title": "Pack",
        "description": "12 portraits",
        "payload": "order:1",
        "currency": "XTR",
        "prices": [{"label": "Pack", "amount": 250}],
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"payload": ""}, "Bad Request: INVOICE_PAYLOAD_INVALID"),
        ({"payload": "p" * 129}, "Bad Request: INVOICE_PAYLOAD_INVALID"),
        (
            {"prices": [{"label": "a", "amount": 1}, {"label": "b", "amount": 2}]},
            "Bad Request: STARS_INVOICE_INVALID",
        ),
        ({"provider_token": "284685063:TEST:abc"}, "Bad Request: STARS_INVOICE_INVALID"),
    ],
)
async def test_invoice_limits(
    emu: RunningEmulator, overrides: dict[str, Any], description: str
) -> None:
    await expect_error(emu, "sendInvoice", 400, description, **invoice(**overrides))


async def test_invoice_with_128_byte_payload_and_empty_provider_token(
    emu: RunningEmulator,
) -> None:
    status, body = await emu.api("sendInvoice", **invoice(payload="p" * 128, provider_token=""))
    assert status == 200
    assert body["result"]["invoice"]["total_amount"] == 250


async def test_photo_over_10_mb_is_refused(emu: RunningEmulator) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("photo", b"\0" * (10 * 1024 * 1024 + 1), filename="big.jpg")
    status, body = await emu.api("sendPhoto", form)
    assert (status, body["description"]) == (400, "Bad Request: PHOTO_SAVE_FILE_INVALID")


def test_default_file_limits_are_telegrams() -> None:
    config = EmulatorConfig()
    assert config.max_photo_bytes == 10 * 1024 * 1024
    assert config.max_document_bytes == 50 * 1024 * 1024
    assert config.max_download_bytes == 20 * 1024 * 1024


async def test_document_and_download_limits(emulator_factory: EmulatorFactory) -> None:
    # Scaled-down limits keep the test fast; the defaults are checked above.
    emu = await emulator_factory(max_document_bytes=1000, max_download_bytes=500)
    await emu.client.send_text(CHAT, "hi")
    form = aiohttp.FormData()
    form.add_field("chat_id", str(CHAT))
    form.add_field("document", b"d" * 1001, filename="big.bin")
    status, body = await emu.api("sendDocument", form)
    assert (status, body["description"]) == (413, "Request Entity Too Large")

    sent = await emu.client.send_document(CHAT, b"u" * 501, "selfie.heic", "image/heic")
    status, body = await emu.api("getFile", file_id=sent["file_id"])
    assert (status, body["description"]) == (400, "Bad Request: file is too big")


async def test_unknown_method_chat_and_token(
    emu: RunningEmulator, emulator_factory: EmulatorFactory
) -> None:
    await expect_error(emu, "sendTelepathy", 404, "Not Found", chat_id=CHAT)
    await expect_error(emu, "sendMessage", 400, "Bad Request: chat not found", chat_id=5, text="hi")
    async with emu.session.post(f"{emu.url}/bot1:WRONG/getMe") as response:
        assert response.status == 401
        assert (await response.json())["description"] == "Unauthorized"
    open_emu = await emulator_factory(token=None)
    async with open_emu.session.get(f"{open_emu.url}/botANY:THING/getMe") as response:
        assert response.status == 200


async def test_query_string_parameters_are_accepted(emu: RunningEmulator) -> None:
    url = f"{emu.api_url}/sendMessage"
    async with emu.session.get(url, params={"chat_id": str(CHAT), "text": "via GET"}) as response:
        assert response.status == 200
    assert await emu.client.texts(CHAT) == ["via GET"]


async def test_edit_and_delete_of_missing_messages(emu: RunningEmulator) -> None:
    await expect_error(
        emu,
        "editMessageText",
        400,
        "Bad Request: message to edit not found",
        chat_id=CHAT,
        message_id=404,
        text="x",
    )
    await expect_error(
        emu,
        "deleteMessage",
        400,
        "Bad Request: message to delete not found",
        chat_id=CHAT,
        message_id=404,
    )


async def test_reply_markup_change_alone_is_an_edit(emu: RunningEmulator) -> None:
    _, sent = await emu.api("sendMessage", chat_id=CHAT, text="pick", reply_markup=button("a"))
    message_id = sent["result"]["message_id"]
    status, _ = await emu.api(
        "editMessageReplyMarkup", chat_id=CHAT, message_id=message_id, reply_markup=button("b")
    )
    assert status == 200
    await expect_error(
        emu,
        "editMessageReplyMarkup",
        400,
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
        chat_id=CHAT,
        message_id=message_id,
        reply_markup=button("b"),
    )
