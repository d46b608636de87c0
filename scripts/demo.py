"""`make demo`: the whole system on one machine, with no Telegram token and no model hub.

Starts redis-server, the Bot API emulator, the bot, the intake and render workers, and tiny random
models; then a scripted user walks the flow while the transcript prints. What the bot delivers is
saved to the output folder.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import runpy
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator.app import EmulatorConfig, create_app
from emulator.client import EmulatorClient, latest_text
from pipeline.testing.synthetic_photos import synthetic_face_photo
from pipeline.testing.tiny_models import ADAPTER_WEIGHT_NAME, build_tiny_models
from studio.settings import generate_master_key

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "100000001:DEMO-TOKEN-not-a-real-one"
USER = 5550001
PORTRAITS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(who: str, text: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    for i, line in enumerate(text.splitlines() or [""]):
        print(f"{stamp} {who if i == 0 else ' ' * len(who)} {line}", flush=True)


class Transcript:
    """Prints every new bot message and every edit, once, in order."""

    def __init__(self, client: EmulatorClient, chat_id: int) -> None:
        self.client = client
        self.chat_id = chat_id
        self.seen: dict[int, str] = {}

    async def flush(self) -> list[dict[str, Any]]:
        messages = await self.client.messages(self.chat_id)
        for message in messages:
            shown = _render(message)
            if self.seen.get(message["message_id"]) != shown:
                verb = "bot ✎" if message["message_id"] in self.seen else "bot ▸"
                self.seen[message["message_id"]] = shown
                say(verb, shown)
        return messages

    async def wait_for(
        self, what: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in await self.flush():
                if predicate(message):
                    return message
            await asyncio.sleep(0.2)
        raise SystemExit(f"demo: timed out waiting for {what}")


def _render(message: dict[str, Any]) -> str:
    text = latest_text(message)
    kind = message.get("kind", "text")
    if kind != "text":
        text = f"[{kind}] {text}".strip()
    buttons = [
        b.get("text", "")
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row
    ]
    if buttons:
        text += "\n  buttons: " + " | ".join(buttons)
    return text


def button(message: dict[str, Any], prefix: str) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for b in row:
            if str(b.get("callback_data", "")).startswith(prefix):
                return str(b["callback_data"])
    return None


async def walk(client: EmulatorClient, out: Path) -> None:
    chat = Transcript(client, USER)
    say("user ▸", "/start")
    await client.send_text(USER, "/start")
    consent = await chat.wait_for(
        "the consent screen", lambda m: button(m, "consent:yes") is not None
    )
    say("user ▸", "(taps “I agree · the photos show me · I'm 30–49”)")
    await client.press(USER, consent["message_id"], button(consent, "consent:yes:30-49") or "")
    await asyncio.sleep(1.0)
    await chat.flush()

    say("user ▸", "hello? (text where a photo is expected)")
    await client.send_text(USER, "hello?")
    await asyncio.sleep(1.0)

    say("user ▸", "(sends a two-person photo as the headshot)")
    await client.send_photo(USER, synthetic_face_photo(1, 0, kind="two_faces"))
    await chat.wait_for(
        "the headshot verdict", lambda m: latest_text(m).startswith("I can't use this headshot")
    )
    say("user ▸", "(sends a front-facing headshot)")
    await client.send_photo(USER, synthetic_face_photo(1, 0))
    await chat.wait_for("the selfie status", lambda m: latest_text(m).startswith("Your selfies"))

    say("user ▸", "(sends a PDF instead of a photo)")
    await client.send_document(USER, b"%PDF-1.4 not a photo", "notes.pdf", "application/pdf")
    say("user ▸", "(sends a photo of someone else)")
    await client.send_photo(USER, synthetic_face_photo(2, 1))
    say("user ▸", "(sends 10 selfies as one album)")
    await client.send_album(USER, [synthetic_face_photo(1, v) for v in range(1, 11)])
    say("user ▸", "(sends one selfie as an image file)")
    await client.send_document(USER, synthetic_face_photo(1, 11), "IMG_0011.jpg", "image/jpeg")
    say("user ▸", "(sends 9 more selfies one by one, and one of them twice)")
    for variant in [*range(12, 21), 20]:
        await client.send_photo(USER, synthetic_face_photo(1, variant))
    status = await chat.wait_for(
        "the Done button", lambda m: button(m, "done:") is not None, timeout=120
    )
    say("user ▸", "(taps Done)")
    await client.press(USER, status["message_id"], button(status, "done:") or "")
    packs = await chat.wait_for("the style packs", lambda m: button(m, "pack:") is not None)
    say("user ▸", "(picks the first style pack)")
    await client.press(USER, packs["message_id"], button(packs, "pack:") or "")
    invoice = await chat.wait_for("the invoice", lambda m: m.get("kind") == "invoice")
    say("user ▸", "(pays with Telegram Stars)")
    paid_at = time.monotonic()
    result = await client.pay(USER, invoice["message_id"])
    say(
        "stars ▸",
        f"payment ok={result.get('ok')} (bot answered pre-checkout in "
        f"{float(result.get('answer_seconds', 0)) * 1000:.0f} ms)",
    )
    await asyncio.sleep(0.5)
    say("user ▸", "/status")
    await client.send_text(USER, "/status")

    def delivered(messages: list[dict[str, Any]]) -> bool:
        # The final message follows the previews and the originals' .zip.
        final = f"All {PORTRAITS} portraits are here"
        return any(latest_text(m).startswith(final) for m in messages)

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if delivered(await chat.flush()):
            break
        await asyncio.sleep(0.5)
    else:
        raise SystemExit("demo: the portraits did not arrive in time")
    await asyncio.sleep(1.0)
    messages = await chat.flush()
    say("demo", f"payment → last portrait: {time.monotonic() - paid_at:.1f} s")
    saved = 0
    for message in messages:
        for index, f in enumerate(message.get("files", [])):
            name = f.get("filename") or f"message{message['message_id']}-{index}.jpg"
            data = await client.file_bytes(f["file_id"])
            if name.endswith(".zip"):  # the originals: one PNG per portrait
                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    for member in archive.namelist():
                        (out / Path(member).name).write_bytes(archive.read(member))
                        saved += 1
                continue
            (out / name).write_bytes(data)
            saved += 1
    say("demo", f"saved {saved} delivered files to {out}/ (the .zip unpacked)")

    say("user ▸", "/mydata")
    await client.send_text(USER, "/mydata")
    mydata = await chat.wait_for(
        "the data export", lambda m: any(f.get("filename") == "mydata.json" for f in m["files"])
    )
    (out / "mydata.json").write_bytes(await client.file_bytes(mydata["files"][0]["file_id"]))
    say("user ▸", "/delete")
    await client.send_text(USER, "/delete")
    ask = await chat.wait_for("the erase question", lambda m: button(m, "erase:yes") is not None)
    say("user ▸", "(taps “Erase everything”)")
    await client.press(USER, ask["message_id"], button(ask, "erase:yes") or "")
    await chat.wait_for("the erasure", lambda m: latest_text(m).startswith("Done. Erased"))


async def run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    models_root = ROOT / ".models" / "tiny"
    say("demo", f"building tiny random models in {models_root} …")
    models = build_tiny_models(models_root)

    tmp = Path(tempfile.mkdtemp(prefix="portrait-demo-"))
    redis_port = free_port()
    redis = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            # Production's persistence, so a /delete in the demo compacts real files too.
            *runpy.run_path(str(ROOT / "scripts" / "launch.py"))["REDIS_PERSISTENCE"],
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    runner = web.AppRunner(create_app(EmulatorConfig(token=TOKEN)))
    await runner.setup()
    emu_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", emu_port).start()
    emu_url = f"http://127.0.0.1:{emu_port}"
    say("demo", f"redis-server on :{redis_port}, Bot API emulator on {emu_url}")

    env = dict(os.environ)
    env.update(
        {
            "MODE": "dev",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "BOT_API_BASE_URL": f"{emu_url}/bot",
            "BOT_API_BASE_FILE_URL": f"{emu_url}/file/bot",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            # One key for all processes of this run (dev mode would otherwise make one per process).
            "MASTER_KEY": generate_master_key(),
            "PAYLOAD_SECRET": generate_master_key(),
            "FACE_DIR": str(models["face_root"]),
            "FACE_PACK": Path(models["face_pack"]).name,
            "SDXL_DIR": str(models["sdxl"]),
            "IP_ADAPTER_DIR": str(models["adapter"]),
            "IP_ADAPTER_WEIGHT": ADAPTER_WEIGHT_NAME,
            "RENDER_DEVICE": "cpu",
            "RENDER_DTYPE": "float32",
            "RENDER_WIDTH": "128",
            "RENDER_HEIGHT": "160",
            "RENDER_STEPS": "4",
            "PORTRAITS_PER_ORDER": str(PORTRAITS),
            # Random-weight models draw no faces: the review runs but cannot demand one here.
            "REVIEW_REQUIRE_ONE_FACE": "false",
            "REVIEW_MIN_IDENTITY": "-inf",  # tiny random outputs have no face to compare
            "REVIEW_EXTRA_ATTEMPTS": "0",
            "TG_CHAT_PER_SECOND": "1",
            "TG_CHAT_BURST": "3",
            "HF_HUB_OFFLINE": "1",
            # Tiny random models stand in for the stack's manifest weights.
            "WEIGHTS_VERIFY": "false",
            "LOG_LEVEL": "INFO",
        }
    )
    procs: list[subprocess.Popen[bytes]] = []
    for name, argv in (
        ("bot", ["-m", "bot"]),
        ("intake", ["worker.py", "intake"]),
        ("render", ["worker.py", "render"]),
        ("delivery", ["worker.py", "delivery"]),  # sends what the render worker hands over
    ):
        log = (out / "logs" / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, *argv], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
    say("demo", f"bot, intake and render workers started (logs in {out}/logs/)")
    try:
        async with EmulatorClient(emu_url) as client:
            await walk(client, out)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            # Wait in a thread: the emulator runs in this loop and must keep answering the bot.
            try:
                await asyncio.to_thread(proc.wait, 20)
            except subprocess.TimeoutExpired:
                proc.kill()
        await runner.cleanup()
        redis.terminate()
        redis.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "demo-out")
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(run(args.out))
    say("demo", f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
