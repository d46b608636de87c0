"""Token buckets that reproduce Telegram's flood control."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from emulator.errors import too_many_requests


@dataclass
class TokenBucket:
    """Refills at `rate` per second up to `burst`.

    A call is admitted while at least one token is left and then takes its whole cost, so the
    bucket may go into debt: a 10-photo album passes a burst of 3 once and then blocks the chat
    for the time it would have taken, which is how Telegram treats albums.
    """

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        # A bucket created after `now` was sampled must not lose tokens to negative time.
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = max(now, self.updated)

    def wait_time(self, now: float) -> float:
        """Seconds until a call would be admitted; 0 when it would be now."""
        self._refill(now)
        if self.tokens >= 1.0:
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def take(self, cost: float) -> None:
        self.tokens -= cost


# Paid broadcasts (allow_paid_broadcast): up to 1,000 messages a second, 0.1 Star each.
PAID_BROADCAST_RATE = 1000.0


class FloodControl:
    """A bucket per chat and one for the whole bot (and one for its paid broadcasts)."""

    def __init__(
        self, chat_rate: float, chat_burst: float, global_rate: float, global_burst: float
    ) -> None:
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.global_bucket = TokenBucket(global_rate, global_burst)
        self.paid_bucket = TokenBucket(PAID_BROADCAST_RATE, PAID_BROADCAST_RATE)
        self.chat_buckets: dict[int, TokenBucket] = {}

    def reset(self) -> None:
        self.global_bucket = TokenBucket(self.global_bucket.rate, self.global_bucket.burst)
        self.paid_bucket = TokenBucket(PAID_BROADCAST_RATE, PAID_BROADCAST_RATE)
        self.chat_buckets.clear()

    def admit(self, chat_id: int | None, cost: int, paid: bool = False) -> None:
        """Take `cost` tokens or raise the 429 Telegram would send.

        A paid broadcast passes the bot's 30/s (its own 1,000/s instead), not the chat's limit.
        """
        now = time.monotonic()
        buckets = [self.paid_bucket if paid else self.global_bucket]
        if chat_id is not None:
            bucket = self.chat_buckets.get(chat_id)
            if bucket is None:
                bucket = self.chat_buckets[chat_id] = TokenBucket(self.chat_rate, self.chat_burst)
            buckets.append(bucket)
        wait = max(b.wait_time(now) for b in buckets)
        if wait > 0:
            raise too_many_requests(wait)
        for b in buckets:
            b.take(cost)
