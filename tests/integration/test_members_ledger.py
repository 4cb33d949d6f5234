"""Property tests of the points ledger and coupon uses at the service layer: whatever a
member's orders do (paid, held and canceled, redeeming, with coupons, returned in
parts, adjusted by hand), their entries always sum to their balance (each entry's
balance the running sum), a sale's returns never take back more than it earned nor
give back more than it redeemed, and all of it once it is all back; a coupon's uses
are its orders that stand."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.membership import join, programme, ten_off
from tests.selling import World, cash, demo_world, water_code

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, Refused
from tillpoint.core.settings import Settings
from tillpoint.store.member_models import Coupon, CouponUse, PointsEntry, PointsKind
from tillpoint.store.models import Order, OrderStatus
from tillpoint.store.orders import LineIn, NewReturn, OrderView, ReturnLineIn

NUMBERS = itertools.count(13600000000)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        demo=True,
        locale="en",
    )


@pytest.fixture
def w(tp: Tillpoint) -> Iterator[World]:
    world = demo_world(tp)
    programme(world)
    return world


Sale = st.tuples(
    st.just("sale"),
    st.integers(0, 5),  # water
    st.integers(0, 3),  # bread
    st.integers(0, 6),  # redeem steps (100 points each)
    st.booleans(),  # use a coupon
    st.sampled_from(["pay", "cancel"]),
)
Back = st.tuples(st.just("return"), st.integers(0, 20), st.integers(0, 1), st.integers(1, 3))
Adjust = st.tuples(st.just("adjust"), st.integers(-300, 800).filter(bool))
Ops = st.lists(st.one_of(Sale, Back, Adjust), min_size=1, max_size=10)


@hypothesis.settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=Ops)
def test_the_ledger_always_sums_to_the_balance(w: World, ops: list[tuple[object, ...]]) -> None:
    tp = w.tp
    with tp.ctx.db.read() as s:
        shift = s.scalar(select(func.max(Order.shift_id)))
    if shift is None or tp.shifts.get(shift, merchant_id=w.merchant_id).status.value != "open":
        shift = w.open_shift()
    m = join(w, str(next(NUMBERS)))  # a member of this example's own
    code = tp.coupons.issue(w.merchant_id, value=ten_off(uses=3), member_id=m.id, by="t")[0].code
    sales: list[OrderView] = []
    for op in ops:
        try:
            if op[0] == "sale":
                _k, n_water, n_bread, steps, coupon, end = op
                lines = []
                if n_water:
                    lines.append(LineIn(barcode=water_code(), quantity_milli=int(n_water) * 1000))
                if n_bread or not lines:
                    n = max(int(n_bread), 1)
                    lines.append(LineIn(product_id=w.products["bread"], quantity_milli=n * 1000))
                pay = end == "pay"
                order = tp.orders.create(
                    w.order(
                        shift, *lines, member_id=m.id, redeem_points=int(steps) * 100,
                        coupon_codes=(code,) if coupon else (), tenders=(cash(10**8),) if pay else (),
                    ),
                    merchant_id=w.merchant_id,
                ).order  # fmt: skip
                if pay:
                    sales.append(order)
                else:
                    tp.orders.cancel(order.id, merchant_id=w.merchant_id)
            elif op[0] == "return" and sales:
                _k, which, line, qty = op
                sale = tp.orders.get(sales[int(which) % len(sales)].id, merchant_id=w.merchant_id)
                x = sale.lines[int(line) % len(sale.lines)]
                left = x.quantity_milli - x.returned_milli
                if left:
                    tp.orders.create_return(
                        sale.id,
                        NewReturn(client_ref=f"R{next(NUMBERS)}", shift_id=shift,
                                  lines=(ReturnLineIn(x.id, min(left, int(qty) * 1000)),),
                                  approval=w.approval),
                        merchant_id=w.merchant_id,
                    )  # fmt: skip
            elif op[0] == "adjust":
                tp.members.adjust(m.id, int(op[1]), "test", merchant_id=w.merchant_id, by="t")
        except (Refused, InvalidInput):
            pass  # points short, too many, coupon used up: nothing changed
    _check(w, m.id, code, sales)


def _check(w: World, member_id: int, code: str, sales: list[OrderView]) -> None:
    tp = w.tp
    m_id = member_id
    with tp.ctx.db.read() as s:
        entries = list(
            s.scalars(select(PointsEntry).where(PointsEntry.member_id == m_id)
                      .order_by(PointsEntry.id))
        )  # fmt: skip
        running = 0
        for e in entries:
            running += e.points
            assert e.balance == running
        assert tp.members.get(m_id, merchant_id=w.merchant_id).points == running
        for sale in sales:
            returns = select(Order.id).where(
                Order.original_order_id == sale.id, Order.status == OrderStatus.PAID
            )
            by_kind = dict(
                s.execute(
                    select(PointsEntry.kind, func.sum(PointsEntry.points))
                    .where(PointsEntry.order_id.in_(returns.union(select(Order.id).where(
                        Order.id == sale.id))))
                    .group_by(PointsEntry.kind)
                ).all()
            )  # fmt: skip
            earned = by_kind.get(PointsKind.EARNED, 0)
            taken = -by_kind.get(PointsKind.TAKEN_BACK, 0)
            redeemed = -by_kind.get(PointsKind.REDEEMED, 0)
            restored = by_kind.get(PointsKind.RESTORED, 0)
            assert 0 <= taken <= earned and 0 <= restored <= redeemed
            now = tp.orders.get(sale.id, merchant_id=w.merchant_id)
            if all(x.returned_milli == x.quantity_milli for x in now.lines):
                assert (taken, restored) == (earned, redeemed)
        coupon = s.scalars(select(Coupon).where(Coupon.code == code)).one()
        uses = s.scalar(select(func.count()).select_from(CouponUse)
                        .where(CouponUse.coupon_id == coupon.id))  # fmt: skip
        assert coupon.uses_made == uses <= coupon.uses_allowed
