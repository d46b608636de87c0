"""Master key rotation: `portrait-studio rewrap-keys` re-wraps every data key under MASTER_KEY.

Rotate: set the new key as MASTER_KEY and the former one in MASTER_KEYS_OLD, restart every
process (new data keys are wrapped under the new key, old ones still open), run rewrap-keys,
then drop MASTER_KEYS_OLD and destroy the old key once the AOF was rewritten
(docs/OPERATIONS.md). The sealed fields themselves never change: only their users' data keys
are re-wrapped, so the walk is one GET and one SET per user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from redis.asyncio import Redis

from studio import keys
from studio.crypto import Vault
from studio.queue import connect_queue
from studio.settings import Settings

logger = logging.getLogger(__name__)

DATA_KEY_PATTERN = keys.data_key(0).replace(":0:", ":*:")


@dataclass
class RewrapReport:
    rewrapped: int = 0
    current: int = 0
    failed: int = 0  # wrapped under none of the configured keys

    def summary(self) -> str:
        return (
            f"data keys re-wrapped: {self.rewrapped}, already current: {self.current}, "
            f"unreadable under every configured key: {self.failed}"
        )


async def rewrap_keys(redis: Redis, vault: Vault) -> RewrapReport:
    """Walk every user's data key (SCAN) and re-wrap those under a former master key."""
    report = RewrapReport()
    async for key in redis.scan_iter(match=DATA_KEY_PATTERN, count=1000):
        user_id = int(key.decode().split(":")[-2])
        try:
            if await vault.rewrap(user_id):
                report.rewrapped += 1
            else:
                report.current += 1
        except InvalidTag:
            logger.error("a data key opens under no configured master key")
            report.failed += 1
    logger.info("key rotation: %s", report.summary())
    return report


async def rewrap_all(settings: Settings) -> RewrapReport:
    redis = await connect_queue(settings)
    try:
        vault = Vault(
            redis, settings.master_key_bytes, old_master_keys=settings.old_master_keys_bytes
        )
        return await rewrap_keys(redis, vault)
    finally:
        await redis.aclose()
