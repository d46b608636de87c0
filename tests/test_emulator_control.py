"""The control API as other engineers use it: buttons, payments, refunds, albums, documents."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from PIL import Image

from emulator.client import ControlError
from tests.fixtures.emulator import EmulatorFactory, RunningEmulator

USER = 501


def jpeg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (900, 600), color).save(buffer, format="JPEG")
    return buffer.getvalue()


async def next_update(emu: RunningEmulator, kind: str) -> dict[str, Any]:
    """Poll like a bot until an update of `kind` arrives, confirming what it skips."""
    offset = 0
    while True:
        _, body = await emu.api("getUpdates", offset=offset, timeout=5)
        for update in body["result"]:
            offset = update["update_id"] + 1
            if kind in update:
                await emu.api("getUpdates", offset=offset)
                return dict(update[kind])


async def send_invoice(emu: RunningEmulator) -> int:
    await emu.client.send_text(USER, "/buy")
    _, body = await emu.api(
        "sendInvoice",
        chat_id=USER,
        title="Pack",
        description="12 portraits",
        payload="order:42",
        currency="XTR",
        prices=[{"label": "Pack", "amount": 250}],
    )
    return int(body["result"]["message_id"])


async def test_press_existing_button_and_read_the_answer(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(USER, "/start")
    _, sent = await emulator.api(
        "sendMessage",
        chat_id=USER,
        text="Consent?",
        reply_markup={"inline_keyboard": [[{"text": "Yes", "callback_data": "consent:yes"}]]},
    )
    message_id = sent["result"]["message_id"]
    pressed = await emulator.client.press(USER, message_id, "consent:yes")
    query = await next_update(emulator, "callback_query")
    assert query["id"] == pressed["callback_query_id"]
    assert query["data"] == "consent:yes"
    assert query["message"]["message_id"] == message_id
    assert query["from"]["id"] == USER and query["chat_instance"]
    assert await emulator.client.callback_answer(query["id"]) is None
    status, _ = await emulator.api(
        "answerCallbackQuery", callback_query_id=query["id"], text="Thanks", show_alert=True
    )
    assert status == 200
    answer = await emulator.client.callback_answer(query["id"])
    assert answer is not None and (answer["text"], answer["show_alert"]) == ("Thanks", True)
    status, body = await emulator.api("answerCallbackQuery", callback_query_id=query["id"])
    assert status == 400 and "query is too old" in body["description"]


async def test_press_refuses_missing_buttons_unless_forced(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(USER, "/start")
    _, sent = await emulator.api("sendMessage", chat_id=USER, text="plain")
    message_id = sent["result"]["message_id"]
    with pytest.raises(ControlError, match="no button"):
        await emulator.client.press(USER, message_id, "pay:forged")
    forged = await emulator.client.press(USER, 9999, "pay:forged", force=True)
    query = await next_update(emulator, "callback_query")
    assert query["id"] == forged["callback_query_id"]
    # A message the user can no longer see arrives as an InaccessibleMessage (date 0).
    assert query["message"]["date"] == 0


async def test_pay_flow_ok(emulator: RunningEmulator) -> None:
    invoice_id = await send_invoice(emulator)
    payment = asyncio.create_task(emulator.client.pay(USER, invoice_id))
    query = await next_update(emulator, "pre_checkout_query")
    assert (query["currency"], query["total_amount"], query["invoice_payload"]) == (
        "XTR",
        250,
        "order:42",
    )
    await emulator.api("answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=True)
    result = await payment
    assert result["ok"] is True and result["pre_checkout_query_id"] == query["id"]
    assert 0 <= result["answer_seconds"] < 5
    paid = await next_update(emulator, "message")
    assert paid["successful_payment"]["telegram_payment_charge_id"] == result["charge_id"]
    assert paid["successful_payment"]["invoice_payload"] == "order:42"
    assert paid["successful_payment"]["provider_payment_charge_id"]
    payments = await emulator.client.payments()
    assert [(p["charge_id"], p["refunded"]) for p in payments] == [(result["charge_id"], False)]


async def test_pay_flow_refused(emulator: RunningEmulator) -> None:
    invoice_id = await send_invoice(emulator)
    payment = asyncio.create_task(emulator.client.pay(USER, invoice_id, total_amount=1))
    query = await next_update(emulator, "pre_checkout_query")
    assert query["total_amount"] == 1
    await emulator.api(
        "answerPreCheckoutQuery",
        pre_checkout_query_id=query["id"],
        ok=False,
        error_message="Price changed",
    )
    result = await payment
    assert (result["ok"], result["error_message"]) == (False, "Price changed")
    assert await emulator.client.payments() == []


async def test_pay_flow_timeout(emulator_factory: EmulatorFactory) -> None:
    emu = await emulator_factory(pre_checkout_timeout=0.3)
    invoice_id = await send_invoice(emu)
    result = await emu.client.pay(USER, invoice_id)
    assert (result["ok"], result["error_message"]) == (False, "timeout")
    status, body = await emu.api(
        "answerPreCheckoutQuery", pre_checkout_query_id=result["pre_checkout_query_id"], ok=True
    )
    assert (status, body["description"]) == (400, "Bad Request: QUERY_ID_INVALID")


async def test_refund_once_then_already_refunded(emulator: RunningEmulator) -> None:
    invoice_id = await send_invoice(emulator)
    payment = asyncio.create_task(emulator.client.pay(USER, invoice_id))
    query = await next_update(emulator, "pre_checkout_query")
    await emulator.api("answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=True)
    charge_id = (await payment)["charge_id"]

    refund = {"user_id": USER, "telegram_payment_charge_id": charge_id}
    assert await emulator.api("refundStarPayment", **refund) == (200, {"ok": True, "result": True})
    status, body = await emulator.api("refundStarPayment", **refund)
    assert (status, body["description"]) == (400, "Bad Request: CHARGE_ALREADY_REFUNDED")
    status, body = await emulator.api(
        "refundStarPayment", user_id=USER, telegram_payment_charge_id="stxt-unknown"
    )
    assert (status, body["description"]) == (400, "Bad Request: CHARGE_NOT_FOUND")
    assert [p["refunded"] for p in await emulator.client.payments()] == [True]


async def test_replayed_successful_payment_keeps_the_charge_id(emulator: RunningEmulator) -> None:
    invoice_id = await send_invoice(emulator)
    payment = asyncio.create_task(emulator.client.pay(USER, invoice_id))
    query = await next_update(emulator, "pre_checkout_query")
    await emulator.api("answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=True)
    result = await payment
    replayed = await emulator.client.replay(result["update_id"])
    _, body = await emulator.api("getUpdates")
    (first, second) = [u for u in body["result"] if "message" in u][-2:]
    assert second["update_id"] == replayed != first["update_id"]
    assert first["message"]["successful_payment"] == second["message"]["successful_payment"]


async def test_album_shares_a_media_group(emulator: RunningEmulator) -> None:
    photos = [jpeg((i * 50, 0, 0)) for i in range(3)]
    album = await emulator.client.send_album(USER, photos, caption="selfies")
    assert len(album["messages"]) == 3
    _, body = await emulator.api("getUpdates")
    messages = [u["message"] for u in body["result"]]
    assert {m["media_group_id"] for m in messages} == {album["media_group_id"]}
    assert [m.get("caption") for m in messages] == ["selfies", None, None]
    for message, data in zip(messages, photos, strict=True):
        assert await emulator.client.file_bytes(message["photo"][-1]["file_id"]) == data


@pytest.mark.parametrize(
    ("kind", "mime", "field"),
    [
        ("document", "image/jpeg", "document"),
        ("animation", "image/gif", "animation"),
        ("video", "video/mp4", "video"),
    ],
)
async def test_document_kinds(emulator: RunningEmulator, kind: str, mime: str, field: str) -> None:
    sent = await emulator.client.send_document(
        USER, b"GIF89a-ish", f"f.{mime[-3:]}", mime, kind=kind
    )
    _, body = await emulator.api("getUpdates")
    message = body["result"][0]["message"]
    assert message[field]["file_id"] == sent["file_id"]
    assert message[field]["mime_type"] == mime
    _, file_body = await emulator.api("getFile", file_id=sent["file_id"])
    path = file_body["result"]["file_path"]
    async with emulator.session.get(f"{emulator.base_file_url}{emulator.token}/{path}") as resp:
        assert await resp.read() == b"GIF89a-ish"


async def test_wait_for_sees_edits_and_shows_transcript_on_timeout(
    emulator: RunningEmulator,
) -> None:
    await emulator.client.send_text(USER, "/status")
    _, sent = await emulator.api("sendMessage", chat_id=USER, text="Checking 1/20")

    async def edit_later() -> None:
        await asyncio.sleep(0.1)
        await emulator.api(
            "editMessageText",
            chat_id=USER,
            message_id=sent["result"]["message_id"],
            text="Checked 20/20",
        )

    editor = asyncio.create_task(edit_later())
    message = await emulator.client.wait_for(USER, lambda m: m["text"] == "Checked 20/20", 3)
    await editor
    assert len(message["edits"]) == 1
    assert await emulator.client.texts(USER) == ["Checked 20/20"]
    with pytest.raises(AssertionError, match="Checked 20/20"):
        await emulator.client.wait_for(USER, lambda m: m["text"] == "never", timeout=0.2)


async def test_reset_clears_everything(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(USER, "hi")
    await emulator.api("sendMessage", chat_id=USER, text="hello")
    await emulator.client.reset()
    assert await emulator.client.messages(USER) == []
    assert await emulator.client.calls() == []
    status, body = await emulator.api("sendMessage", chat_id=USER, text="hello")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
