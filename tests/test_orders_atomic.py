"""Named transitions move an order between the index sets in the same script as its state."""

from __future__ import annotations

from studio import keys
from studio.domain import Studio
from studio.orders import OrderState


async def _at_payment(studio: Studio, now: float = 10.0) -> str:
    order = await studio.orders.create(1, 1, "en", now=now)
    assert await studio.orders.accept_headshot(order.id)
    assert await studio.orders.finish_selfies(order.id)
    assert await studio.orders.choose_pack(order.id, "studio", 150)
    return order.id


async def test_paying_changes_state_and_indexes_together(studio: Studio) -> None:
    order_id = await _at_payment(studio)

    paid = await studio.orders.pay(order_id, "c1", 42.0)

    assert paid is not None and paid.state is OrderState.PAID and paid.charge_id == "c1"
    assert await studio.orders.get(order_id) == paid
    assert await studio.redis.zscore(keys.OPEN_ORDERS, order_id) is None
    assert await studio.redis.zscore(keys.PAID_ORDERS, order_id) == 42.0


async def test_a_transition_that_does_not_apply_moves_no_index(studio: Studio) -> None:
    order = await studio.orders.create(1, 1, "en", now=10.0)

    assert await studio.orders.pay(order.id, "c1", 42.0) is None

    same = await studio.orders.get(order.id)
    assert same is not None and same.state is OrderState.HEADSHOT
    assert await studio.redis.zscore(keys.OPEN_ORDERS, order.id) == 10.0
    assert await studio.redis.zscore(keys.PAID_ORDERS, order.id) is None
    # A missing order: nothing is created, in the hash or the indexes.
    assert await studio.orders.pay("gone", "c1", 42.0) is None
    assert not await studio.redis.exists(keys.order("gone"))
    assert await studio.redis.zscore(keys.PAID_ORDERS, "gone") is None


async def test_a_failed_order_stays_listed_as_paid_until_its_refund(studio: Studio) -> None:
    order_id = await _at_payment(studio)
    assert await studio.orders.pay(order_id, "c1", 42.0)

    assert await studio.orders.fail(order_id, "model error")
    assert await studio.redis.zscore(keys.PAID_ORDERS, order_id) == 42.0  # the refund is owed

    refunded = await studio.orders.refund(order_id, 50.0)
    assert refunded is not None and refunded.refunded and refunded.state is OrderState.REFUNDED
    assert await studio.redis.zscore(keys.PAID_ORDERS, order_id) is None
    assert await studio.redis.zscore(keys.CLOSED_ORDERS, order_id) == 50.0
    assert await studio.orders.refund(order_id, 60.0) is None  # once


async def test_cancelling_an_intake_drops_its_photos_and_closes_it(studio: Studio) -> None:
    order = await studio.orders.create(1, 1, "en", now=10.0)
    await studio.redis.hset(keys.order_photos(order.id), "token", "sealed")  # type: ignore[misc]

    cancelled = await studio.orders.cancel(order.id, "by the user")

    assert cancelled is not None and cancelled.state is OrderState.CANCELLED
    assert not await studio.redis.exists(keys.order_photos(order.id))
    assert await studio.redis.zscore(keys.OPEN_ORDERS, order.id) is None
    assert await studio.redis.zscore(keys.CLOSED_ORDERS, order.id) is not None
    assert await studio.orders.cancel(order.id) is None


async def test_setters_never_recreate_an_erased_order(studio: Studio) -> None:
    await studio.orders.set_queue_message("erased", 5)
    assert not await studio.redis.exists(keys.order("erased"))
    assert await studio.redis.zscore(keys.CLOSED_ORDERS, "erased") is None
