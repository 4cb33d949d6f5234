"""Selling at the service layer: shifts (one open per till, X and Z reports, the cash
count), orders priced from the catalogue (shop prices, weighed goods, discounts spread
exactly, the till's figures checked), a manager's approval, idempotent client_refs,
mall counters, hold, recall and cancel, cash tenders with change, returns against a
receipt (never more than sold, cash back from the current drawer, stock back), and
every refusal changing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.selling import PASSWORD, World, cash, demo_world, water_code

from tillpoint.access import totp
from tillpoint.access.models import Account, AuditRecord
from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.settings import Settings
from tillpoint.store.models import (
    MovementKind,
    Order,
    OrderStatus,
    OrderTender,
    StockMovement,
    TenderKind,
    TenderStatus,
)
from tillpoint.store.orders import (
    Approval,
    Discount,
    LineIn,
    NewOrder,
    NewReturn,
    ReturnLineIn,
    TenderIn,
)
from tillpoint.store.rollups import as_stored, naive, stored


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Demo mode: the demo merchants, their shops, terminals and owners."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        demo=True,
        locale="en",
    )


@pytest.fixture
def w(tp: Tillpoint) -> Iterator[World]:
    return demo_world(tp)


def counts(tp: Tillpoint) -> tuple[int, int, int]:
    with tp.ctx.db.read() as s:
        return (
            s.scalar(select(func.count()).select_from(Order)) or 0,
            s.scalar(select(func.count()).select_from(OrderTender)) or 0,
            s.scalar(select(func.count()).select_from(StockMovement)) or 0,
        )


def water(n: int = 1, **kw: object) -> LineIn:
    return LineIn(barcode=water_code(), quantity_milli=n * 1000, **kw)  # type: ignore[arg-type]


# --- shifts ----------------------------------------------------------------------------------


def test_one_open_shift_per_till_and_who_may_open_it(w: World) -> None:
    tp = w.tp
    shift = tp.shifts.open(w.merchant_id, 1, "T1", 20_000, w.cashier_id)
    assert (shift.number, shift.till, shift.status, shift.float_minor) == (1, "T1", "open", 20_000)
    assert shift.report is not None and shift.report.kind == "X"
    assert shift.report.expected_cash_minor == 20_000
    with pytest.raises(Refused, match="Till T1 of shop 1 has an open shift already"):
        tp.shifts.open(w.merchant_id, 1, "T1", 0, w.manager_id)
    # Another till of the shop; the owner and managers sell anywhere, a cashier at home.
    assert tp.shifts.open(w.merchant_id, 1, "T2", 0, w.manager_id).number == 2
    assert tp.shifts.open(w.merchant_id, 2, "T1", 0, w.owner_id).number == 1  # per shop
    with pytest.raises(Refused, match="may not sell in shop 1") as refused:
        tp.shifts.open(w.merchant_id, 1, "T3", 0, w.cashier_2_id)
    assert refused.value.code == "seller.not_here"
    other = tp.merchants.get("898310054110002").id  # demo merchant 2
    with pytest.raises(NotFound, match="No account"):
        tp.shifts.open(other, 1, "T9", 0, w.cashier_id)
    with pytest.raises(NotFound, match="No shop 7"):
        tp.shifts.open(w.merchant_id, 7, "T9", 0, w.cashier_id)
    for till, float_minor in (("", 0), ("T 1", 0), ("x" * 21, 0), ("T9", -1)):
        with pytest.raises(InvalidInput):
            tp.shifts.open(w.merchant_id, 1, till, float_minor, w.cashier_id)
    assert [x.till for x in tp.shifts.search(merchant_id=w.merchant_id, shop_number=1)] == [
        "T2", "T1",
    ]  # fmt: skip


# --- a cash sale -----------------------------------------------------------------------------


def test_a_cash_sale_is_priced_paid_numbered_and_moves_stock_in_one_go(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    new = w.order(
        shift,
        water(3),  # 3 x 2.50 by its barcode
        LineIn(product_id=w.products["apple"], quantity_milli=455),  # 12.80/kg x 0.455 = 5.824
        LineIn(product_id=w.products["bread"]),  # the shop's price: 7.50, not 8.00
        tenders=(cash(received_minor=50_00),),
        expected_total_minor=7_50 + 5_82 + 7_50,
    )
    made = tp.orders.create(new, merchant_id=w.merchant_id)
    order = made.order
    assert made.to_tender == () and not made.replayed
    assert [(x.amount_minor, x.list_price_minor, x.unit) for x in order.lines] == [
        (750, 250, "个"), (582, 1280, "kg"), (750, 750, "个"),
    ]  # fmt: skip
    assert (order.status, order.total_minor, order.paid_minor, order.due_minor) == (
        OrderStatus.PAID, 2082, 2082, 0,
    )  # fmt: skip
    assert order.receipt_no == "1-T1-1" and order.paid_at is not None
    (tender,) = order.tenders
    assert (tender.kind, tender.amount_minor, tender.received_minor, tender.change_minor) == (
        TenderKind.CASH, 2082, 5000, 2918,
    )  # fmt: skip
    assert order.change_minor == 2918 and order.cashier_id == w.cashier_id
    assert (w.level("water"), w.level("apple"), w.level("bread")) == (-3000, -455, -1000)
    with tp.ctx.db.read() as s:
        kinds = set(s.scalars(select(StockMovement.kind).where(StockMovement.order_id == order.id)))
    assert kinds == {MovementKind.SALE}
    # The next order of the till takes the next number; another till numbers its own.
    again = tp.orders.create(w.order(shift, water(), tenders=(cash(250),)), merchant_id=None)
    assert again.order.receipt_no == "1-T1-2"
    report = tp.shifts.get(shift, merchant_id=w.merchant_id).report
    assert report is not None
    assert (report.sales, report.sales_minor, report.cash_in_minor) == (2, 2332, 2332)
    assert report.expected_cash_minor == 10_000 + 2332 and report.change_given_minor == 2918
    assert [(t.kind, t.count, t.amount_minor) for t in report.takings] == [
        (TenderKind.CASH, 2, 2332)
    ]


def test_discounts_and_their_spread_are_exact(w: World) -> None:
    shift = w.open_shift()
    new = w.order(
        shift,
        water(1),  # 2.50
        LineIn(product_id=w.products["bread"], discount_percent=Decimal("10")),  # 7.50 - 0.75
        LineIn(product_id=w.products["water"], quantity_milli=2000, discount_minor=10),  # 4.90
        discount=Discount(amount_minor=1),  # one fen over three lines: the largest remainder
    )
    order = w.tp.orders.create(new, merchant_id=w.merchant_id).order
    assert [(x.amount_minor, x.discount_minor, x.order_discount_minor) for x in order.lines] == [
        (250, 0, 0), (675, 75, 1), (490, 10, 0),
    ]  # fmt: skip
    assert (order.subtotal_minor, order.discount_minor, order.total_minor) == (1415, 1, 1414)
    assert order.status is OrderStatus.OPEN and order.due_minor == 1414
    pct = w.tp.orders.create(
        w.order(shift, water(2), discount=Discount(percent=Decimal("5"))), merchant_id=None
    ).order
    assert (pct.discount_minor, pct.total_minor) == (25, 475)
    assert sum(x.order_discount_minor for x in pct.lines) == 25


def test_what_the_till_sends_is_checked_before_anything_is_written(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    before = counts(tp)
    bad: list[tuple[NewOrder, type[Exception], str]] = [
        (w.order(shift), InvalidInput, "order.lines"),
        (w.order(shift, LineIn()), InvalidInput, "order.line_product"),
        (w.order(shift, LineIn(product_id=1, barcode="1")), InvalidInput, "order.line_product"),
        (w.order(shift, water(0)), InvalidInput, "order.quantity"),
        (w.order(shift, LineIn(product_id=w.products["water"], quantity_milli=1500)),
         InvalidInput, "order.whole_pieces"),
        (w.order(shift, LineIn(barcode="0000000000000")), NotFound, "product.not_found"),
        (w.order(shift, LineIn(product_id=w.products["old"])), Refused, "product.not_for_sale"),
        (w.order(shift, water(1, discount_minor=251)), InvalidInput, "order.line_discount"),
        (w.order(shift, water(1, discount_percent=Decimal("10.001"))), InvalidInput,
         "order.percent"),
        (w.order(shift, water(), discount=Discount(amount_minor=251)), InvalidInput,
         "order.discount_too_large"),
        (w.order(shift, water(), expected_total_minor=249), Refused, "order.total_differs"),
        (w.order(shift, water(1, expected_amount_minor=200)), Refused, "order.figures_differ"),
        (w.order(shift, water(), tenders=(cash(amount_minor=300),)), InvalidInput,
         "tender.over_due"),
        (w.order(shift, water(), hold=True, tenders=(cash(250),)), InvalidInput,
         "order.hold_tenders"),
        (w.order(shift, water(), counter_number=1), NotFound, "counter.not_found"),
        (w.order(shift, water(), cashier_id=w.cashier_2_id), Refused, "seller.not_here"),
        (w.order(999_999, water()), NotFound, "shift.not_found"),
        (NewOrder(client_ref=" x", shift_id=shift, lines=(water(),)), InvalidInput,
         "order.client_ref"),
        (w.order(shift, LineIn(product_id=w.products["water"], unit_price_minor=100)), Refused,
         "order.approval_required"),
        (w.order(shift, water(10, discount_percent=Decimal("10.03"))), Refused,
         "order.approval_required"),
    ]  # fmt: skip
    for new, error, code in bad:
        with pytest.raises(error) as raised:
            tp.orders.create(new, merchant_id=w.merchant_id)
        assert raised.value.code == code, new  # type: ignore[attr-defined]
    other = tp.merchants.get("898310054110002").id
    with pytest.raises(NotFound, match="No shift"):  # another merchant's shift: none
        tp.orders.create(w.order(shift, water()), merchant_id=other)
    assert counts(tp) == before


def test_the_same_order_sent_twice_is_made_once(w: World) -> None:
    shift = w.open_shift()
    new = w.order(shift, water(2), tenders=(cash(1000),))
    first = w.tp.orders.create(new, merchant_id=w.merchant_id)
    again = w.tp.orders.create(new, merchant_id=w.merchant_id)
    assert again.replayed and again.order == first.order
    with pytest.raises(Refused) as refused:
        w.tp.orders.create(NewOrder(new.client_ref, shift, (water(3),)), merchant_id=None)
    assert refused.value.code == "order.client_ref_used"
    assert counts(w.tp)[:2] == (1, 1)


# --- a manager's approval -------------------------------------------------------------------


def test_a_price_change_needs_a_manager_and_is_recorded(w: World, clock: FixedClock) -> None:
    tp = w.tp
    shift = w.open_shift()
    cheap = LineIn(product_id=w.products["water"], unit_price_minor=200)
    wrong = Approval(w.manager_login, password="not-the-password")
    with pytest.raises(Refused, match="Wrong login, password or code"):
        tp.orders.create(w.order(shift, cheap, approval=wrong), merchant_id=w.merchant_id)
    with tp.ctx.db.read() as s:
        assert s.get_one(Account, w.manager_id).failed_sign_ins == 1  # counted, kept
    cashier = Approval("cashier1@shop.example.com", password="cashier-secret-1")
    with pytest.raises(Refused, match="Only an owner or a manager"):
        tp.orders.create(w.order(shift, cheap, approval=cashier), merchant_id=w.merchant_id)
    order = tp.orders.create(w.order(shift, cheap, approval=w.approval), merchant_id=None).order
    assert order.approved_by == w.manager_id and order.lines[0].unit_price_minor == 200
    assert order.lines[0].list_price_minor == 250
    with tp.ctx.db.read() as s:
        assert s.get_one(Account, w.manager_id).failed_sign_ins == 0
        actions = list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))
    assert actions[-1] == "store approval: order"
    # Better than a password: a code of the manager's second factor, never taken twice.
    setup = tp.accounts.totp_begin(w.manager_id)
    tp.accounts.totp_confirm(w.manager_id, totp.code_at(setup.secret, clock.now()))
    clock.advance(timedelta(seconds=30))
    code = Approval(w.manager_login, code=totp.code_at(setup.secret, clock.now()))
    assert tp.orders.create(
        w.order(shift, cheap, approval=code), merchant_id=None
    ).order.approved_by
    with pytest.raises(Refused, match="Wrong login"):
        tp.orders.create(w.order(shift, cheap, approval=code), merchant_id=None)


# --- counters --------------------------------------------------------------------------------


def test_a_mall_names_the_counter_of_every_order(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    made = tp.counters.create(w.merchant_id, 1, 12, "  老王 茶叶 ")
    assert (made.number, made.name, made.active, made.shop_number) == (12, "老王 茶叶", True, 1)
    with pytest.raises(Refused, match="has a counter 12 already"):
        tp.counters.create(w.merchant_id, 1, 12, "again")
    other = tp.counters.create(w.merchant_id, 1, 13, "Shoes")
    with pytest.raises(InvalidInput, match="name the counter"):
        tp.orders.create(w.order(shift, water()), merchant_id=None)
    order = tp.orders.create(w.order(shift, water(), counter_number=12, tenders=(cash(250),)),
                             merchant_id=None).order  # fmt: skip
    assert order.counter_number == 12
    tp.counters.update(other.id, merchant_id=w.merchant_id, active=False)
    with pytest.raises(NotFound, match="No counter 13"):
        tp.orders.create(w.order(shift, water(), counter_number=13), merchant_id=None)
    report = tp.shifts.get(shift, merchant_id=None).report
    assert report is not None and [(c.counter_number, c.sales_minor) for c in report.counters] == [
        (12, 250)
    ]
    assert [c.number for c in tp.counters.search(merchant_id=w.merchant_id, active=True)] == [12]
    tp.counters.update(made.id, merchant_id=w.merchant_id, active=False)
    assert tp.orders.create(w.order(shift, water()), merchant_id=None).order.counter_number is None


# --- hold, recall, cancel, split cash --------------------------------------------------------


def test_hold_recall_and_cancel(w: World) -> None:
    tp = w.tp
    first = w.open_shift("T1")
    held = tp.orders.create(w.order(first, water(2), hold=True), merchant_id=None).order
    assert held.status is OrderStatus.HELD and held.due_minor == 500
    listed = tp.orders.search(merchant_id=w.merchant_id, shop_number=1, status=OrderStatus.HELD)
    assert [o.id for o in listed] == [held.id]
    with pytest.raises(Refused, match="is held"):
        tp.orders.add_cash(held.id, merchant_id=None, received_minor=500)
    second = w.open_shift("T2")
    recalled = tp.orders.recall(held.id, second, merchant_id=w.merchant_id)
    assert (recalled.status, recalled.till, recalled.shift_id) == (OrderStatus.OPEN, "T2", second)
    part = tp.orders.add_cash(held.id, merchant_id=None, amount_minor=200, received_minor=200)
    assert (part.status, part.paid_minor, part.due_minor) == (OrderStatus.OPEN, 200, 300)
    with pytest.raises(Refused, match="being paid"):
        tp.orders.hold(held.id, merchant_id=None)
    with pytest.raises(InvalidInput, match="at most what is left"):
        tp.orders.add_cash(held.id, merchant_id=None, amount_minor=301, received_minor=400)
    canceled = tp.orders.cancel(held.id, merchant_id=None)
    assert canceled.status is OrderStatus.CANCELED
    assert [t.status for t in canceled.tenders] == [TenderStatus.CANCELED]  # cash handed back
    report = tp.shifts.get(second, merchant_id=None).report
    assert report is not None and report.cash_in_minor == 0 and report.sales == 0
    assert w.level("water") == 0
    with pytest.raises(Refused, match="is canceled"):
        tp.orders.recall(held.id, second, merchant_id=None)


def test_closing_counts_the_cash_and_gives_the_z_report(w: World) -> None:
    tp = w.tp
    shift = w.open_shift(float_minor=5_000)
    tp.orders.create(w.order(shift, water(4), tenders=(cash(2_000),)), merchant_id=None)
    busy = tp.orders.create(w.order(shift, water(2), tenders=(cash(amount_minor=100),)),
                            merchant_id=None).order  # fmt: skip
    idle = tp.orders.create(w.order(shift, water()), merchant_id=None).order
    with pytest.raises(Refused, match=f"Order {busy.id} is being paid"):
        tp.shifts.close(shift, 6_000, merchant_id=None)
    tp.orders.add_cash(busy.id, merchant_id=None, received_minor=1_000)
    closed = tp.shifts.close(shift, 6_490, merchant_id=w.merchant_id, closed_by=w.manager_id)
    report = closed.report
    assert report is not None and report.kind == "Z" and closed.closed_by == w.manager_id
    assert (report.cash_in_minor, report.expected_cash_minor) == (1_500, 6_500)
    assert (report.counted_cash_minor, report.over_short_minor) == (6_490, -10)  # short
    assert tp.orders.get(idle.id, merchant_id=None).status is OrderStatus.HELD
    with pytest.raises(Refused, match="is closed"):
        tp.orders.create(w.order(shift, water()), merchant_id=None)
    with pytest.raises(Refused, match="closed already"):
        tp.shifts.close(shift, 0, merchant_id=None)
    # The held order is recalled at the next shift of the till.
    later = w.open_shift()
    assert tp.shifts.get(later, merchant_id=None).number == 2
    assert tp.orders.recall(idle.id, later, merchant_id=None).status is OrderStatus.OPEN


# --- returns (cash) ---------------------------------------------------------------------------


def test_returns_never_take_back_more_than_was_sold(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    sale = tp.orders.create(
        w.order(shift, water(3), LineIn(product_id=w.products["apple"], quantity_milli=1000),
                discount=Discount(amount_minor=100), tenders=(cash(5_000),)),
        merchant_id=None,
    ).order  # fmt: skip
    water_line, apple_line = sale.lines
    assert (water_line.net_minor, apple_line.net_minor) == (750 - 37, 1280 - 63)

    def back(*lines: tuple[int, int], approval: Approval | None = w.approval) -> NewReturn:
        return NewReturn(
            client_ref=f"r-{counts(tp)[0]}",
            shift_id=shift,
            lines=tuple(ReturnLineIn(i, q) for i, q in lines),
            approval=approval,
        )

    with pytest.raises(Refused, match="approval is needed"):
        tp.orders.create_return(sale.id, back((water_line.id, 1000), approval=None),
                                merchant_id=None)  # fmt: skip
    with pytest.raises(InvalidInput, match="sold in whole pieces"):  # half a bottle: no
        tp.orders.create_return(sale.id, back((water_line.id, 500)), merchant_id=None)
    first = tp.orders.create_return(sale.id, back((water_line.id, 1000)), merchant_id=None).order
    assert (first.kind, first.status, first.total_minor) == ("return", OrderStatus.PAID, 238)
    assert first.receipt_no == "1-T1-2" and first.original_order_id == sale.id
    (refund,) = first.tenders
    assert (refund.kind, refund.status, refund.amount_minor) == (
        TenderKind.CASH, TenderStatus.REFUNDED, 238,
    )  # fmt: skip
    assert w.level("water") == -2000  # one came back
    second = tp.orders.create_return(sale.id, back((water_line.id, 2000), (apple_line.id, 1000)),
                                     merchant_id=None).order  # fmt: skip
    assert second.total_minor == 713 - 238 + 1217  # the rest: exactly what was paid
    with pytest.raises(Refused, match="only 0 of"):
        tp.orders.create_return(sale.id, back((water_line.id, 1000)), merchant_id=None)
    assert tp.orders.get(sale.id, merchant_id=None).lines[0].returned_milli == 3000
    report = tp.shifts.get(shift, merchant_id=None).report
    assert report is not None
    assert (report.returns, report.returns_minor, report.cash_out_minor) == (2, 1930, 1930)
    assert report.expected_cash_minor == 10_000 + 1930 - 1930
    assert (w.level("water"), w.level("apple")) == (0, 0)
    other = w.open_shift("T1", shop=2)
    with pytest.raises(Refused, match="sold in another shop"):
        tp.orders.create_return(sale.id, NewReturn("r-x", other, (ReturnLineIn(1, 1),),
                                w.approval), merchant_id=None)  # fmt: skip
    open_sale = tp.orders.create(w.order(shift, water()), merchant_id=None).order
    with pytest.raises(Refused, match="not a paid sale"):
        tp.orders.create_return(open_sale.id, back((open_sale.lines[0].id, 1000)),
                                merchant_id=None)  # fmt: skip
    with tp.ctx.db.read() as s:  # the reports' sums followed the sale and its returns
        assert stored(s, [w.shop_id]) == as_stored(naive(s, [w.shop_id]))
        assert stored(s, [w.shop_id])  # and hold them


def test_a_wrong_tender_changes_nothing(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    order = tp.orders.create(w.order(shift, water()), merchant_id=None).order
    before = counts(tp)
    for kw in ({}, {"received_minor": 0}, {"amount_minor": 251, "received_minor": 300},
               {"amount_minor": 200, "received_minor": 100}):  # fmt: skip
        with pytest.raises(InvalidInput):
            tp.orders.add_cash(order.id, merchant_id=None, **kw)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="No order"):
        tp.orders.add_cash(order.id, merchant_id=tp.merchants.get("898310054110002").id,
                           received_minor=250)  # fmt: skip
    with pytest.raises(InvalidInput):
        tp.orders.create(w.order(shift, water(), tenders=(TenderIn(TenderKind.WALLET),)),
                         merchant_id=None)  # fmt: skip
    assert counts(tp) == before
    assert PASSWORD  # the manager's, used by w.approval
