"""The one settings object: built by entry points, handed down to everything else."""

from __future__ import annotations

import base64
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from studio.secret_strength import production_secret_problems

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "token", "xxx"})
# Model folders are all named <WHAT>_DIR. A setting still under its old name would otherwise be
# ignored without a word, and the worker would look for its models in the default folder.
RENAMED_SETTINGS = {
    "SDXL_MODEL": "SDXL_DIR",
    "FACE_ROOT": "FACE_DIR",
    "LORA_PATH": "LORA_DIR",
    "FLUX2_MODEL": "FLUX2_DIR",
}


class Mode(StrEnum):
    DEV = "dev"
    PROD = "prod"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"  # one JSON object per line, for a log shipper


class Settings(BaseSettings):
    """Every knob of the service; external addresses are settings so tests can redirect them."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    mode: Mode = Mode.DEV

    # Telegram
    telegram_bot_token: SecretStr = SecretStr("")
    bot_api_base_url: str = "https://api.telegram.org/bot"
    bot_api_base_file_url: str = "https://api.telegram.org/file/bot"
    webhook_url: str = ""  # empty: long polling
    webhook_secret: SecretStr = SecretStr("")
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    # Updates handled at once per process (one at a time per user). Past what keeps the core
    # busy, more only queues every Redis call and Bot API call behind more others: at 256 a
    # payment, first in the update queue, still took 2.5 s (p99) to answer at saturation, at 64
    # 0.5 s, with the same throughput (bench/load.py --rate 1200, 0 and 30 ms Bot API latency).
    # About updates/s x seconds each update waits on the network, with room to spare.
    bot_concurrency: int = Field(default=64, ge=1)
    # The update pipeline (bot/update_pipeline.py). Updates waiting in one process, past which
    # webhook mode answers 503 (Telegram retries) and polling stops fetching; payments bypass it.
    bot_update_queue_max: int = Field(default=2048, ge=1)
    # While full, a webhook request waits this long for room before its 503. Telegram opens at
    # most 40 connections (bot/webhook.py), so held requests pace its deliveries to what the
    # bot takes, for free; an instant 503 is retried at once, and retries cost CPU the bot lacks.
    webhook_full_hold_s: float = Field(default=1.0, ge=0)
    # A taken update is claimed in Redis this long (refreshed while it waits); a process that
    # dies leaves it to the next replica's sweep or start once the claim lapses.
    update_claim_s: float = Field(default=60.0, gt=0)
    # Per-user limits per window, kept in Redis; the first update past one gets one answer.
    user_limit_window_s: float = Field(default=60.0, gt=0)
    user_messages_per_window: int = Field(default=30, ge=1)
    user_photos_per_window: int = Field(default=80, ge=1)
    user_commands_per_window: int = Field(default=30, ge=1)
    # Outgoing message units one order may cost, /start to the final message (bench/load.py
    # and tests/test_message_budget.py count them from what the emulator received).
    message_budget_per_order: int = Field(default=25, ge=1)

    # Outgoing Bot API rate limits, shared by every process through Redis. A little under
    # Telegram's own 30/s and 1/s: our buckets and Telegram's run on different clocks, so a call
    # landing right on a refill boundary could arrive early and draw a 429.
    tg_global_per_second: float = 28.0
    tg_chat_per_second: float = 0.9
    tg_chat_burst: int = 3
    # Paid broadcasts for surges: a delivery send the global limit has held back this long goes
    # with allow_paid_broadcast (0.1 ⭐ a message from the bot's balance, past Telegram's 30/s),
    # while this hour's spend stays under the cap. 0 Stars: never.
    paid_broadcast_stars_per_hour: int = Field(default=0, ge=0)
    paid_broadcast_after_s: float = Field(default=2.0, ge=0)

    # Redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Sentinel (docs/OPERATIONS.md, "Redis with Sentinel"): "host:port,host:port". Set, the
    # master is whichever server the sentinels name, and REDIS_URL supplies only its password,
    # database and TLS; empty, REDIS_URL's own server.
    redis_sentinels: Annotated[tuple[str, ...], NoDecode] = ()
    redis_sentinel_master: str = "portrait-studio"
    redis_sentinel_password: SecretStr = SecretStr("")  # the sentinels' own requirepass
    # Every process rides out a Redis restart, failover or blip this long (studio/reconnect.py).
    redis_reconnect_s: float = Field(default=90.0, ge=0)
    # The reconcilers run this often in every worker (jobs/maintenance.py); payments at twice it.
    reconcile_interval_s: float = Field(default=30.0, gt=0)

    # Operations (docs/OPERATIONS.md). Each process serves /healthz, /readyz and /metrics on
    # HEALTH_PORT (0: no such server; `portrait-studio all` gives its roles PORT, PORT+1, ...).
    health_port: int = Field(default=0, ge=0, le=65535)
    health_listen: str = "127.0.0.1"
    log_format: LogFormat = LogFormat.TEXT
    # Telegram user ids allowed /admin (queue, workers, failures; no personal data). Comma list.
    admin_user_ids: Annotated[tuple[int, ...], NoDecode] = ()
    # Distinct deep-link sources counted (/start <source>); any beyond count as "other".
    start_sources_max: int = Field(default=100, ge=1, le=10_000)

    # Secrets. master_key: 32 bytes, urlsafe base64. Dev and tests generate one per process.
    master_key: SecretStr = SecretStr("")
    payload_secret: SecretStr = SecretStr("")
    # Former master keys, comma-separated: data keys wrapped under them stay readable until
    # `portrait-studio rewrap-keys` wraps them under MASTER_KEY (docs/OPERATIONS.md).
    master_keys_old: SecretStr = SecretStr("")

    # Product
    price_stars: int = Field(default=150, ge=1)
    min_selfies: int = Field(default=20, ge=1)
    max_selfies: int = Field(default=40, ge=1)
    max_rejected_photos: int = Field(default=60, ge=1)
    # One photo download may take this long before the check tries again (jobs/intake.py); well
    # under the check's job timeout (120 s), which arq never retries.
    photo_download_timeout_s: float = Field(default=30.0, gt=0, lt=120)
    portraits_per_order: int = Field(default=20, ge=2)
    # Folder of <pack_id>.jpg sample images, shown on request under the style packs; a pack with
    # no file there (or no folder) gets a placeholder drawn in memory (name and palette).
    pack_samples_dir: Path | None = None
    policy_version: str = "2026-11-30"
    support_contact: str = "@portrait_studio_support"

    # Retention
    intake_ttl_hours: float = 24.0
    order_ttl_days: float = 30.0
    paid_order_deadline_hours: float = 6.0
    # Payment records: Telegram can still ask for a refund or open a dispute long after a
    # payment, and a year's accounts close after it; then the entry is deleted.
    ledger_retention_days: float = Field(default=400.0, gt=0)
    # A user with no update for this long is erased like /delete (not while an order they paid
    # is still owed a delivery or a refund).
    idle_user_days: float = Field(default=365.0, gt=0)
    # After delivery, a user who asked may keep their checked photos (sealed) this many days to
    # order another style without sending them again; 0 turns the offer off.
    reuse_days: float = Field(default=7.0, ge=0)
    # How long one disk compaction after an erasure may take (studio/compaction.py).
    compaction_timeout_s: float = Field(default=600.0, gt=0)

    # Queue and ETA
    render_seconds_default: float = 60.0
    render_job_timeout_s: int = 1800
    render_max_tries: int = 3
    render_job_expires_days: float = 7.0
    render_lease_s: int = Field(default=60, ge=1)
    health_check_interval_s: int = 10

    # Delivery stage (jobs/delivery.py): finished portraits wait, sealed, in Redis for a sender.
    # The render worker waits (and keeps its lease) while the buffer is full.
    delivery_buffer_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1)
    delivery_buffer_max_orders: int = Field(default=8, ge=1)
    delivery_buffer_ttl_hours: float = Field(default=6.0, gt=0)
    delivery_concurrency: int = Field(default=16, ge=1)  # orders one delivery worker sends at once
    delivery_max_tries: int = Field(default=5, ge=1)
    delivery_job_timeout_s: int = Field(default=900, ge=10)
    # Items per album. Telegram counts every item against the chat's ~1/s: an album of 10 keeps
    # the chat silent for ~10 s, so a /status would wait that long. The chat's burst (3) keeps
    # replies within about a second during a delivery, at the cost of more album messages.
    delivery_album_size: int = Field(default=3, ge=2, le=10)
    # Portraits per preview photo (a sheet, pipeline/contact_sheet.py): every album item is a
    # message unit, so 20 portraits as sheets of 4 cost 5 units instead of 20. 1: one each.
    preview_per_sheet: int = Field(default=4, ge=1, le=9)
    # The originals go as .zip parts under Telegram's 50 MB upload limit for bots.
    archive_max_bytes: int = Field(default=48_000_000, ge=1_000_000, le=50_000_000)
    delivery_seconds_default: float = 45.0

    # Models: every path is a setting; nothing is downloaded at run time.
    # The named model stack (pipeline/stacks): "research" is SDXL + IP-Adapter FaceID + insightface
    # (non-commercial weights); "commercial": permissive face models + a reference-image generator.
    # Unset, production (MODE=prod) runs "commercial"; dev, the demo and the tests "research".
    model_stack: str = "research"
    face_pack: str = "buffalo_l"
    face_dir: Path = Path(".models/insightface")
    # The stack's weights folder: pipeline/manifests/<stack>.json names every model file relative
    # to it (`python -m pipeline weights fetch|verify`); the commercial face models are in dlib/.
    weights_dir: Path = Path(".models")
    # Workers check each model file's SHA-256 against the manifest at start and refuse to run on
    # a mismatch. Off only where tiny test models stand in (tests and the demo say so).
    weights_verify: bool = True
    # In production, payments are taken on a stack holding a non-commercial model file only when
    # this names that stack: the operator states they hold a licence for those weights.
    model_licence_confirmed: str = ""
    sdxl_dir: str = ".models/sdxl"
    ip_adapter_dir: str = ".models/ip-adapter"
    ip_adapter_subfolder: str = ""
    ip_adapter_weight: str = "ip-adapter-faceid_sdxl.bin"
    ip_adapter_plus_v2: bool = False
    image_encoder_dir: str = ""
    lora_dir: str = ""
    lora_weight: str = ""
    # GPU settings (docs/MODEL_STACKS.md, "GPU settings"). LORA_STEPS > 0: LORA_DIR is a few-step
    # LoRA (SDXL-Lightning, Hyper-SD) distilled for that many steps: unless RENDER_STEPS,
    # RENDER_GUIDANCE or RENDER_SCHEDULER say otherwise, it runs them without CFG (one UNet pass
    # per step instead of two) on trailing-spacing Euler.
    lora_steps: int = Field(default=0, ge=0)
    render_scheduler: Literal["default", "euler_trailing", "tcd", "lcm", "dpmpp_2m_karras"] = (
        "default"
    )
    # A VAE that decodes in fp16 without overflowing (sdxl-vae-fp16-fix): replaces the base
    # model's, and the fp32 upcast of each decode is skipped (bf16 skips it without one).
    vae_dir: str = ""
    render_steps: int = 30
    render_guidance: float = 5.0
    render_width: int = 896
    render_height: int = 1152
    render_device: str = "cuda"
    render_dtype: Literal["float16", "bfloat16", "float32"] = "float16"  # or fp16, bf16, fp32
    render_compile: bool = False
    # Images per UNet batch. With RENDER_COMPILE every batch is padded to this size (one shape).
    render_batch_size: int = Field(default=4, ge=1)
    # At start, one generation at each batch shape an order runs (compiles, autotunes).
    render_warmup: bool = True
    # Face analysis: "auto" runs onnxruntime on CUDA where onnxruntime-gpu provides it, else CPU.
    face_device: Literal["auto", "cpu"] = "auto"
    review_min_identity: float = 0.45
    review_require_one_face: bool = True
    review_extra_attempts: int = 2
    # Candidates made beyond the planned portraits in the same batched call; a refused one's
    # place goes to a passing spare instead of a serial retry round.
    review_spare_candidates: int = Field(default=4, ge=0)
    # The commercial stack's generator: FLUX.2 [klein] 4B, a diffusers folder (the manifest's
    # `flux2-klein` under WEIGHTS_DIR), step-distilled for 4 steps without guidance. It conditions
    # on reference images: the headshot and the selfies closest to the identity profile.
    flux2_dir: str = ".models/flux2-klein"
    flux2_steps: int = Field(default=4, ge=1)
    flux2_guidance: float = 1.0
    flux2_references: int = Field(default=4, ge=1, le=10)
    flux2_reference_px: int = Field(default=512, ge=64, le=1024)
    # C2PA: every delivered file is signed with the operator's certificate chain (PEM, signing
    # certificate first) and private key (PEM). Required in production; unset in dev: unsigned.
    c2pa_cert_path: str = ""
    c2pa_key_path: str = ""
    c2pa_timestamp_url: str = ""  # an RFC 3161 timestamp authority, if the operator has one

    @field_validator("admin_user_ids", mode="before")
    @classmethod
    def _comma_separated_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _comma_separated_sentinels(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part for part in value.replace(" ", "").split(",") if part)
        for address in value if isinstance(value, tuple | list) else ():
            host, _, port = str(address).rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"REDIS_SENTINELS: {address!r} is not host:port")
        return value

    @field_validator("render_dtype", mode="before")
    @classmethod
    def _dtype_alias(cls, value: object) -> object:
        aliases = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
        return aliases.get(str(value).lower(), value) if isinstance(value, str) else value

    @field_validator("max_selfies")
    @classmethod
    def _max_at_least_min(cls, value: int, info: object) -> int:
        data = getattr(info, "data", {})
        if value < data.get("min_selfies", 1):
            raise ValueError(f"max_selfies={value} is below min_selfies={data.get('min_selfies')}")
        return value

    @model_validator(mode="after")
    def _no_renamed_settings(self) -> Settings:
        """A setting given under its old name is refused with its new one (environment or .env)."""
        given = {name.upper() for name in os.environ}
        given |= dotenv_names(self.model_config.get("env_file"))
        old = sorted(name for name in RENAMED_SETTINGS if name in given)
        if old:
            renames = ", ".join(f"{name} is now {RENAMED_SETTINGS[name]}" for name in old)
            raise ValueError(f"renamed settings: {renames}")
        return self

    @model_validator(mode="after")
    def _commercial_stack_in_production(self) -> Settings:
        """Production runs the stack a paid service may run unless MODEL_STACK says otherwise."""
        if self.mode is Mode.PROD and "model_stack" not in self.model_fields_set:
            self.model_stack = "commercial"
        return self

    @model_validator(mode="after")
    def _secrets_present(self) -> Settings:
        """Production refuses placeholder secrets; dev and tests get fresh random ones."""
        for name in ("master_key", "payload_secret"):
            value = getattr(self, name).get_secret_value()
            if value.strip().lower() in PLACEHOLDER_SECRETS:
                if self.mode is Mode.PROD:
                    raise ValueError(f"{name.upper()} must be set in production mode")
                setattr(self, name, SecretStr(generate_master_key()))
        if self.mode is Mode.PROD and not self.telegram_bot_token.get_secret_value():
            raise ValueError("TELEGRAM_BOT_TOKEN must be set in production mode")
        if self.webhook_url and not self.webhook_secret.get_secret_value():
            raise ValueError("WEBHOOK_SECRET must be set when WEBHOOK_URL is")
        decode_key(self.master_key.get_secret_value())
        if self.mode is Mode.PROD:
            self._refuse_weak_secrets()
        return self

    def _refuse_weak_secrets(self) -> None:
        """Production runs on strong secrets of its own (studio/secret_strength.py)."""
        problems = production_secret_problems(
            self.master_key_bytes,
            self.master_key.get_secret_value(),
            self.payload_secret_bytes,
            {"WEBHOOK_SECRET": self.webhook_secret.get_secret_value()},
        )
        if problems:
            raise ValueError(
                "refusing weak secrets in production mode: " + "; ".join(problems) + ". Make "
                "new ones: MASTER_KEY with python -c 'from studio.settings import "
                "generate_master_key as g; print(g())', PAYLOAD_SECRET with python -c "
                "'import secrets; print(secrets.token_urlsafe(32))'"
            )

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """REDIS_SENTINELS as (host, port) pairs; empty when Redis is REDIS_URL's own server."""
        pairs = (address.rpartition(":") for address in self.redis_sentinels)
        return [(host, int(port)) for host, _, port in pairs]

    @property
    def master_key_bytes(self) -> bytes:
        return decode_key(self.master_key.get_secret_value())

    @property
    def old_master_keys_bytes(self) -> tuple[bytes, ...]:
        """MASTER_KEYS_OLD, decoded, in the order given."""
        raw = self.master_keys_old.get_secret_value()
        return tuple(decode_key(part.strip()) for part in raw.split(",") if part.strip())

    @property
    def payload_secret_bytes(self) -> bytes:
        """The HMAC key of invoice payloads."""
        return self.payload_secret.get_secret_value().encode()


def generate_master_key() -> str:
    """A fresh 32-byte key in urlsafe base64 (what MASTER_KEY expects)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def decode_key(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError("MASTER_KEY must be urlsafe base64") from exc
    if len(raw) != 32:
        raise ValueError(f"MASTER_KEY must decode to 32 bytes, got {len(raw)}")
    return raw


def dotenv_names(env_file: object) -> set[str]:
    """The names a .env file sets (the file pydantic-settings reads), upper-cased."""
    if not isinstance(env_file, str | Path) or not Path(env_file).is_file():
        return set()
    return {name.upper() for name in dotenv_values(env_file)}
