"""Cron job: Stars payments Telegram made that our ledger never saw are completed or refunded.

A payment can reach Telegram's record without ever reaching our ledger: the bot dies (or its
handler fails and Telegram does not re-deliver) between `successful_payment` and the ledger
write. Telegram's own history (getStarTransactions) is the other record; this job walks it from
a checkpoint and hands every incoming payment with no ledger entry to `complete_payment`, the
same code the successful_payment handler runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import Bot, StarTransaction, TransactionPartnerUser
from telegram.error import TelegramError

from bot.payments import STARS, complete_payment
from studio import keys
from studio.domain import Studio
from studio.payments import Outcome

logger = logging.getLogger(__name__)

PAGE = 100  # getStarTransactions' largest limit
# The handler records a charge within a second or two of the payment; a younger transaction is
# left to it (this run stops there), so the two rarely race. They may, and stay correct.
GRACE_S = 60.0


@dataclass
class PaymentsReport:
    scanned: int = 0
    completed: int = 0
    refunded: int = 0
    failed: int = 0
    offset: int = 0


async def reconcile_payments(ctx: dict[str, Any]) -> PaymentsReport:
    """Every incoming Stars payment older than GRACE_S has a ledger entry (and so an outcome).

    Transactions come oldest first, so the checkpoint is an offset: it moves past a transaction
    once it is settled (in the ledger, completed now, or not a user's invoice payment, e.g. a
    refund). A payment that fails to complete holds the checkpoint, and is retried next run.
    """
    studio: Studio = ctx["studio"]
    bot: Bot = ctx["bot"]
    now = studio.clock.now()
    start = int(await studio.redis.get(keys.STAR_TRANSACTIONS_OFFSET) or 0)
    report = PaymentsReport(offset=start)
    position = start  # index of the next transaction to look at
    blocked = False
    while True:
        page = (await bot.get_star_transactions(offset=position, limit=PAGE)).transactions
        young = False
        for transaction in page:
            if now - transaction.date.timestamp() < GRACE_S:
                young = True  # this one and every later one still belong to the handler
                break
            report.scanned += 1
            position += 1
            settled = await _settle(studio, bot, transaction, report)
            blocked = blocked or not settled
            if not blocked:
                report.offset = position
        if young or len(page) < PAGE:
            break
    if report.offset != start:
        await studio.redis.set(keys.STAR_TRANSACTIONS_OFFSET, report.offset)
    if report.completed or report.refunded or report.failed:
        logger.warning(
            "payments reconcile: %d lost payments completed, %d refunded, %d failed",
            report.completed,
            report.refunded,
            report.failed,
        )
    return report


async def _settle(
    studio: Studio, bot: Bot, transaction: StarTransaction, report: PaymentsReport
) -> bool:
    """True when the transaction needs nothing more from us."""
    source = transaction.source
    if not isinstance(source, TransactionPartnerUser) or source.invoice_payload is None:
        return True  # a refund (it has a receiver), or not a payment for an invoice
    if await _recorded(studio, transaction.id):
        return True
    logger.warning("charge of user %s has no ledger entry: completing it", source.user.id)
    try:
        outcome = await complete_payment(
            studio,
            bot,
            charge_id=transaction.id,
            payload=source.invoice_payload,
            amount=transaction.amount,
            currency=STARS,
            user_id=source.user.id,
        )
    except TelegramError:
        # The checkpoint stays here, so the next run tries this charge again.
        logger.exception("charge of user %s: completing it failed", source.user.id)
        report.failed += 1
        return False
    if outcome is Outcome.REFUNDED:
        report.refunded += 1
    else:
        report.completed += 1
    return True


async def _recorded(studio: Studio, charge_id: str) -> bool:
    """In the ledger, and past the point where complete_payment could have been cut short."""
    entry = await studio.ledger.get(charge_id)
    if entry is None:
        return False
    if entry.outcome is not Outcome.PAID or not entry.order_id:
        return True
    # Recorded but the order never took the charge: a crash between the ledger write and the
    # paid transition. complete_payment finishes it (or finds the order unservable).
    order = await studio.orders.get(entry.order_id)
    return order is None or order.charge_id == charge_id
