"""What every process sets up first: model libraries offline, and logs that name nobody.

Entry points (`portrait-studio ...`, `python -m bot`, `python worker.py`) call
`configure_process()` before anything imports a model library, then
`configure_logging(level, settings)`: plain lines, or one JSON object a line with
LOG_FORMAT=json. One `RedactingFilter` rewrites every record's message, arguments, traceback
and stack before any handler formats it: the
process's own secrets (bot token, master key, payload and webhook secrets), Bot API URL paths
(`/bot<token>/`, `/file/bot<token>/`), Telegram file ids, user and chat ids, names, usernames and
message texts in library dumps (PTB logs every request and reply at DEBUG), and URL passwords.
Our own log lines name orders, never users; the filter is the net under the libraries.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from pydantic import SecretStr

if TYPE_CHECKING:
    from studio.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Read by each library when it is imported (onnxruntime creates its telemetry store under
# ~/.cache/Microsoft at import), so these are set before any of them is.
PROCESS_DEFAULTS: dict[str, str] = {
    # Model folders are local paths (settings); no hub lookup when a model loads.
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # onnxruntime (insightface's runtime): no 1DS telemetry store, no events to Microsoft.
    "ORT_DISABLE_TELEMETRY": "1",
    # insightface's mask renderer imports albumentations, which asks PyPI for a newer version.
    "NO_ALBUMENTATIONS_UPDATE": "1",
}

SECRET = "<secret>"
TOKEN = "<token>"
REDACTED = "<redacted>"
NUMBER = "<num>"

# Values of these keys are personal or secret wherever they appear: JSON (`"first_name": "A"`),
# Python reprs (`'first_name': 'A'`, `User(first_name='A')`) and forms (`first_name=A&`).
PERSONAL_KEYS = (
    "file_id",
    "file_unique_id",
    "first_name",
    "last_name",
    "full_name",
    "username",
    "title",
    "text",
    "caption",
    "phone_number",
    "email",
    "bio",
    "password",
    "token",
    "secret_token",
    "payload",
    "invoice_payload",
    "charge_id",
    "telegram_payment_charge_id",
    "provider_payment_charge_id",
    "query",
    # What a user pressed (a pack, an age bracket) is theirs too.
    "data",
    "callback_data",
)
_KEYED = re.compile(
    r"""(?P<key>(?<![\w])(?P<q>['"]?)(?:""" + "|".join(PERSONAL_KEYS) + r""")(?P=q)\s*[:=]\s*)"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s,;&)}\]'"]+)"""
)
# A user's or chat's id under its own key, however short (the oldest accounts have five digits).
_KEYED_ID = re.compile(
    r"""(?P<key>(?<![\w])(?P<q>['"]?)(?:id|user_id|chat_id|from_id)(?P=q)\s*[:=]\s*)'?-?\d+'?"""
)
# Everything between /bot and the next slash is the token: /bot<token>/getMe, /file/bot<token>/x.
_BOT_PATH = re.compile(r"/bot[^/\s'\"?#]+(?=/)")
# A real bot token anywhere: the bot's numeric id, a colon, 35 url-safe characters.
_BOT_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}")
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)[^/\s:@]*:[^/\s@]*@")
# Telegram's file ids and file unique ids start with a type tag (photo, document, ...); arq cuts
# job arguments at 80 characters, so even a stub of one is hidden.
FILE_ID_TAGS = (
    *("AQAD", "AgAD"),  # file unique ids: photo, other
    *("AgAC", "BQAC", "BQAD", "CAAC", "CAAD", "BAAC", "AwAC", "CgAC", "CQAC", "DQAC"),
)
_FILE_ID_PREFIX = re.compile(r"\b(?:" + "|".join(FILE_ID_TAGS) + r")[\w-]*")
# Base64url runs of 16 or more with upper case, lower case and digits: file ids, charge ids,
# tokens. Order ids (12 characters) and hex ids (jobs, photo tokens) stay readable: they name
# no one, and an operator follows an order by them.
_OPAQUE = re.compile(r"(?<![\w-])[A-Za-z0-9_-]{16,}(?![\w-])")
# Any integer of six digits or more: user and chat ids cannot be told from other numbers in a
# library's dump, so none is shown (decimals such as durations stay).
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z.])-?\d{6,}(?![0-9A-Za-z]|\.\d)")


def _opaque(match: re.Match[str]) -> str:
    run = match.group(0)
    mixed = any(c.isupper() for c in run) and any(c.islower() for c in run)
    return REDACTED if mixed and any(c.isdigit() for c in run) else run


def _keyed(match: re.Match[str]) -> str:
    return match.group("key") + REDACTED


class RedactingFilter(logging.Filter):
    """Rewrites a record so no handler can format a secret or a personal datum from it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: list[str] = []
        self.add_secrets(secrets)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Hide these exact strings too (longest first, so a token hides before its half)."""
        found = {s for s in secrets if len(s) >= 4}
        self._secrets = sorted(found | set(self._secrets), key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, SECRET)
        text = _BOT_PATH.sub("/bot" + TOKEN, text)
        text = _BOT_TOKEN.sub(TOKEN, text)
        text = _URL_PASSWORD.sub(r"\g<scheme>" + REDACTED + "@", text)
        text = _KEYED.sub(_keyed, text)
        text = _KEYED_ID.sub(_keyed, text)
        text = _FILE_ID_PREFIX.sub(REDACTED, text)
        text = _OPAQUE.sub(_opaque, text)
        return _LONG_NUMBER.sub(NUMBER, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break the caller
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.redacted = True
        return True


def configure_process(environ: MutableMapping[str, str] | None = None) -> None:
    """Model libraries offline and without telemetry (an operator's own setting wins)."""
    target = os.environ if environ is None else environ
    for name, value in PROCESS_DEFAULTS.items():
        target.setdefault(name, value)


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret setting's value, and the part of the bot token after its colon."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
    # MASTER_KEYS_OLD is a comma list: each key hides on its own too.
    found.extend(k.strip() for k in settings.master_keys_old.get_secret_value().split(","))
    token = settings.telegram_bot_token.get_secret_value()
    if ":" in token:
        found.append(token.split(":", 1)[1])
    return found


def configure_logging(
    level: str | int, settings: Settings | None = None, *, stream: TextIO | None = None
) -> RedactingFilter:
    """One stderr handler on the root logger; every record in the process is redacted first.

    The filter runs in the record factory as well as on our handler, so handlers that libraries
    attach themselves (diffusers, transformers) only ever see redacted records. Warnings and
    uncaught exceptions go through logging too. Called again, it replaces what it set up.
    """
    redaction = RedactingFilter(settings_secrets(settings) if settings is not None else ())
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    as_json = settings is not None and settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(LOG_FORMAT))
    handler.addFilter(redaction)
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"LOG_LEVEL {level!r} is not a logging level")
    root.setLevel(numeric)
    # PTB logs every getUpdates and every request at INFO through its own loggers; at DEBUG the
    # operator asked for everything (and gets it redacted).
    logging.getLogger("telegram.ext").setLevel(logging.NOTSET if numeric <= 10 else logging.WARNING)
    _redact_every_record(redaction)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    return redaction


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json), built from the already redacted record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)

    converter = staticmethod(time.gmtime)  # type: ignore[assignment]


_OURS = "_portrait_studio_handler"
_logger = logging.getLogger(__name__)


def _redact_every_record(redaction: RedactingFilter) -> None:
    factory = logging.getLogRecordFactory()
    base = getattr(factory, "base_factory", factory)

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = base(*args, **kwargs)
        redaction.filter(record)
        return record

    make_record.base_factory = base  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make_record)


def _log_uncaught(
    kind: type[BaseException], error: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):  # Ctrl-C at a prompt: Python's usual one line
        sys.__excepthook__(kind, error, tb)
        return
    _logger.critical("uncaught exception", exc_info=(kind, error, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    assert args.exc_value is not None
    _logger.critical(
        "uncaught exception in thread %s",
        args.thread.name if args.thread else "?",
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
