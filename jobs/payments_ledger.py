"""Operator commands for the payments ledger after a Redis data loss.

The payments reconciler (jobs/reconcile.py) stops completing and refunding payments when Redis
no longer holds its ledger but Telegram lists payments the ledger never saw: replaying them
would refund orders that were delivered. An operator looks, then confirms:

    python -m jobs.payments_ledger status
    python -m jobs.payments_ledger confirm --resume-at end     # history so far settled by hand
    python -m jobs.payments_ledger confirm --resume-at start   # ledger restored from a backup

`end` puts the reconciler's checkpoint after every payment Telegram lists now (those payments
are the operator's to check; `status` counts them); `start` replays the whole history against
the ledger as it is now, which is right only when the ledger was restored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass

from telegram import Bot, TransactionPartnerUser

from bot.client import make_bot
from bot.payments import STAR_PAGE
from studio import keys
from studio.domain import Studio
from studio.logs import configure_logging
from studio.payments import ledger_since, vouch_ledger_since
from studio.settings import Settings


@dataclass
class LedgerStatus:
    since: float
    checkpoint: int
    listed: int  # transactions Telegram lists (payments and refunds)
    unknown: int  # payments among them that the ledger has no entry for

    def __str__(self) -> str:
        return (
            f"ledger complete since: {self.since:.0f} (unix time); reconciler checkpoint: "
            f"{self.checkpoint}; Telegram lists {self.listed} transactions, {self.unknown} "
            "payments of them unknown to the ledger"
        )


async def ledger_status(studio: Studio, bot: Bot) -> LedgerStatus:
    listed = unknown = 0
    while True:
        page = (await bot.get_star_transactions(offset=listed, limit=STAR_PAGE)).transactions
        for transaction in page:
            if isinstance(transaction.source, TransactionPartnerUser):
                unknown += await studio.ledger.get(transaction.id) is None
        listed += len(page)
        if len(page) < STAR_PAGE:
            break
    checkpoint = int(await studio.redis.get(keys.STAR_TRANSACTIONS_OFFSET) or 0)
    since = await ledger_since(studio.redis, studio.clock.now())
    return LedgerStatus(since, checkpoint, listed, unknown)


async def confirm_ledger(studio: Studio, bot: Bot, resume_at: str) -> LedgerStatus:
    """Vouch for the ledger and set where the payments reconciler resumes."""
    status = await ledger_status(studio, bot)
    if resume_at == "end":
        await studio.redis.set(keys.STAR_TRANSACTIONS_OFFSET, status.listed)
    else:
        await studio.redis.delete(keys.STAR_TRANSACTIONS_OFFSET)
        await vouch_ledger_since(studio.redis, 0.0)
    return await ledger_status(studio, bot)


async def _main(command: str, resume_at: str) -> None:
    settings = Settings()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), settings)
    studio = await Studio.open(settings)
    bot = make_bot(settings, studio)
    try:
        await bot.initialize()
        if command == "status":
            print(await ledger_status(studio, bot))
        else:
            print(await confirm_ledger(studio, bot, resume_at))
    finally:
        await bot.shutdown()
        await studio.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["status", "confirm"])
    parser.add_argument("--resume-at", choices=["end", "start"], default="end")
    args = parser.parse_args()
    asyncio.run(_main(args.command, args.resume_at))


if __name__ == "__main__":
    main()
