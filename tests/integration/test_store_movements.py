"""Stock changes only by a movement, and a shop's level of a product is always the sum
of its movements, however sales, returns and counts interleave (property test)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tillpoint.app import Tillpoint
from tillpoint.merchants.models import Merchant
from tillpoint.store.models import (
    MovementKind,
    Product,
    SoldBy,
    StockLevel,
    StockMovement,
)
from tillpoint.store.movements import Move, level, move

from ..conftest import approved, business_application

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KINDS = list(MovementKind)
Batch = tuple[int, list[tuple[int, int]], MovementKind]  # shop, (product, quantity)s, kind


@pytest.fixture
def world(tp: Tillpoint) -> tuple[int, list[int], list[int]]:
    """A merchant, its two shops and three products (once per test, not per example)."""
    mid = approved(tp, business_application())
    tp.merchants.add_shop(mid, "二店 Second shop", "上海市南京西路2号 2 West Nanjing Road", "t")
    with tp.ctx.db.transaction() as s:
        m = s.scalars(select(Merchant).where(Merchant.mid == mid)).one()
        shops = sorted(shop.id for shop in m.shops)
        products = []
        for n in range(3):
            p = Product(
                merchant_id=m.id, sku=f"SKU{n}", name=f"商品{n} Item {n}", unit="个",
                sold_by=SoldBy.PIECE, price_minor=100 * (n + 1), currency="CNY",
                active=True, revision=n + 1, created_at=AT, updated_at=AT,
            )  # fmt: skip
            s.add(p)
            s.flush()
            products.append(p.id)
        return m.id, shops, products


moves = st.lists(
    st.tuples(
        st.integers(0, 1),  # shop
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(-5000, 5000).filter(bool)),
            min_size=1,
            max_size=4,
        ),
        st.sampled_from(KINDS),
    ),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=moves)
def test_level_is_the_sum_of_movements(
    tp: Tillpoint, world: tuple[int, list[int], list[int]], batches: list[Batch]
) -> None:
    with tp.ctx.db.transaction() as s:  # each example starts from nothing
        s.query(StockMovement).delete()
        s.query(StockLevel).delete()
    merchant_id, shops, products = world
    for shop_n, lines, kind in batches:
        with tp.ctx.db.transaction() as s:
            got = move(
                s, merchant_id=merchant_id, shop_id=shops[shop_n], kind=kind,
                moves=[Move(products[p], q) for p, q in lines], by="test", at=AT,
            )  # fmt: skip
            for p, _q in lines:
                assert got[products[p]] == level(s, shops[shop_n], products[p])
    with tp.ctx.db.read() as s:
        sums = {
            (shop, product): total
            for shop, product, total in s.execute(
                select(
                    StockMovement.shop_id,
                    StockMovement.product_id,
                    func.sum(StockMovement.quantity_milli),
                ).group_by(StockMovement.shop_id, StockMovement.product_id)
            )
        }
        levels = {
            (x.shop_id, x.product_id): x.quantity_milli for x in s.scalars(select(StockLevel))
        }
    assert levels == sums


def test_first_movements_at_the_same_moment_all_count(
    tp: Tillpoint, world: tuple[int, list[int], list[int]]
) -> None:
    """Two tills selling a product the shop never stocked, at the same moment: neither
    fails on the other's new level row (PostgreSQL), and both count."""
    merchant_id, shops, products = world
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def sell() -> None:
        try:
            with tp.ctx.db.transaction() as s:
                barrier.wait(timeout=10)
                move(s, merchant_id=merchant_id, shop_id=shops[0], kind=MovementKind.SALE,
                     moves=[Move(products[0], -1000)], by="till", at=AT)  # fmt: skip
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=sell) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with tp.ctx.db.read() as s:
        assert level(s, shops[0], products[0]) == -4000
