"""The shop's reports on a small hand-made set (tests/shopdata.py ``hand_made``: its
notes give every order), each figure to the fen; the rollups equal a recomputation from
the order lines for random orders and returns (property test); bad filters change
nothing and say why."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound
from tillpoint.store.catalogue import ProductIn
from tillpoint.store.models import Order, OrderLine, OrderTender, SoldBy, TenderKind
from tillpoint.store.reports import Figures, ReportFilter, ReportKind, ReportService
from tillpoint.store.rollups import (
    TABLES,
    RolledOrder,
    Span,
    as_stored,
    naive,
    rebuild,
    record_paid,
    stored,
)
from tillpoint.store.stock import Line as StockLine

from ..conftest import approved, business_application
from ..shopdata import Line, Tender, World, hand_made, order, shanghai, world

K = ReportKind
DEC1, DEC2 = date(2026, 12, 1), date(2026, 12, 2)
SALES = ("gross_minor", "discount_minor", "refund_minor", "net_minor", "cost_minor",
         "margin_minor", "margin_percent", "uncosted_net_minor")  # fmt: skip


@pytest.fixture
def shop(tp: Tillpoint) -> World:
    return hand_made(tp, approved(tp, business_application()))


def report(tp: Tillpoint, w: World, kind: ReportKind, first: date = DEC1, last: date = DEC2,
           **kw: Any) -> Any:  # fmt: skip
    return ReportService(tp.ctx).report(w.merchant_id, kind, ReportFilter(first, last, **kw))


def sales(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in SALES)


def pct(text: str) -> Decimal:
    return Decimal(text)


# gross, discounts, refunds, net, cost, margin, margin %, net without cost
ALL = (4346, 146, 270, 3930, 1464, 966, pct("39.8"), 1500)


def test_sales_by_day_and_hour(tp: Tillpoint, shop: World) -> None:
    days = report(tp, shop, K.DAYS)
    assert [r["day"] for r in days.rows] == [DEC1, DEC2]
    one, two = days.rows
    assert (one["orders"], one["returns"]) == (2, 0)
    assert sales(one) == (2946, 146, 0, 2800, 814, 486, pct("37.4"), 1500)
    assert (two["orders"], two["returns"]) == (1, 1)
    assert sales(two) == (1400, 0, 270, 1130, 650, 480, pct("42.5"), 0)
    assert sales(days.total) == ALL and (days.total["orders"], days.total["returns"]) == (3, 1)

    hours = report(tp, shop, K.HOURS)
    assert [r["hour"] for r in hours.rows] == list(range(24))
    busy = {r["hour"]: r for r in hours.rows if r["orders"] or r["returns"]}
    assert sorted(busy) == [9, 10, 13, 23]  # O3 at 23:30 stays on 12-02's 23:00
    assert busy[10]["refund_minor"] == 270 and busy[10]["net_minor"] == -270
    assert busy[10]["margin_minor"] == -120  # -2.70 of net less -1.50 of cost
    assert busy[13]["net_minor"] == 1800 and busy[13]["uncosted_net_minor"] == 1500
    assert sales(hours.total) == ALL
    # An hour without sales has no cost: unknown, not zero.
    assert hours.rows[0]["cost_minor"] is None and hours.rows[0]["margin_minor"] is None


def test_sales_by_product_and_category(tp: Tillpoint, shop: World) -> None:
    products = report(tp, shop, K.PRODUCTS)
    by = {r["sku"]: r for r in products.rows}
    assert [r["sku"] for r in products.rows] == ["SKU-1", "SKU-3", "SKU-2"]  # by net
    cola, apples, bread = by["SKU-1"], by["SKU-2"], by["SKU-3"]
    assert cola["product"] == "Cola 可乐" and cola["category"] == "Drinks 饮料"
    assert cola["quantity_milli"] == 7000  # 2 + 1 + 5 sold, 1 back
    assert sales(cola) == (2300, 60, 270, 1970, 1100, 870, pct("44.2"), 0)
    assert apples["quantity_milli"] == 455
    assert sales(apples) == (546, 86, 0, 460, 364, 96, pct("20.9"), 0)
    # Bread has no cost: its cost and margin are unknown, its net shown apart.
    assert sales(bread) == (1500, 0, 0, 1500, None, None, None, 1500)
    assert sales(products.total) == ALL

    categories = report(tp, shop, K.CATEGORIES)
    by = {r["category"]: r for r in categories.rows}
    assert sales(by["Drinks 饮料"]) == sales(cola)
    assert sales(by["Food 食品"]) == (2046, 86, 0, 1960, 364, 96, pct("20.9"), 1500)
    assert sales(categories.total) == ALL


def test_sales_by_shop_counter_and_cashier(tp: Tillpoint, shop: World) -> None:
    shops = report(tp, shop, K.SHOPS)
    one, two = shops.rows
    assert (one["shop"], two["shop"]) == (1, 2)
    assert sales(one) == (2946, 146, 270, 2530, 664, 366, pct("35.5"), 1500)
    assert sales(two) == (1400, 0, 0, 1400, 800, 600, pct("42.9"), 0)

    counters = report(tp, shop, K.COUNTER_SALES)
    rows = {(r["shop"], r["counter"]): r for r in counters.rows}
    assert list(rows) == [(1, 1), (1, 2), (2, None)]
    assert rows[(2, None)]["counter_name"] == "No counter"
    assert (rows[(1, 1)]["orders"], rows[(1, 1)]["returns"]) == (1, 1)
    assert sales(rows[(1, 1)]) == (1146, 146, 270, 730, 514, 216, pct("29.6"), 0)
    assert sales(rows[(1, 2)]) == (1800, 0, 0, 1800, 150, 150, pct("50.0"), 1500)

    cashiers = report(tp, shop, K.CASHIERS)
    by = {r["cashier"]: r for r in cashiers.rows}
    assert [r["cashier"] for r in cashiers.rows] == ["Alice", "Bob"]
    assert sales(by["Alice"]) == (2546, 146, 0, 2400, 1464, 936, pct("39.0"), 0)
    assert (by["Bob"]["orders"], by["Bob"]["returns"]) == (1, 1)
    assert sales(by["Bob"]) == (1800, 0, 270, 1530, 0, 30, pct("100.0"), 1500)


def test_a_counter_and_a_shop_narrow_every_sales_report(tp: Tillpoint, shop: World) -> None:
    tea = shop.counters["Tea"]
    for kind in (K.DAYS, K.HOURS, K.PRODUCTS, K.CATEGORIES, K.SHOPS, K.CASHIERS):
        r = report(tp, shop, kind, counter_id=tea)
        assert sales(r.total) == (1146, 146, 270, 730, 514, 216, pct("29.6"), 0), kind
    assert report(tp, shop, K.DAYS, shop_ids=(shop.shops[2],)).total["net_minor"] == 1400
    one_day = report(tp, shop, K.PRODUCTS, DEC2, DEC2)
    assert {r["sku"]: r["net_minor"] for r in one_day.rows} == {"SKU-1": 1400 - 270}


def test_tenders(tp: Tillpoint, shop: World) -> None:
    r = report(tp, shop, K.TENDERS)
    by = {row["tender"]: row for row in r.rows}
    assert list(by) == ["cash", "card", "wallet", "qr"]
    keys = ("payments", "taken_minor", "paid_back_count", "paid_back_minor", "net_minor",
            "fee_minor")  # fmt: skip
    assert tuple(by["cash"][k] for k in keys) == (1, 1000, 1, 270, 730, 0)
    assert tuple(by["card"][k] for k in keys) == (1, 1800, 0, 0, 1800, 11)
    assert tuple(by["wallet"][k] for k in keys) == (1, 1400, 0, 0, 1400, 8)
    assert tuple(by["qr"][k] for k in keys) == (0, 0, 0, 0, 0, 0)
    assert tuple(r.total[k] for k in keys) == (3, 4200, 1, 270, 3930, 19)


def test_returns_and_discounts(tp: Tillpoint, shop: World) -> None:
    r = report(tp, shop, K.REFUNDS)
    keys = ("orders", "gross_minor", "discount_minor", "discount_percent", "returns",
            "returned_lines", "refund_minor", "net_minor")  # fmt: skip
    assert [tuple(row[k] for k in keys) for row in r.rows] == [
        (2, 2946, 146, pct("5.0"), 0, 0, 0, 2800),
        (1, 1400, 0, pct("0.0"), 1, 1, 270, 1130),
    ]
    assert tuple(r.total[k] for k in keys) == (3, 4346, 146, pct("3.4"), 1, 1, 270, 3930)


def test_the_malls_counters_statement(tp: Tillpoint, shop: World) -> None:
    r = report(tp, shop, K.COUNTERS)
    keys = ("shop", "counter", "orders", "returns", "net_sales_minor", "cash_minor",
            "card_minor", "wallet_minor", "qr_minor", "takings_minor", "paid_back_minor",
            "fee_minor", "net_minor")  # fmt: skip
    assert [tuple(row[k] for k in keys) for row in r.rows] == [
        (1, 1, 1, 1, 730, 730, 0, 0, 0, 730, 270, 0, 0),  # cash stays in the till
        (1, 2, 1, 0, 1800, 0, 1800, 0, 0, 1800, 0, 11, 1789),
        (2, None, 1, 0, 1400, 0, 0, 1400, 0, 1400, 0, 8, 1392),
    ]
    assert [r.rows[0]["counter_name"], r.rows[1]["counter_name"]] == ["Tea stall 茶铺",
                                                                      "Noodles 面馆"]  # fmt: skip
    assert tuple(r.total[k] for k in keys[2:]) == (3, 1, 3930, 730, 1800, 1400, 0, 3930, 270,
                                                   19, 3181)  # fmt: skip
    only = report(tp, shop, K.COUNTERS, counter_id=shop.counters["Noodles"])
    assert [row["counter"] for row in only.rows] == [2] and only.total["net_minor"] == 1789


def test_stock_value_and_slow_movers(tp: Tillpoint, shop: World) -> None:
    r = report(tp, shop, K.STOCK)
    keys = ("shop", "products", "value_minor", "without_cost", "below_zero")
    # shop 1: 10 cola x 1.50 + 2.5 kg x 8.00; bread has no cost. Shop 2: 1 kg x 8.00.
    assert [tuple(row[k] for k in keys) for row in r.rows] == [(1, 3, 3500, 1, 0),
                                                               (2, 1, 800, 0, 1)]  # fmt: skip
    assert r.total["value_minor"] == 4300

    idle = report(tp, shop, K.SLOW_MOVERS, DEC2, DEC2)  # shop 1 sold nothing on 12-02
    assert [(row["shop"], row["sku"], row["value_minor"], row["sold_milli"])
            for row in idle.rows] == [(1, "SKU-2", 2000, 0), (1, "SKU-1", 1500, 0),
                                      (2, "SKU-2", 800, 0), (1, "SKU-3", None, 0)]  # fmt: skip
    few = report(tp, shop, K.SLOW_MOVERS, slow_max_milli=1000)  # at most one unit sold
    assert [(row["shop"], row["sku"], row["sold_milli"]) for row in few.rows] == [
        (1, "SKU-2", 455), (2, "SKU-2", 0)]  # fmt: skip
    # Two grams at 5.00/kg, half a fen each: rounded once per shop, as on the stock page.
    for sku in ("G1", "G2"):
        made = tp.catalogue.create(shop.merchant_id, ProductIn(
            sku=sku, name=sku, price_minor=900, cost_minor=500, sold_by=SoldBy.WEIGHT))  # fmt: skip
        tp.stock.book_receipt(shop.merchant_id, 1, "s", [StockLine(made.id, "0.001")], "test")
    after = report(tp, shop, K.STOCK)
    page = {v.shop_number: v.value_minor for v in tp.stock.values(shop.merchant_id)}
    assert {row["shop"]: row["value_minor"] for row in after.rows} == page == {1: 3501, 2: 800}
    assert after.total["value_minor"] == 4301


def test_bad_filters_are_refused(tp: Tillpoint, shop: World) -> None:
    with pytest.raises(InvalidInput, match="before the first"):
        ReportFilter(DEC2, DEC1)
    with pytest.raises(InvalidInput, match="at most 1096 days"):
        ReportFilter(DEC1, DEC1 + timedelta(days=1096))
    other = approved(tp, business_application(2))
    theirs = world(tp, other, cashiers=("Carol",))
    service = ReportService(tp.ctx)
    with pytest.raises(NotFound):  # another merchant's shop
        service.report(shop.merchant_id, K.DAYS, ReportFilter(DEC1, DEC2, (theirs.shops[1],)))
    with pytest.raises(NotFound):  # another merchant's counter
        report(tp, shop, K.DAYS, counter_id=theirs.counters["Tea"])
    with pytest.raises(NotFound):  # a counter of a shop not chosen
        report(tp, shop, K.DAYS, counter_id=shop.counters["Tea"], shop_ids=(shop.shops[2],))
    with pytest.raises(NotFound):
        service.shop_ids(shop.merchant_id, [1, 7])
    assert service.shop_ids(shop.merchant_id, [2, 1, 2]) == (shop.shops[2], shop.shops[1])
    # Merchant 2's reports show nothing of merchant 1's.
    assert report(tp, theirs, K.DAYS).total["net_minor"] == 0


def test_recording_twice_adds_once_and_a_rebuild_gives_the_same(tp: Tillpoint,
                                                                shop: World) -> None:  # fmt: skip
    ids = list(shop.shops.values())
    with tp.ctx.db.read() as s:
        before = stored(s, ids)
        assert before == as_stored(naive(s, ids))
    with tp.ctx.db.transaction() as s:
        record_paid(s, shop.orders["O1"])
    with tp.ctx.db.transaction() as s:
        for shop_id in ids:
            rebuild(s, shop_id, DEC1, DEC2)
    with tp.ctx.db.read() as s:
        assert stored(s, ids) == before


# --- the property: rollups are the sum of the paid orders --------------------------------------

DAYS = [date(2026, 11, 28) + timedelta(days=n) for n in range(70)]  # across three months
line_st = st.tuples(
    st.sampled_from(["cola", "apples", "bread", None]),
    st.integers(1, 20_000),  # quantity, thousandths
    st.integers(0, 5_000),  # unit price
    st.integers(0, 100),  # line discount (kept under the amount below)
    st.integers(0, 100),  # share of the order discount
    st.one_of(st.none(), st.integers(0, 3_000)),  # unit cost
)
order_st = st.tuples(
    st.sampled_from(DAYS),
    st.integers(0, 23),  # hour
    st.sampled_from([1, 2]),  # shop
    st.sampled_from([None, "Tea", "Noodles"]),
    st.sampled_from([None, "Alice", "Bob"]),
    st.lists(line_st, min_size=0, max_size=4),
    st.lists(
        st.tuples(st.sampled_from(list(TenderKind)), st.integers(1, 9_999), st.integers(0, 60)),
        max_size=2,
    ),
    st.booleans(),  # a return of the previous sale
)


@pytest.fixture
def bare(tp: Tillpoint) -> World:
    return world(tp, approved(tp, business_application()))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(orders=st.lists(order_st, max_size=12),
       ranges=st.lists(st.tuples(st.sampled_from(DAYS), st.sampled_from(DAYS)), min_size=1,
                       max_size=3))  # fmt: skip
def test_rollups_are_the_sum_of_the_paid_orders(
    tp: Tillpoint, bare: World, orders: list[Any], ranges: list[tuple[date, date]]
) -> None:
    w = bare
    with tp.ctx.db.transaction() as s:  # each example starts from nothing
        for model in (*TABLES, RolledOrder):
            s.execute(delete(model))
        s.execute(delete(OrderTender))
        s.execute(delete(OrderLine))
        s.execute(delete(Order))
    last_sale = None
    for n, (day, hour, shop_n, counter, cashier, lines, tenders, is_return) in enumerate(orders):
        made = [Line(p, q, price, min(d, (q * price + 500) // 1000), share, cost)
                for p, q, price, d, share, cost in lines]  # fmt: skip
        made = [Line(x.product, x.quantity_milli, x.unit_price_minor, x.discount_minor,
                     min(x.order_discount_minor,
                         (x.quantity_milli * x.unit_price_minor + 500) // 1000 - x.discount_minor),
                     x.cost_minor) for x in made]  # fmt: skip
        paid = [Tender(kind, amount, 0 if kind is TenderKind.CASH else fee)
                for kind, amount, fee in tenders]  # fmt: skip
        back = last_sale if is_return and last_sale else None
        order(tp, w, f"o{n}", shop=shop_n, counter=counter if shop_n == 1 else None,
              cashier=cashier, paid_at=shanghai(f"{day} {hour:02d}:30"), lines=made,
              tenders=paid, returns=back)  # fmt: skip
        if back is None:
            last_sale = f"o{n}"
    ids = list(w.shops.values())
    with tp.ctx.db.read() as s:
        expected = naive(s, ids)
        assert stored(s, ids) == as_stored(expected)
    # Every report over any range adds up to the lines of the days it covers.
    service = ReportService(tp.ctx)
    for a, b in ranges:
        first, last = min(a, b), max(a, b)
        f = ReportFilter(first, last)
        want = Figures()
        for key, sums in expected.products.items():  # (shop, span, day, …, kind)
            if key[1] is Span.DAY and first <= key[2] <= last:
                want.add(key[6], sums[:-1])
        for kind in (K.PRODUCTS, K.CATEGORIES):
            got = service.report(w.merchant_id, kind, f).total
            assert sales(got) == tuple(getattr(want, k) for k in SALES), (kind, first, last)
        days = service.report(w.merchant_id, K.DAYS, f).total
        assert sales(days) == tuple(getattr(want, k) for k in SALES)
