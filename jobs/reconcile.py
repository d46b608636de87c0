"""The reconcilers, run by every worker (jobs/maintenance.py): they repair what a crash left.

`reconcile`: every paid order has a live render job, or is refunded by its deadline.

`reconcile_payments`: a payment can reach Telegram's record without ever reaching our ledger:
the bot dies (or its handler fails and Telegram does not re-deliver) between
`successful_payment` and the ledger write. Telegram's own history (getStarTransactions) is the
other record; this job walks it from a checkpoint and hands every incoming payment with no
ledger entry to `complete_payment`, the same code the successful_payment handler runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from arq.jobs import JobStatus
from telegram import Bot, StarTransaction, TransactionPartnerUser
from telegram.error import TelegramError

from bot.payments import STARS, complete_payment, fail_order, refund_order
from jobs.delivery import reconcile_delivery
from jobs.render_lease import lease_seconds, render_lease_held, render_leases_held
from jobs.resources import WorkerResources, resources
from studio import keys
from studio.domain import Studio
from studio.orders import PAID_STATES, Order, OrderState
from studio.payments import Outcome, ledger_since
from studio.queue import enqueue_render, free_dead_render, queued_among, render_job_status

logger = logging.getLogger(__name__)

BATCH = 500  # paid orders checked per Redis round trip


@dataclass
class ReconcileReport:
    checked: int = 0
    requeued: int = 0
    refunded: int = 0
    archived: int = 0


async def reconcile(ctx: dict[str, Any]) -> ReconcileReport:
    """Every paid order has a queued or running render job, or is refunded by its deadline.

    Re-enqueueing is safe to repeat: the job id is the order id, and arq refuses a second job
    with an id that is queued, running or has a kept result. An order whose job finished (its
    result is kept) while the order is still open ran out of tries without reaching a verdict
    (e.g. the worker was killed on every try): it is failed and refunded. A render whose
    worker died (no live lease, see jobs/render_lease.py) is freed to run again within about
    two lease TTLs instead of waiting out arq's job timeout.
    """
    res = resources(ctx, WorkerResources)
    studio, bot = res.studio, res.bot
    report = ReconcileReport()
    now = studio.clock.now()
    deadline_s = studio.settings.paid_order_deadline_hours * 3600
    order_ids = await studio.orders.paid_order_ids()
    for start in range(0, len(order_ids), BATCH):
        batch = order_ids[start : start + BATCH]
        report.checked += len(batch)
        for order_id in await _needing_attention(studio, batch, now - deadline_s):
            await _reconcile_one(studio, bot, order_id, now, deadline_s, report)
    if report.requeued or report.refunded:
        logger.info(
            "reconcile: %d checked, %d re-enqueued, %d refunded",
            report.checked,
            report.requeued,
            report.refunded,
        )
    return report


async def _needing_attention(studio: Studio, order_ids: list[str], paid_before: float) -> list[str]:
    """The orders of a batch that are not simply paid-and-queued (three round trips a batch)."""
    orders = await studio.orders.get_many(order_ids)
    queued = await queued_among(studio.redis, order_ids)
    leased = await render_leases_held(studio.redis, order_ids)
    out = []
    for order_id, order, in_queue, has_lease in zip(order_ids, orders, queued, leased, strict=True):
        healthy = (
            order is not None
            and order.state in PAID_STATES
            and in_queue
            and order.paid_at >= paid_before
            # A render with no live lease may have lost its worker (free_dead_render decides).
            and (order.state is not OrderState.RENDERING or has_lease)
        )
        if not healthy:
            out.append(order_id)
    return out


async def _reconcile_one(
    studio: Studio, bot: Bot, order_id: str, now: float, deadline_s: float, report: ReconcileReport
) -> None:
    order = await studio.orders.get(order_id)
    if order is None or order.state not in PAID_STATES:
        if order is not None and _refund_owed(order):
            await _retry_refund(studio, bot, order, report)
        else:
            # Delivered, refunded, erased or never charged: it no longer belongs on this list.
            await studio.orders.reindex(order_id)
            report.archived += 1
        return
    if await render_lease_held(studio.redis, order_id):
        return  # a live worker is rendering (or delivering) it, whatever the deadline or arq say
    if now - (order.paid_at or order.created_at) > deadline_s:
        if await fail_order(studio, bot, order_id, "deadline"):
            report.refunded += 1
        return
    if await reconcile_delivery(studio, order_id):
        return  # rendered and handed to the delivery stage, which is alive or was restarted
    if await free_dead_render(studio.redis, order_id, lease_seconds(studio.settings)):
        report.requeued += 1
        logger.warning("order %s: its render worker died; the render runs again", order_id)
        return
    status = await render_job_status(studio.redis, order_id)
    if status in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress):
        return
    if status is JobStatus.complete:
        if await fail_order(studio, bot, order_id, "render gave up"):
            report.refunded += 1
        return
    if await enqueue_render(studio.redis, order_id, studio.settings):
        report.requeued += 1
        logger.warning("order %s had no render job: re-enqueued", order_id)


def _refund_owed(order: Order) -> bool:
    """Failed, or cancelled (/delete, a payment for a cancelled order), with a live charge."""
    return (
        order.state in (OrderState.FAILED, OrderState.CANCELLED)
        and bool(order.charge_id)
        and not order.refunded
    )


async def _retry_refund(studio: Studio, bot: Bot, order: Order, report: ReconcileReport) -> None:
    """An earlier refund attempt did not go through: try again (the refund closes the order)."""
    # The apology says the portraits could not be made: true of a failed order only.
    notify = order.state is OrderState.FAILED
    try:
        if await refund_order(studio, bot, order, notify=notify):
            report.refunded += 1
    except TelegramError:
        # Stays on the list for the next run; one stuck charge must not stop the others.
        logger.exception("order %s: refund failed again", order.id)


# Stars payments ---------------------------------------------------------------------------

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
    held: bool = False  # the ledger was lost: nothing was done (see reconcile_payments)


async def reconcile_payments(ctx: dict[str, Any]) -> PaymentsReport:
    """Every incoming Stars payment older than GRACE_S has a ledger entry (and so an outcome).

    Transactions come oldest first, so the checkpoint is an offset: it moves past a transaction
    once it is settled (in the ledger, completed now, or not a user's invoice payment, e.g. a
    refund). A payment that fails to complete holds the checkpoint, and is retried next run.
    """
    res = resources(ctx, WorkerResources)
    studio, bot = res.studio, res.bot
    now = studio.clock.now()
    start = int(await studio.redis.get(keys.STAR_TRANSACTIONS_OFFSET) or 0)
    report = PaymentsReport(offset=start)
    since = await ledger_since(studio.redis, now)
    if start == 0 and await _payments_before(studio, bot, since):
        # No checkpoint, and Telegram lists payments from before this Redis's ledger began that
        # the ledger never saw: Redis lost its data. Replaying them would refund delivered
        # orders (their orders and invoices are gone too), so an operator decides.
        logger.error(
            "ALERT: Telegram lists Stars payments older than this Redis's payments ledger "
            "(Redis data loss?). No payment is completed or refunded automatically until an "
            "operator confirms: python -m jobs.payments_ledger --help"
        )
        report.held = True
        return report
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
    logger.warning("a Stars charge has no ledger entry: completing it")
    try:
        outcome = await complete_payment(
            studio,
            bot,
            charge_id=transaction.id,
            payload=source.invoice_payload,
            amount=transaction.amount,
            currency=STARS,
            user_id=source.user.id,
            listed=True,  # read from Telegram's own history just now
        )
    except TelegramError:
        # The checkpoint stays here, so the next run tries this charge again.
        logger.exception("a Stars charge without a ledger entry: completing it failed")
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


async def _payments_before(studio: Studio, bot: Bot, since: float) -> bool:
    """The first page of Telegram's history holds a payment from before `since` (with a clock
    margin of GRACE_S) that the ledger does not know."""
    page = (await bot.get_star_transactions(offset=0, limit=PAGE)).transactions
    for transaction in page:
        source = transaction.source
        if not isinstance(source, TransactionPartnerUser) or source.invoice_payload is None:
            continue
        if transaction.date.timestamp() >= since - GRACE_S:
            break
        if await studio.ledger.get(transaction.id) is None:
            return True
    return False
