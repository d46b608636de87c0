"""One whole order through the real bot and both workers, by a user with a distinctive name.

Consent, headshot, selfies, Done, a pack, a Stars payment, the render and its delivery,
/status, /mydata and /delete: every kind of call the processes make during an order. Used by
the log-redaction and the no-outbound-connection tests, which watch what happens meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.texts import text
from emulator.keys import STATE_KEY
from tests.fixtures.bot import BotEnv, RenderWorkerStarter, button
from tests.fixtures.emulator import RunningEmulator

# Distinctive, so a scan for them finds nothing by chance; the id is also the private chat's id.
USER = 6_180_339_887
FIRST_NAME = "秋月 Lanfang-Zhou"
USERNAME = "qiuyue_lanfang_zhou"
# Something personal a user might type; the bot answers it with a hint.
FREE_TEXT = "I am Qiuyue, call me on +86 138 0013 8000"


@dataclass
class OrderTrace:
    """What Telegram issued during the order: the identifiers no log may show."""

    charge_id: str = ""
    file_ids: set[str] = field(default_factory=set)
    file_unique_ids: set[str] = field(default_factory=set)


def name_the_user(emulator: RunningEmulator) -> None:
    """Give the user a first name and a username before their first update."""
    user = emulator.app[STATE_KEY].user(USER, first_name=FIRST_NAME)
    user.username = USERNAME


async def telegram_file_ids(emulator: RunningEmulator, trace: OrderTrace) -> None:
    """Every file of the chat, both ways (each photo size, the portraits, the /mydata file)."""
    for message in await emulator.client.messages(USER, include_user=True):
        for item in [*message.get("photo_sizes", []), *message.get("files", [])]:
            trace.file_ids.add(item["file_id"])
            trace.file_unique_ids.add(item["file_unique_id"])


async def run_whole_order(env: BotEnv, render_workers: RenderWorkerStarter) -> OrderTrace:
    """Consent → delivery → /status, a free text, /mydata → /delete; returns Telegram's ids."""
    trace = OrderTrace()
    name_the_user(env.emulator)
    await render_workers()
    invoice = await env.reach_invoice(USER)
    paid = await env.pay(USER, invoice)
    assert paid["ok"], paid
    trace.charge_id = str(paid["charge_id"])
    await env.wait_text(USER, text("en", "payment_received_running").split("!")[0])
    done = text("en", "render_delivered", total=env.settings.portraits_per_order)
    await env.wait_text(USER, done, timeout=120)
    await env.client.send_text(USER, "/status")
    await env.client.send_text(USER, FREE_TEXT)
    await env.client.send_text(USER, "/mydata")
    await env.wait_for(USER, lambda m: m["kind"] == "document" and "mydata" in str(m))
    await telegram_file_ids(env.emulator, trace)

    await env.client.send_text(USER, "/delete")
    ask = await env.wait_for(USER, lambda m: button(m, "erase:yes") is not None)
    await env.press(USER, ask, "erase:yes")
    confirmation = text("en", "delete_done", orders=0, photos=0, refunded=0, ledger=0)
    await env.wait_text(USER, confirmation.split(":")[0], timeout=30)
    await telegram_file_ids(env.emulator, trace)
    return trace
