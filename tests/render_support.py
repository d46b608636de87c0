"""Shared helpers for the render, queue, reconciler and whole-order tests.

Paid orders are built through the domain: photos are uploaded to the emulator as the user (so
their file_ids are real there) and the payment is a real Stars payment in the emulator (so
refundStarPayment finds the charge); the conversation itself is not involved, so these tests
stand on their own. Also here: settings for the tiny models, the studio and bot on the
emulator, and waiting for an order's state or a user's media.

Random-weight tiny SDXL draws no faces, so review is permissive in `tiny_model_settings`
(review_require_one_face=False, review_min_identity=-inf); the identity path itself is covered
by the pipeline's tests.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from telegram.ext import ExtBot

from bot.client import make_bot
from studio.clock import Clock
from studio.domain import Studio
from studio.orders import Order, OrderState
from studio.payments import LedgerEntry, Outcome, link_invoice, new_invoice_ref
from studio.photos import PhotoRecord, PhotoRole, PhotoStatus
from studio.queue import enqueue_render
from studio.settings import Settings
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory

# The repository root, where `python worker.py` runs.
ROOT = Path(__file__).resolve().parent.parent
PACK = "business"
PRICE = 150


async def upload_photos(
    emulator: RunningEmulator, user_id: int, identity: int, selfies: int
) -> list[dict[str, Any]]:
    """The headshot then `selfies` selfies of one synthetic identity, as the user sent them."""
    from pipeline.testing.synthetic_photos import synthetic_face_photo

    sent = []
    for variant in range(selfies + 1):
        data = synthetic_face_photo(identity, variant)
        sent.append(await emulator.client.send_photo(user_id, data))
    return sent


async def pay_in_emulator(emulator: RunningEmulator, user_id: int, amount: int = PRICE) -> str:
    """A real Stars charge: invoice, pre-checkout answered by the test, successful payment."""
    status, body = await emulator.api(
        "sendInvoice",
        chat_id=user_id,
        title="Portraits",
        description="A set of portraits",
        payload="test-payload",
        currency="XTR",
        prices=[{"label": "Portraits", "amount": amount}],
    )
    assert status == 200, body
    paying = asyncio.create_task(emulator.client.pay(user_id, body["result"]["message_id"]))
    offset = 0
    while not paying.done():
        _, updates = await emulator.api("getUpdates", offset=offset, timeout=0)
        for update in updates["result"]:
            offset = update["update_id"] + 1
            query = update.get("pre_checkout_query")
            if query is not None:
                await emulator.api(
                    "answerPreCheckoutQuery", pre_checkout_query_id=query["id"], ok=True
                )
        await asyncio.sleep(0.01)
    result = await paying
    assert result["ok"], result
    return str(result["charge_id"])


async def make_paid_order(
    studio: Studio,
    emulator: RunningEmulator,
    user_id: int,
    *,
    pack: str,
    lang: str = "en",
    selfies: int = 3,
    enqueue: bool = True,
) -> Order:
    """An order in state `paid`, with accepted photos, a status message and a queued render."""
    now = studio.clock.now()
    order = await studio.orders.create(user_id, user_id, lang, now)
    key = await studio.vault.key_for(user_id)
    for i, photo in enumerate(await upload_photos(emulator, user_id, user_id % 1000, selfies)):
        record = PhotoRecord(
            file_id=photo["file_id"],
            file_unique_id=photo["file_unique_id"],
            role=PhotoRole.HEADSHOT if i == 0 else PhotoRole.SELFIE,
            status=PhotoStatus.ACCEPTED,
            received_at=now + i,
        )
        assert await studio.photos.add(order.id, key, record)
    charge_id = await pay_in_emulator(emulator, user_id)
    _, sent = await emulator.api("sendMessage", chat_id=user_id, text="You're in the queue.")
    order = await walk_to_payment(studio, order, pack)
    await studio.orders.set_queue_message(order.id, sent["result"]["message_id"])
    await studio.ledger.record_payment(
        LedgerEntry(
            charge_id=charge_id,
            order_id=order.id,
            user_id=user_id,
            amount=PRICE,
            currency="XTR",
            paid_at=now,
            outcome=Outcome.PAID,
        )
    )
    assert await studio.orders.pay(order.id, charge_id, now)
    if enqueue:
        assert await enqueue_render(studio.redis, order.id, studio.settings)
    fresh = await studio.orders.get(order.id)
    assert fresh is not None
    return fresh


async def make_queued_order(studio: Studio, emulator: RunningEmulator, user_id: int) -> Order:
    """A paid order with a status message and a queued render job, without photos or a charge."""
    now = studio.clock.now()
    order = await studio.orders.create(user_id, user_id, "en", now)
    await emulator.client.send_text(user_id, "/start")  # the chat exists once the user wrote
    _, sent = await emulator.api("sendMessage", chat_id=user_id, text="You're in the queue.")
    order = await walk_to_payment(studio, order, "studio")
    assert await studio.orders.pay(order.id, "", now)  # no charge: nothing to refund
    await studio.orders.set_queue_message(order.id, sent["result"]["message_id"])
    assert await enqueue_render(studio.redis, order.id, studio.settings)
    fresh = await studio.orders.get(order.id)
    assert fresh is not None
    return fresh


async def walk_to_payment(studio: Studio, order: Order, pack: str) -> Order:
    """The order through its intake steps, up to the invoice (photos are the caller's)."""
    assert await studio.orders.accept_headshot(order.id)
    assert await studio.orders.finish_selfies(order.id)
    chosen = await studio.orders.choose_pack(order.id, pack, PRICE, new_invoice_ref())
    assert chosen is not None
    assert await link_invoice(studio.redis, order.id, chosen.invoice_ref)  # as the bot does
    return chosen


def emulator_settings(make_settings: Any, emulator: RunningEmulator, **overrides: Any) -> Any:
    """Settings whose Bot API is the test's emulator."""
    return make_settings(
        telegram_bot_token=emulator.token,
        bot_api_base_url=emulator.base_url,
        bot_api_base_file_url=emulator.base_file_url,
        **overrides,
    )


def tiny_model_settings(models_dir: Path) -> dict[str, Any]:
    """Settings overrides that make the render worker use the tiny models, fast, on CPU."""
    from pipeline.testing.tiny_models import ADAPTER_WEIGHT_NAME

    return {
        "face_pack": "tiny_pack",
        "face_dir": models_dir / "insightface",
        "sdxl_dir": str(models_dir / "sdxl"),
        "ip_adapter_dir": str(models_dir / "faceid"),
        "ip_adapter_weight": ADAPTER_WEIGHT_NAME,
        "render_steps": 2,
        "render_width": 64,
        "render_height": 80,
        "render_device": "cpu",
        "render_dtype": "float32",
        "review_require_one_face": False,
        "review_min_identity": -math.inf,  # ReviewConfig.permissive(): faceless outputs pass
        "review_extra_attempts": 0,
        "render_max_tries": 2,
        "render_job_timeout_s": 60,
    }


def render_bot_settings(
    make_settings: SettingsFactory,
    emulator: RunningEmulator,
    models_dir: Path,
    **overrides: Any,
) -> Settings:
    """The conversation's settings (bot_env's) plus the tiny models, for bot and both workers.

    For a test module's `bot_settings` override; `overrides` win over the tiny model settings.
    """
    values: dict[str, Any] = {
        "bot_concurrency": 32,
        **tiny_model_settings(models_dir),
        **overrides,
    }
    settings: Settings = emulator_settings(make_settings, emulator, **values)
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `python worker.py` build exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.isupper() or not k.startswith("TG_")}
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, tuple | list):  # comma-separated, as the settings read them
            value = ",".join(str(item) for item in value)
        env[name.upper()] = str(value)
    env["LOG_LEVEL"] = "WARNING"
    return env


StudioBot = tuple[Studio, ExtBot[None]]
# Studio + bot, and a function that starts an in-process render worker.
RenderLive = tuple[Studio, ExtBot[None], Callable[[], Awaitable[None]]]


@asynccontextmanager
async def open_studio_bot(settings: Settings, clock: Clock) -> AsyncIterator[StudioBot]:
    """The domain and an initialised bot (it polls no updates) on `settings`."""
    studio = await Studio.open(settings, clock=clock)
    bot = make_bot(settings, studio)
    await bot.initialize()
    try:
        yield studio, bot
    finally:
        await bot.shutdown()
        await studio.close()


async def wait_for_state(
    studio: Studio, order_id: str, states: set[OrderState], timeout: float = 60.0
) -> Order:
    deadline = time.monotonic() + timeout
    while True:
        order = await studio.orders.get(order_id)
        assert order is not None
        if order.state in states:
            return order
        assert time.monotonic() < deadline, f"order stuck in {order.state}"
        await asyncio.sleep(0.05)


async def bot_media(emulator: RunningEmulator, chat_id: int) -> tuple[list[Any], list[Any]]:
    """The album photos and the documents the bot sent to a chat, in order."""
    messages = [m for m in await emulator.client.messages(chat_id) if m["from_bot"]]
    return (
        [m for m in messages if m["kind"] == "photo"],
        [m for m in messages if m["kind"] == "document"],
    )


def preview_photos(settings: Settings, portraits: int) -> int:
    """How many preview photos an order of `portraits` sends: sheets of PREVIEW_PER_SHEET."""
    return math.ceil(portraits / settings.preview_per_sheet)


async def delivery_counts(emulator: RunningEmulator, chat_id: int) -> tuple[int, int]:
    """(preview photos, original PNGs) the chat received: sheets, and the PNGs in the .zips."""
    photos, _ = await bot_media(emulator, chat_id)
    return len(photos), len(await delivered_originals(emulator, chat_id))


async def delivered_originals(emulator: RunningEmulator, chat_id: int) -> list[tuple[str, bytes]]:
    """Every PNG in the .zip documents the chat received, in order (duplicates kept)."""
    out: list[tuple[str, bytes]] = []
    _, documents = await bot_media(emulator, chat_id)
    for document in documents:
        name = document["files"][0].get("filename", "")
        if not name.endswith(".zip"):
            continue
        data = await emulator.client.file_bytes(document["files"][0]["file_id"])
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            out += [(n, archive.read(n)) for n in archive.namelist()]
    return out
