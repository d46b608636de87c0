"""python-telegram-bot's Bot, pointed at the emulator, parses everything it returns."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    LabeledPrice,
    TransactionPartnerUser,
    Update,
)
from telegram.error import BadRequest, InvalidToken
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fixtures.emulator import RunningEmulator


def jpeg(width: int, height: int, color: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_bot(emulator: RunningEmulator, token: str | None = None) -> Bot:
    return Bot(
        token or emulator.token,
        base_url=emulator.base_url,
        base_file_url=emulator.base_file_url,
    )


async def test_get_me_describes_the_configured_bot(emulator: RunningEmulator) -> None:
    async with make_bot(emulator) as bot:
        me = await bot.get_me()
    assert me.is_bot
    assert me.username == emulator.config.bot_username
    assert me.id == emulator.config.bot_id


async def test_wrong_token_is_unauthorized(emulator: RunningEmulator) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(emulator, token="999:WRONG") as bot:
            await bot.get_me()


async def test_user_photo_arrives_as_size_ladder_and_downloads_byte_identical(
    emulator: RunningEmulator,
) -> None:
    original = jpeg(1600, 1200)
    sent = await emulator.client.send_photo(42, original, caption="me")
    async with make_bot(emulator) as bot:
        updates = await bot.get_updates(timeout=1)
        message = updates[0].message
        assert message is not None
        assert message.from_user is not None and message.from_user.id == 42
        assert message.chat.id == 42 and message.chat.type == "private"
        assert message.caption == "me"
        sizes = [(size.width, size.height) for size in message.photo]
        assert sizes == [(320, 240), (800, 600), (1600, 1200)]
        assert message.photo[-1].file_id == sent["file_id"]
        telegram_file = await bot.get_file(message.photo[-1].file_id)
        downloaded = await telegram_file.download_as_bytearray()
        thumbnail = await (await bot.get_file(message.photo[0].file_id)).download_as_bytearray()
    assert bytes(downloaded) == original
    assert Image.open(io.BytesIO(bytes(thumbnail))).size == (320, 240)


async def test_same_bytes_share_file_unique_id(emulator: RunningEmulator) -> None:
    data = jpeg(100, 100)
    first = await emulator.client.send_photo(1, data)
    second = await emulator.client.send_photo(1, data)
    other = await emulator.client.send_photo(1, jpeg(100, 100, (0, 0, 255)))
    assert first["file_unique_id"] == second["file_unique_id"]
    assert first["file_id"] != second["file_id"]
    assert other["file_unique_id"] != first["file_unique_id"]


async def test_corrupt_photo_is_still_delivered_as_single_size(emulator: RunningEmulator) -> None:
    garbage = b"\xff\xd8 definitely not a jpeg"
    await emulator.client.send_photo(7, garbage)
    async with make_bot(emulator) as bot:
        (update,) = await bot.get_updates(timeout=1)
        assert update.message is not None
        assert len(update.message.photo) == 1
        file = await bot.get_file(update.message.photo[0].file_id)
        assert bytes(await file.download_as_bytearray()) == garbage


async def test_media_group_with_uploads_is_parsed_and_stored(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(5, "/start")
    portraits = [jpeg(1024, 1024, (i * 40, 10, 10)) for i in range(3)]
    async with make_bot(emulator) as bot:
        sent = await bot.send_media_group(
            5,
            [
                InputMediaPhoto(data, caption="AI-generated" if i == 0 else None)
                for i, data in enumerate(portraits)
            ],
        )
    assert len(sent) == 3
    assert len({message.media_group_id for message in sent}) == 1
    assert sent[0].caption == "AI-generated"
    stored = await emulator.client.messages(5)
    assert [m["media_group_id"] for m in stored] == [sent[0].media_group_id] * 3
    for message, data in zip(stored, portraits, strict=True):
        assert await emulator.client.file_bytes(message["files"][0]["file_id"]) == data


async def test_document_album_and_single_document(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(5, "hi")
    async with make_bot(emulator) as bot:
        docs = await bot.send_media_group(
            5,
            [
                InputMediaDocument(b"one", filename="a.png"),
                InputMediaDocument(b"two", filename="b.png"),
            ],
        )
        single = await bot.send_document(5, b"%PDF-1.4", filename="full.pdf", caption="full size")
    assert [d.document.file_name for d in docs if d.document] == ["a.png", "b.png"]
    assert single.document is not None and single.document.mime_type == "application/pdf"
    stored = await emulator.client.messages(5)
    assert stored[-1]["files"][0] == {
        **stored[-1]["files"][0],
        "filename": "full.pdf",
        "mime_type": "application/pdf",
        "size": 8,
    }


async def test_stars_invoice_round_trip(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(9, "/buy")
    async with make_bot(emulator) as bot:
        message = await bot.send_invoice(
            9, "Studio pack", "12 portraits", "order:abc", "XTR", [LabeledPrice("Pack", 250)]
        )
    assert message.invoice is not None
    assert (message.invoice.currency, message.invoice.total_amount) == ("XTR", 250)
    (stored,) = await emulator.client.messages(9)
    assert stored["invoice"]["payload"] == "order:abc"


async def test_star_transactions_list_payments_and_refunds(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(11, "/buy")
    async with make_bot(emulator) as bot:
        invoice = await bot.send_invoice(
            11, "Studio pack", "12 portraits", "order:tx", "XTR", [LabeledPrice("Pack", 250)]
        )
        paying = asyncio.create_task(emulator.client.pay(11, invoice.message_id))
        (update,) = await bot.get_updates(offset=2, timeout=5)  # after the /buy message
        assert update.pre_checkout_query is not None
        await update.pre_checkout_query.answer(ok=True)
        charge_id = (await paying)["charge_id"]
        assert await bot.refund_star_payment(11, charge_id)
        history = await bot.get_star_transactions()
        tail = await bot.get_star_transactions(offset=1, limit=1)
        with pytest.raises(BadRequest):
            await bot.get_star_transactions(limit=101)
    payment, refund = history.transactions
    assert (payment.id, payment.amount, refund.id) == (charge_id, 250, charge_id)
    assert isinstance(payment.source, TransactionPartnerUser) and payment.receiver is None
    assert payment.source.user.id == 11 and payment.source.invoice_payload == "order:tx"
    assert isinstance(refund.receiver, TransactionPartnerUser) and refund.source is None
    assert tail.transactions == (refund,)


async def test_edit_with_identical_content_is_not_modified(emulator: RunningEmulator) -> None:
    await emulator.client.send_text(3, "hi")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Pay", callback_data="pay")]])
    async with make_bot(emulator) as bot:
        message = await bot.send_message(3, "Queue: 5", reply_markup=keyboard)
        edited = await bot.edit_message_text(
            "Queue: 4", 3, message.message_id, reply_markup=keyboard
        )
        assert not isinstance(edited, bool) and edited.text == "Queue: 4"
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text("Queue: 4", 3, message.message_id, reply_markup=keyboard)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", 3, 999)
        assert await bot.delete_message(3, message.message_id)
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(3, message.message_id)
    (stored,) = await emulator.client.messages(3)
    assert stored["deleted"] is True
    assert stored["original"]["text"] == "Queue: 5"
    assert [edit["text"] for edit in stored["edits"]] == ["Queue: 4"]


async def test_commands_are_kept_per_language(emulator: RunningEmulator) -> None:
    async with make_bot(emulator) as bot:
        await bot.set_my_commands([("start", "Start"), ("delete", "Erase my data")])
        await bot.set_my_commands([("start", "开始")], language_code="zh")
        default = await bot.get_my_commands()
        chinese = await bot.get_my_commands(language_code="zh")
    assert [c.command for c in default] == ["start", "delete"]
    assert [c.description for c in chinese] == ["开始"]
    assert len(await emulator.client.commands()) == 2


async def test_unknown_chat_is_chat_not_found(emulator: RunningEmulator) -> None:
    async with make_bot(emulator) as bot:
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(123456789, "hello?")


async def test_ptb_application_polls_and_answers(emulator: RunningEmulator) -> None:
    """A whole PTB Application (Updater long polling) talks to the emulator end to end."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "Welcome!")

    application = (
        Application.builder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            await emulator.client.send_text(314, "/start")
            reply = await emulator.client.wait_for(314, lambda m: m["text"] == "Welcome!", 5)
        finally:
            await application.updater.stop()
            await application.stop()
    assert reply["from_bot"] is True
