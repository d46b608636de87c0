"""Access requests (/mydata): everything the service holds about a user, from its records."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from studio import keys
from studio.crypto import KeyShredded, UserKey
from studio.domain import Studio

NOT_STORED = [
    "photo bytes (downloaded into memory only while checked or rendered)",
    "face embeddings and identity profiles (computed in memory, never written)",
    "your name or username",
]


async def export_user(studio: Studio, user_id: int) -> dict[str, Any]:
    """Everything the service holds about the user, as one JSON-ready document (/mydata)."""
    session = await studio.sessions.get(user_id)
    try:
        key = await studio.vault.existing_key(user_id)
    except KeyShredded:
        key = None
    orders: list[dict[str, Any]] = []
    for order in await studio.orders.get_many(await studio.sessions.order_ids(user_id)):
        if order is None:
            continue
        photos = await studio.photos.records(order.id, key) if key is not None else {}
        ledger = await studio.ledger.get(order.charge_id) if order.charge_id else None
        orders.append(
            {
                "order": order.model_dump(mode="json"),
                "photos": [p.model_dump(mode="json", by_alias=True) for p in photos.values()],
                "portraits_delivered": await _portraits_delivered(studio, order.id),
                "payment": None
                if ledger is None
                else ledger.model_dump(mode="json", by_alias=True),
            }
        )
    return _iso_dates(
        {
            "user_id": user_id,
            "language": session.language,
            "consent": None if session.consent is None else session.consent.model_dump(mode="json"),
            "declined_at": session.declined_at or None,
            "current_order": session.order_id or None,
            "orders": orders,
            "kept_photos": await _kept_photos(studio, user_id, key),
            "not_stored": NOT_STORED,
        }
    )


async def _kept_photos(studio: Studio, user_id: int, key: UserKey | None) -> dict[str, Any] | None:
    """The checked photos kept, on request, to order another style, and until when."""
    kept = await studio.photos.kept(user_id, key, studio.clock.now()) if key is not None else None
    if kept is None:
        return None
    return {
        "kept_until": dt.datetime.fromtimestamp(kept.until, dt.UTC).isoformat(timespec="seconds"),
        "photos": [p.model_dump(mode="json", by_alias=True) for p in kept.records.values()],
    }


async def _portraits_delivered(studio: Studio, order_id: str) -> int:
    """Portraits whose original Telegram confirmed: the PNGs in each archive part it took."""
    raw = await studio.redis.hgetall(keys.order_deliveries(order_id))  # type: ignore[misc]
    count = 0
    for name, value in raw.items():
        if name.startswith(b"archive:"):
            record = json.loads(value)
            if record.get("state") == "sent":
                count += int(record.get("portraits", 0))
    return count


def _iso_dates(value: Any, name: str = "") -> Any:
    """Times (fields named *_at) as ISO 8601 in UTC instead of raw epoch seconds; 0 is None."""
    if isinstance(value, dict):
        return {k: _iso_dates(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_dates(v, name) for v in value]
    if name.endswith("_at") and isinstance(value, int | float) and not isinstance(value, bool):
        if not value:
            return None
        return dt.datetime.fromtimestamp(float(value), dt.UTC).isoformat(timespec="seconds")
    return value
