"""OrderStore.transition moves an order between index sets in the same script as its state."""

from __future__ import annotations

from studio import keys
from studio.domain import Studio
from studio.orders import OrderState


async def test_a_transition_with_move_changes_state_and_indexes_together(studio: Studio) -> None:
    order = await studio.orders.create(1, 1, "en", now=10.0)
    await studio.orders.transition(order.id, {OrderState.HEADSHOT}, OrderState.PAYMENT)
    move = (keys.OPEN_ORDERS, keys.PAID_ORDERS, 42.0)

    moved = await studio.orders.transition(
        order.id, {OrderState.PAYMENT}, OrderState.PAID, move=move, charge_id="c1"
    )

    assert moved
    paid = await studio.orders.get(order.id)
    assert paid is not None and paid.state is OrderState.PAID and paid.charge_id == "c1"
    assert await studio.redis.zscore(keys.OPEN_ORDERS, order.id) is None
    assert await studio.redis.zscore(keys.PAID_ORDERS, order.id) == 42.0


async def test_a_transition_that_does_not_apply_moves_no_index(studio: Studio) -> None:
    order = await studio.orders.create(1, 1, "en", now=10.0)
    move = (keys.OPEN_ORDERS, keys.PAID_ORDERS, 42.0)

    moved = await studio.orders.transition(
        order.id, {OrderState.PAYMENT}, OrderState.PAID, move=move
    )

    assert not moved
    same = await studio.orders.get(order.id)
    assert same is not None and same.state is OrderState.HEADSHOT
    assert await studio.redis.zscore(keys.OPEN_ORDERS, order.id) == 10.0
    assert await studio.redis.zscore(keys.PAID_ORDERS, order.id) is None
    # A missing order: nothing is created, in the hash or the indexes.
    assert not await studio.orders.transition(
        "gone", {OrderState.PAYMENT}, OrderState.PAID, move=move
    )
    assert not await studio.redis.exists(keys.order("gone"))
    assert await studio.redis.zscore(keys.PAID_ORDERS, "gone") is None
