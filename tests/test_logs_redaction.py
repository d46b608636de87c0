"""No secret or personal datum in any log line, at any level, in the bot or either worker.

The whole-order test installs logging the way the entry points do (`configure_logging`), puts
every logger at DEBUG (PTB then dumps every Bot API request and reply, arq every job), runs a
whole order through the real bot, intake and render workers, and scans the formatted output
for the bot token, every file id and file unique id Telegram issued, the charge id, the user's
id and first name and username. Two more tests run `python -m bot` and `python worker.py`
themselves at LOG_LEVEL=DEBUG and scan their stderr.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import logging
import re
import signal
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from studio.logs import REDACTED, RedactingFilter, configure_logging
from studio.settings import Settings
from tests.fixtures.bot import BotEnv, RenderWorkerStarter
from tests.fixtures.emulator import RunningEmulator
from tests.fixtures.studio import SettingsFactory
from tests.render_support import ROOT, render_bot_settings, settings_env
from tests.whole_order import (
    FIRST_NAME,
    FREE_TEXT,
    USER,
    USERNAME,
    name_the_user,
    run_whole_order,
)


@pytest.fixture
def bot_settings(
    make_settings: SettingsFactory, emulator: RunningEmulator, tiny_models_dir: Path
) -> Settings:
    """The bot_env settings plus tiny generation models, for the render worker."""
    return render_bot_settings(make_settings, emulator, tiny_models_dir)


@dataclass
class LoggingState:
    """What configure_logging changes in the process, so a test can put it back."""

    handlers: list[logging.Handler]
    level: int
    factory: Any
    excepthook: Any
    thread_excepthook: Any
    levels: dict[str, tuple[int, bool]] = field(default_factory=dict)

    @classmethod
    def save(cls) -> LoggingState:
        root = logging.getLogger()
        return cls(
            list(root.handlers),
            root.level,
            logging.getLogRecordFactory(),
            sys.excepthook,
            threading.excepthook,
        )

    def every_logger_at_debug(self) -> None:
        """Every logger that exists now at DEBUG, and passing its records up to ours."""
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger):
                self.levels.setdefault(name, (logger.level, logger.propagate))
                logger.setLevel(logging.DEBUG)
                logger.propagate = True

    def restore(self) -> None:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if handler not in self.handlers:
                root.removeHandler(handler)
        root.setLevel(self.level)
        logging.setLogRecordFactory(self.factory)
        logging.captureWarnings(False)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        for name, (level, propagate) in self.levels.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.propagate = propagate


@pytest.fixture
async def debug_logs(bot_settings: Settings) -> AsyncIterator[io.StringIO]:
    """Logging as `python worker.py` sets it up at LOG_LEVEL=DEBUG, into a buffer.

    Libraries create (and level) loggers as they load, the render worker's diffusers among
    them, so every logger is put back at DEBUG every 50 ms while the test runs.
    """
    saved = LoggingState.save()
    stream = io.StringIO()
    configure_logging("DEBUG", bot_settings, stream=stream)

    async def keep_at_debug() -> None:
        while True:
            saved.every_logger_at_debug()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(keep_at_debug())
    await asyncio.sleep(0)
    try:
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        saved.restore()


def leaks(log: str, needles: list[str], numbers: list[int]) -> list[str]:
    """Each log line that shows one of the needles, or one of the numbers as a whole number."""
    found = []
    patterns = [re.compile(re.escape(n)) for n in needles]
    patterns += [re.compile(rf"(?<!\d){n}(?!\d)") for n in numbers]
    for line in log.splitlines():
        hits = [p.pattern for p in patterns if p.search(line)]
        if hits:
            found.append(f"{hits}: {line[:300]}")
    return found


def secrets_of(settings: Settings) -> list[str]:
    token = settings.telegram_bot_token.get_secret_value()
    return [
        token,
        token.split(":", 1)[1],
        settings.master_key.get_secret_value(),
        settings.payload_secret.get_secret_value(),
    ]


async def test_a_whole_order_at_debug_logs_no_token_file_id_id_or_name(
    debug_logs: io.StringIO, bot_env: BotEnv, render_workers: RenderWorkerStarter
) -> None:
    trace = await run_whole_order(bot_env, render_workers)
    await asyncio.sleep(0.5)  # the last records of the workers' crons and status edits
    log = debug_logs.getvalue()

    # The scan sees what a DEBUG operator sees: PTB's request dumps, arq's job lines, our code.
    lines = log.splitlines()
    assert len(lines) > 300, len(lines)
    for evidence in (
        "Calling Bot API endpoint `getUpdates`",  # the bot's poll (telegram.ext.ExtBot)
        "Calling Bot API endpoint `getFile`",  # the workers' downloads
        "Calling Bot API endpoint `sendPhoto`",  # the delivery: the preview sheet
        "Calling Bot API endpoint `sendDocument`",  # and the originals' .zip
        "jobs.intake",
        "jobs.render",
        "arq.worker",
    ):
        assert evidence in log, evidence
    # PTB's dump of the user (the getUpdates answer, or an Update's repr), redacted.
    assert f"'first_name': {REDACTED}" in log or f"first_name={REDACTED}" in log
    assert len(trace.file_ids) >= 2 * bot_env.settings.portraits_per_order
    needles = [
        *secrets_of(bot_env.settings),
        *trace.file_ids,
        *trace.file_unique_ids,
        trace.charge_id,
        FIRST_NAME,
        USERNAME,
        FREE_TEXT.split(", ")[1],
    ]
    found = leaks(log, needles, [USER])
    assert not found, "\n".join(found[:20])
    print(f"log scan: {len(lines)} lines at DEBUG, {len(needles) + 1} needles, no leak")


# The entry points themselves ------------------------------------------------------------------


async def _read_until(
    stream: asyncio.StreamReader, fragment: str, into: list[str], timeout: float
) -> None:
    async def read() -> None:
        while True:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"{fragment!r} never logged:\n{''.join(into)[-3000:]}")
            into.append(line.decode(errors="replace"))
            if fragment in into[-1]:
                return

    await asyncio.wait_for(read(), timeout)


async def _bot_messages(emulator: RunningEmulator, count: int, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(await emulator.client.messages(USER)) < count:
        assert loop.time() < deadline, f"the bot sent fewer than {count} messages"
        await asyncio.sleep(0.05)


async def test_python_m_bot_at_debug_logs_no_token_id_or_name(
    emulator: RunningEmulator, bot_settings: Settings, redis: Any
) -> None:
    """The bot process as launched: LOG_LEVEL=DEBUG, a user writes, its stderr is scanned."""
    env = {**settings_env(bot_settings), "LOG_LEVEL": "DEBUG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        await _read_until(proc.stderr, "bot polling", lines, timeout=60)
        name_the_user(emulator)
        for command, answers in (("/start", 1), ("/help", 2)):
            await emulator.client.send_text(USER, command)
            await _bot_messages(emulator, answers)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 30)
    log = "".join(lines) + rest.decode(errors="replace")
    assert "Calling Bot API endpoint `getUpdates`" in log  # DEBUG really is on
    found = leaks(log, [*secrets_of(bot_settings), FIRST_NAME, USERNAME], [USER])
    assert not found, "\n".join(found[:20])


async def test_python_worker_py_at_debug_logs_no_token(bot_settings: Settings, redis: Any) -> None:
    """The intake worker as launched (burst: it starts, runs its startup crons, exits)."""
    env = {**settings_env(bot_settings), "LOG_LEVEL": "DEBUG"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "worker.py",
        "intake",
        "--burst",
        cwd=ROOT,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 120)
    log = stderr.decode(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "Calling Bot API endpoint `getMe`" in log, log[-3000:]
    found = leaks(log, secrets_of(bot_settings), [])
    assert not found, "\n".join(found[:20])


# The filter on the shapes libraries log ------------------------------------------------------

# Shaped like a real token (id, colon, 35 url-safe characters) but made here, so that no
# token-like string is committed.
TOKEN = (
    "7000000001:" + base64.urlsafe_b64encode(hashlib.sha256(b"test-only").digest()).decode()[:35]
)
FILE_ID = "AgACAgIAAxkBAAIBZ2Vh3kQx9mXhY0lN7wZ8pQe-JzqRAAI"
UNIQUE_ID = "AQADq1w2e3r4t5y6"


@pytest.mark.parametrize(
    "line",
    [
        f"POST https://api.telegram.org/bot{TOKEN}/getUpdates",
        f"GET https://api.telegram.org/file/bot{TOKEN}/photos/file_3.jpg",
        f"token {TOKEN} in an error",
        f"Update(message=Message(chat=Chat(first_name='{FIRST_NAME}', id={USER}, "
        f"username='{USERNAME}'), photo=(PhotoSize(file_id='{FILE_ID}', "
        f"file_unique_id='{UNIQUE_ID}'),)))",
        f'{{"from": {{"id": {USER}, "first_name": "{FIRST_NAME}", "username": "{USERNAME}"}}}}',
        f"{{'chat_id': {USER}, 'photo': '{FILE_ID}'}}",
        f"  0.02s → check:{UNIQUE_ID[:10]}:check_photo('{FILE_ID[:20]}…",
        f"charge of user {USER}.",
        f"first_name={FIRST_NAME}&username={USERNAME}&chat_id={USER}",
        "User(first_name='A', id=12345, is_bot=False), chat_id: 12345, {'id': 12345}",
    ],
)
def test_the_filter_hides_tokens_file_ids_ids_and_names(line: str) -> None:
    redacted = RedactingFilter().redact(line)
    secrets = [TOKEN, TOKEN.split(":")[1], FILE_ID, FILE_ID[:20], UNIQUE_ID]
    found = leaks(redacted, secrets, [USER, 12345])
    found += leaks(redacted, [FIRST_NAME, USERNAME, UNIQUE_ID[:10]], [])
    assert not found, redacted


def test_the_filter_keeps_what_an_operator_needs() -> None:
    line = "order 3f2a9c1b0d4e4f5a8b7c6d5e4f3a2b1c paid (150 Stars) in 1.25 s on port 6379"
    assert RedactingFilter().redact(line) == line


def test_configure_logging_redacts_every_handler_and_traceback() -> None:
    """A library's own handler (propagate off) and a traceback are redacted too."""
    saved = LoggingState.save()
    library = logging.getLogger("some.library")
    own = io.StringIO()
    handler = logging.StreamHandler(own)
    library.addHandler(handler)
    library.propagate = False
    ours = io.StringIO()
    try:
        configure_logging("INFO", stream=ours)
        library.warning("fetched %s/bot%s/getMe", "https://api.telegram.org", TOKEN)
        try:
            raise ValueError(f"bad file_id={FILE_ID}")
        except ValueError:
            logging.getLogger("tests").exception("user %s failed", USER)
    finally:
        library.removeHandler(handler)
        library.propagate = True
        saved.restore()
    assert "/bot<token>/getMe" in own.getvalue()
    written = ours.getvalue()
    assert "ValueError: bad file_id=<redacted>" in written and "user <num> failed" in written
    assert not leaks(own.getvalue() + written, [TOKEN, FILE_ID], [USER])


def test_configure_logging_refuses_an_unknown_level() -> None:
    saved = LoggingState.save()
    try:
        with pytest.raises(ValueError, match="LOUD"):
            configure_logging("LOUD", stream=io.StringIO())
    finally:
        saved.restore()
