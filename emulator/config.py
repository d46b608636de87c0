"""Configuration of one emulated Bot API server."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour; defaults follow Telegram's limits."""

    # None accepts any token; a string makes every other token answer 401 like Telegram.
    token: str | None = None
    bot_id: int = 7000000001
    bot_username: str = "portrait_studio_bot"
    bot_first_name: str = "Portrait Studio"
    # Flood control: Telegram allows about one message per second per chat with short bursts,
    # and about 30 messages per second for the whole bot.
    chat_rate: float = 1.0
    chat_burst: float = 3.0
    global_rate: float = 30.0
    global_burst: float = 30.0
    # How long /_control/users/{id}/pay waits for answerPreCheckoutQuery (Telegram: 10 s).
    pre_checkout_timeout: float = 10.0
    # Webhook delivery retries back off from this delay, doubling up to webhook_retry_max.
    webhook_retry_initial: float = 0.05
    webhook_retry_max: float = 2.0
    webhook_timeout: float = 10.0
    max_photo_bytes: int = 10 * 1024 * 1024
    max_document_bytes: int = 50 * 1024 * 1024
    max_download_bytes: int = 20 * 1024 * 1024
    max_request_bytes: int = 64 * 1024 * 1024
