"""Every Redis key the service uses, in one place, with how long each lives.

Keys that name a user (by id) are listed in `user_key_patterns` so that erasure can find them all.
"""

from __future__ import annotations

from datetime import timedelta

PREFIX = "ps:"

# arq queues (sorted sets owned by arq, read only through studio.queue).
INTAKE_QUEUE = "intake"
RENDER_QUEUE = "render"
DELIVERY_QUEUE = "delivery"  # sends finished portraits; run by workers without a GPU
RENDER_HEALTH_PREFIX = PREFIX + "render:health:"  # one per live render worker, expires itself
# Sorted set: render worker name -> when it registered. A registered worker counts as live while
# its health key exists, so counting workers never walks the keyspace.
RENDER_WORKERS = PREFIX + "render:workers"

# TTLs
# An update is marked "done" when its handling completes. Telegram keeps an unconfirmed update up
# to 24 h (Bot API, getUpdates), but a taken one is never unconfirmed for long: polling starts
# again from the offset stored with the last update taken (UPDATES_OFFSET), and webhook mode
# answers 200 once the update is persisted, so Telegram re-sends a taken update only when that
# 200 was lost (Bot API, setWebhook: it repeats the request "and gives up after a reasonable
# amount of attempts"; the emulator's retries back off to a minute). An hour covers those retries
# with a wide margin; a repeat after it is handled again, which each action's own guard (photo
# token, charge id, state transitions) makes harmless. 1 h at 1,000 updates/s: 3.6 M keys.
UPDATE_DEDUPE_TTL = timedelta(hours=1)
TAP_DEDUPE_TTL = timedelta(seconds=30)  # a double tap arrives within a second or two
RATE_BUCKET_TTL = timedelta(seconds=10)  # buckets refill in a few seconds; idle ones vanish


def data_key(user_id: int) -> str:
    """The user's data key, wrapped by the master key (deleted by /delete: crypto-shredding)."""
    return f"{PREFIX}user:{user_id}:dek"


def user_charges(user_id: int) -> str:
    """Set of the user's ledger charge ids, so erasure can unlink their order ids."""
    prefix, suffix = USER_CHARGES_AFFIXES
    return f"{prefix}{user_id}{suffix}"


USER_CHARGES_AFFIXES = (f"{PREFIX}user:", ":charges")  # for the ledger purge script


def session(user_id: int) -> str:
    """Conversation state: language, consent record, current order. Lives until erased."""
    return f"{PREFIX}session:{user_id}"


def user_orders(user_id: int) -> str:
    """Set of the user's order ids, for erasure and /mydata."""
    return f"{PREFIX}user:{user_id}:orders"


def order(order_id: str) -> str:
    """Order hash. Reduced to its ledger entry by retention after ORDER_TTL_DAYS."""
    return f"{PREFIX}order:{order_id}"


def order_photos(order_id: str) -> str:
    """Hash: photo token (HMAC of file_unique_id under the user's key) -> encrypted record."""
    return f"{PREFIX}order:{order_id}:photos"


def order_deliveries(order_id: str) -> str:
    """Hash: portrait index -> delivery record, so a retried render never sends twice."""
    return f"{PREFIX}order:{order_id}:deliveries"


def kept_photos(user_id: int) -> str:
    """Hash: photo token -> record sealed under the user's key, plus "until" (unix time): the
    checked photos of a delivered order that the user asked to keep, to order another style.
    Expires after REUSE_DAYS (its own TTL, and the retention cron via KEPT_PHOTOS); /delete and
    "stop keeping" delete it."""
    return f"{PREFIX}user:{user_id}:kept-photos"


# Who keeps photos until when: member user id, score the kept set's expiry. The retention cron
# walks it without the user's key; erasure and "stop keeping" remove the member.
KEPT_PHOTOS = PREFIX + "photos:kept"

# Indexes the cron jobs walk. Members are order ids, scores are unix times.
OPEN_ORDERS = PREFIX + "orders:open"  # intake not yet paid: purge after INTAKE_TTL_HOURS
PAID_ORDERS = PREFIX + "orders:paid"  # paid, not yet delivered or refunded: the reconciler's list
CLOSED_ORDERS = PREFIX + "orders:closed"  # delivered/refunded: reduce after ORDER_TTL_DAYS


def ledger(charge_id: str) -> str:
    """Payments ledger entry: charge id, user id, amount, times, outcome; LEDGER_RETENTION_DAYS."""
    return f"{PREFIX}ledger:{charge_id}"


def invoice(invoice_ref: str) -> str:
    """Invoice reference (the only id in a Stars payload) -> order id. Lives while the order
    does: erasure and retention delete it by the ref on the order, so Telegram's copy of the
    payload then resolves to nothing."""
    return f"{PREFIX}invoice:{invoice_ref}"


# The payments reconciler's place in getStarTransactions (oldest first): every transaction
# before this offset is in the ledger or needs nothing. A count, no personal data; kept forever.
STAR_TRANSACTIONS_OFFSET = PREFIX + "payments:star-transactions-offset"
# Where the bot last found a successful_payment's charge in that history: its place (offset).
# Only where the next check starts looking (bot/payments.py); a count, kept forever.
STAR_TRANSACTIONS_SEEN = PREFIX + "payments:star-transactions-seen"
# Since when this Redis's ledger has recorded every payment (unix time; set once, by the first
# process to open the domain on it, or by an operator: python -m jobs.payments_ledger). A Redis
# that lost its data gets a new, later one, so Telegram's older payments that the ledger never
# saw show the loss; the payments reconciler then holds (jobs/reconcile.py). Kept forever.
LEDGER_SINCE = PREFIX + "payments:ledger-since"

ORDER_INDEXES = (OPEN_ORDERS, PAID_ORDERS, CLOSED_ORDERS)
LEDGER_INDEX = PREFIX + "ledger:index"  # sorted set of charge ids by payment time


# Who was active when: member user id, score the time of their last update. Idle expiry walks it;
# plain because the cron must find idle users without their key. Erasure removes the member.
ACTIVE_USERS = PREFIX + "users:active"

# Erasures asked for and not yet finished: user id -> when. Names the user only while their
# erasure runs; the intake worker's cron finishes one whose process died (jobs/retention.py).
ERASURES_PENDING = PREFIX + "erasures:pending"

# Disk compaction (studio/compaction.py): the Redis server time of the last erasure write that
# must leave the disk, and the server time at which the last completed compaction began. No
# personal data; kept forever.
COMPACTION_DUE = PREFIX + "disk:compaction-due"
COMPACTED_AT = PREFIX + "disk:compacted-at"


def update_seen(update_id: int) -> str:
    """Dedupe of Telegram updates across bot replicas: "run:<process>:<update>" while claimed (see
    bot/update_store.py), "done" once handled."""
    return f"{PREFIX}update:{update_id}"


# Hash: update id -> the update (sealed), from when a process took it until it was handled. The
# next start (or any replica's sweep, once the claim lapsed) replays what is left in it.
UPDATES_PENDING = PREFIX + "updates:pending"
# Polling mode: the getUpdates offset past the last update taken (persisted), where a restart
# resumes, so Telegram never hands a taken update over again. A number; kept forever.
UPDATES_OFFSET = PREFIX + "updates:offset"


def user_limit(user_id: int, kind: str, window: int) -> str:
    """Per-user update counter for one limit window (bot/fairness.py); expires with the window."""
    return f"{PREFIX}limit:{user_id}:{kind}:{window}"


# Deep-link sources (bot/start_sources.py): hash source -> /start count. Names nobody; kept.
START_SOURCES = PREFIX + "stats:start_sources"


def group_pointed(chat_id: int) -> str:
    """Set while a group has had its pointer to the private chat (one limit window); names only
    the group."""
    return f"{PREFIX}group:{chat_id}:pointed"


def tap(user_id: int, token: str) -> str:
    """Dedupe of a button press (double taps)."""
    return f"{PREFIX}tap:{user_id}:{token}"


def chat_bucket(chat_id: int) -> str:
    """Per-chat outgoing rate-limit bucket."""
    return f"{PREFIX}rl:chat:{chat_id}"


GLOBAL_BUCKET = PREFIX + "rl:global"
PAID_BROADCAST_TTL = timedelta(hours=2)  # an hour's count outlives its hour, then goes


def paid_broadcast_units(hour: int) -> str:
    """Message units sent as paid broadcasts in one UTC hour (hour = epoch seconds // 3600)."""
    return f"{PREFIX}rl:paid:{hour}"


def status_shown(order_id: str) -> str:
    """Digest of what the intake status message shows now, so unchanged refreshes skip the edit."""
    return f"{PREFIX}order:{order_id}:status-shown"


STATUS_SHOWN_TTL = timedelta(days=2)  # outlives the intake; no personal data in a digest


def pack_sample(pack_id: str, digest: str) -> str:
    """Telegram's file_id of a style pack's sample image once uploaded, so later users of the
    same image (`digest`: of its bytes; a new file uploads anew) are sent it by file_id. Names
    no user: it is the bot's own picture."""
    return f"{PREFIX}pack-sample:{pack_id}:{digest}"


# Telegram keeps a bot's file_ids usable indefinitely; the TTL only retires stale digests.
PACK_SAMPLE_TTL = timedelta(days=30)


RENDER_DURATION_EWMA = PREFIX + "stats:render-seconds"


def order_pattern(order_id: str) -> str:
    """SCAN pattern for every key of ours that belongs to one order (arq's: studio.queue)."""
    return f"{PREFIX}order:{order_id}*"  # order, photos, deliveries, status digests, locks


def user_key_patterns(user_id: int) -> list[str]:
    """SCAN patterns for every key that names the user (orders are found via user_orders)."""
    return [
        data_key(user_id),
        session(user_id),
        user_orders(user_id),
        user_charges(user_id),
        kept_photos(user_id),
        f"{PREFIX}tap:{user_id}:*",
        f"{PREFIX}limit:{user_id}:*",
        chat_bucket(user_id),  # private chats: chat id == user id
    ]


# Render, delivery and refunds
REFUND_LOCK_TTL = timedelta(minutes=2)  # one refundStarPayment call in flight per order
QUEUE_NOTICES = PREFIX + "queue:notices"  # hash: order id -> queue position its message shows


def refund_lock(order_id: str) -> str:
    """Held while one process refunds the order, so concurrent callers refund once."""
    return f"{PREFIX}order:{order_id}:refunding"


def render_lease(order_id: str) -> str:
    """The live render run's token; its worker refreshes it, so it lapses soon after a crash."""
    return f"{PREFIX}order:{order_id}:render-lease"


def render_suspect(order_id: str) -> str:
    """Set by the reconciler when it first sees a running render job with no lease."""
    return f"{PREFIX}order:{order_id}:render-suspect"


# The delivery stage (jobs/delivery.py). Finished portraits wait between the GPU and Telegram in
# an outbox sealed under the user's key: never on a file, bounded by DELIVERY_BUFFER, with a TTL.
DELIVERY_BUFFER = PREFIX + "delivery:buffer"  # hash: order id -> "<bytes>:<expires unix>"
DELIVERY_DURATION_EWMA = PREFIX + "stats:delivery-seconds"


def order_outbox(order_id: str) -> str:
    """Hash: portrait index -> the sealed finished images; lives DELIVERY_BUFFER_TTL_HOURS."""
    return f"{PREFIX}order:{order_id}:outbox"


def delivery_lease(order_id: str) -> str:
    """The live delivery run's token (like render_lease), so a dead sender's job runs again."""
    return f"{PREFIX}order:{order_id}:delivery-lease"


def delivery_suspect(order_id: str) -> str:
    """Set by the reconciler when it first sees a running delivery job with no lease."""
    return f"{PREFIX}order:{order_id}:delivery-suspect"


# Repair chores run in every worker (jobs/maintenance.py).
def chore_period(name: str) -> str:
    """Claimed by the one worker that runs the chore this period; expires with the period."""
    return f"{PREFIX}chore:{name}:period"


def chore_running(name: str) -> str:
    """Held (a token) while a run of the chore is live; expires after the chore's timeout."""
    return f"{PREFIX}chore:{name}:running"
