"""The shop's reports over a year of a busy shop: how long each takes.

    python -m bench.store_reports [--lines 1000000] [--products 5000] [--runs 7]
                                  [--db PATH]

Seeds an SQLite database (demo mode: demo merchant 1 and its shop) with a year
(2026-01-01 to 2026-12-31, Shanghai) of the shop's paid orders holding ``--lines``
order lines (about 3.3 a sale; 2 % of orders are returns of an earlier sale's line),
each with one tender (cash, card, wallet or QR; the non-cash ones with their payment
and its fee), sold at six counters (each with its own products) by eight cashiers, from
``--products`` products in 40 categories (a tenth without a cost), and the shop's stock of every product: bulk
inserts through SQLAlchemy Core. Then the rollups are built from the lines
(``rollups.rebuild``, month by month). ``--db PATH`` seeds PATH once and reuses it.

Then it times every report (``ReportService.report``) over the whole year, and over
one month, ``--runs`` times each after one warm-up, and prints per report: p50 and max
of the wall time, p50 of the CPU time (this process), and the rows it has; then the
year's sales by product written as CSV and as XLSX (read and written). Last, what
``record_paid`` adds to a sale's unit of work (p50 and max over 200 new orders), and
for comparison one sales-by-product read straight from the order lines (what the
rollups save).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from tillpoint.access.models import Account, AccountRole, AccountRoleGrant, AccountStatus
from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.settings import Settings
from tillpoint.core.sheets import csv_pieces, headers, xlsx_pieces
from tillpoint.demo import demo_mid, ensure_demo
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.payments.models import Channel, Payment, PaymentKind, PaymentStatus
from tillpoint.store.models import (
    Counter,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    OrderTender,
    Product,
    ProductCategory,
    SoldBy,
    StockLevel,
    TenderKind,
    TenderStatus,
)
from tillpoint.store.reports import (
    ReportFilter,
    ReportKind,
    ReportService,
    file_rows,
    file_words,
    sheet_columns,
)
from tillpoint.store.rollups import next_month, rebuild, record_paid

YEAR_FIRST, YEAR_LAST = date(2026, 1, 1), date(2026, 12, 31)
MONTH_FIRST, MONTH_LAST = date(2026, 6, 1), date(2026, 6, 30)
CHUNK = 20_000
AT = datetime(2025, 12, 1, tzinfo=UTC)
HOUR_WEIGHTS = [0, 0, 0, 0, 0, 0, 0, 3, 6, 7, 8, 10, 12, 9, 7, 7, 8, 10, 12, 11, 8, 5, 2, 1]
TENDERS = [(TenderKind.CASH, 25), (TenderKind.CARD, 20), (TenderKind.WALLET, 45),
           (TenderKind.QR, 10)]  # fmt: skip
COUNTERS, CASHIERS, CATEGORIES = 6, 8, 40


def seed(tp: Tillpoint, lines_wanted: int, product_count: int) -> None:  # noqa: PLR0912, PLR0915
    rng = random.Random(20261206)
    ensure_demo(tp, 1)
    with tp.ctx.db.transaction() as s:
        merchant = s.scalars(select(Merchant).where(Merchant.mid == demo_mid(1))).one()
        shop = s.scalars(select(Shop).where(Shop.merchant_id == merchant.id)).first()
        assert shop is not None
        m_id, shop_id = merchant.id, shop.id
        counters = []
        for n in range(1, COUNTERS + 1):
            c = Counter(merchant_id=m_id, shop_id=shop_id, number=n, name=f"Counter {n} 柜台",
                        active=True, created_at=AT)  # fmt: skip
            s.add(c)
            s.flush()
            counters.append(c.id)
        cashiers = []
        for n in range(CASHIERS):
            a = Account(email=f"bench.cashier{n}@example.com", name=f"Cashier {n}",
                        password_hash="not a hash: never signs in",  # noqa: S106 merchant_id=m_id, shop_id=shop_id,
                        status=AccountStatus.ACTIVE, created_by="bench", created_at=AT)  # fmt: skip
            s.add(a)
            s.flush()
            s.add(AccountRoleGrant(account_id=a.id, role=AccountRole.CASHIER))
            cashiers.append(a.id)
        categories = []
        for n in range(CATEGORIES):
            cat = ProductCategory(merchant_id=m_id, name=f"Category {n} 类", created_at=AT)
            s.add(cat)
            s.flush()
            categories.append(cat.id)
        products = []  # (id, category, price, cost, counter)
        rows = []
        for n in range(1, product_count + 1):
            price = rng.randint(100, 20_000)
            cost = None if n % 10 == 0 else price * rng.randint(40, 80) // 100
            category, counter = categories[n % CATEGORIES], counters[n % COUNTERS]
            rows.append({"id": n, "merchant_id": m_id, "sku": f"B{n:06d}",
                         "name": f"Product {n} 商品", "category_id": category, "unit": "个",
                         "sold_by": SoldBy.PIECE, "price_minor": price, "cost_minor": cost,
                         "currency": "CNY", "active": True, "revision": n, "created_at": AT,
                         "updated_at": AT})  # fmt: skip
            products.append((n, category, price, cost, counter))
        s.execute(insert(Product), rows)
        s.execute(insert(StockLevel), [
            {"shop_id": shop_id, "product_id": p[0], "merchant_id": m_id,
             "quantity_milli": rng.randint(-2, 200) * 1000, "reorder_milli": None,
             "updated_at": AT} for p in products
        ])  # fmt: skip
    # Each counter (a tenant of the mall) sells its own products; popular ones more (a
    # Zipf-like weight), most now and then.
    by_counter = {c: [p for p in products if p[4] == c] for c in counters}
    weights = {c: [1 / (rank + 10) for rank in range(len(ps))] for c, ps in by_counter.items()}
    days = [YEAR_FIRST + timedelta(days=n) for n in range((YEAR_LAST - YEAR_FIRST).days + 1)]
    orders_wanted = lines_wanted * 10 // 33
    per_day = orders_wanted * 21 // 20 // len(days) + 1  # a little over: stops at the lines
    next_order = next_line = next_tender = next_payment = 1
    written = 0
    sales: list[tuple[int, int, int, int, int | None, int]] = []  # order, line, product…
    batch: dict[str, list[dict[str, Any]]] = {"o": [], "l": [], "t": [], "p": []}

    def flush() -> None:
        with tp.ctx.db.transaction() as s:
            for key, model in (("o", Order), ("p", Payment), ("l", OrderLine),
                               ("t", OrderTender)):  # fmt: skip
                if batch[key]:
                    s.execute(insert(model), batch[key])
                    batch[key].clear()

    for day in days:
        hours = rng.choices(range(24), HOUR_WEIGHTS, k=per_day)
        for hour in sorted(hours):
            if written >= lines_wanted:
                break
            at = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59),
                          rng.randint(0, 59), tzinfo=BUSINESS_TZ).astimezone(UTC)  # fmt: skip
            cashier = rng.choice(cashiers)
            is_return = sales and rng.random() < 0.02
            order_id = next_order
            next_order += 1
            if is_return:
                sale_order, sale_line, product, price, cost, counter = rng.choice(sales[-5000:])
                kind, lines = OrderKind.RETURN, [(product, 1000, price, cost, sale_line)]
            else:
                sale_order, kind = None, OrderKind.SALE
                counter = rng.choice(counters)
                chosen = rng.choices(by_counter[counter], weights[counter],
                                     k=rng.choice((1, 2, 3, 3, 4, 4, 6)))  # fmt: skip
                lines = [(p[0], rng.choice((1000, 1000, 2000, 3000)), p[2], p[3], None)
                         for p in chosen]  # fmt: skip
            total = 0
            for n, (product, quantity, price, cost, original) in enumerate(lines, 1):
                amount = quantity * price // 1000
                discount = amount // 10 if rng.random() < 0.1 else 0
                batch["l"].append({
                    "id": next_line, "order_id": order_id, "line_no": n, "product_id": product,
                    "category_id": products[product - 1][1], "barcode": None,
                    "name": f"Product {product} 商品", "unit": "个", "quantity_milli": quantity,
                    "list_price_minor": price, "unit_price_minor": price,
                    "discount_minor": discount, "order_discount_minor": 0,
                    "amount_minor": amount - discount, "cost_minor": cost,
                    "original_line_id": original, "returned_milli": 0,
                })  # fmt: skip
                if kind is OrderKind.SALE and len(sales) < 10**6:
                    sales.append((order_id, next_line, product, price, cost, counter))
                next_line += 1
                total += amount - discount
            written += len(lines)
            batch["o"].append({
                "id": order_id, "merchant_id": m_id, "shop_id": shop_id, "counter_id": counter,
                "shift_id": None, "account_id": cashier, "kind": kind,
                "status": OrderStatus.PAID, "original_order_id": sale_order,
                "client_ref": f"c{order_id}", "receipt_no": f"1-T1-{order_id}",
                "currency": "CNY", "subtotal_minor": total, "discount_minor": 0,
                "total_minor": total, "note": None, "approved_by": None, "created_at": at,
                "updated_at": at, "paid_at": at,
            })  # fmt: skip
            tender = rng.choices([t for t, _w in TENDERS], [w for _t, w in TENDERS])[0]
            payment = None
            if tender is not TenderKind.CASH and total > 0:
                payment = next_payment
                next_payment += 1
                batch["p"].append({
                    "id": payment, "kind": PaymentKind.REFUND if sale_order else PaymentKind.SALE,
                    "status": PaymentStatus.APPROVED, "response_code": "00",
                    "merchant_id": m_id, "shop_id": shop_id, "terminal_id": None,
                    "batch_id": None, "stan": None, "rrn": f"B{payment:011d}",
                    "auth_code": None, "amount_minor": total, "currency": "CNY",
                    "method": None, "card_org": None, "domestic": None, "pan_masked": None,
                    "pan_token": None, "entry_mode": "071",
                    "business_date": at.astimezone(BUSINESS_TZ).date(),
                    "original_id": None, "refunded_minor": 0,
                    "fee_minor": 0 if sale_order else (total * 38 + 5000) // 10000,
                    "channel": Channel.TERMINAL, "qr_flow": None, "reference": None,
                    "expires_at": None, "qr_code": None, "created_at": at, "updated_at": at,
                })  # fmt: skip
            if total > 0:
                batch["t"].append({
                    "id": next_tender, "order_id": order_id, "kind": tender,
                    "status": TenderStatus.REFUNDED if sale_order else TenderStatus.PAID,
                    "amount_minor": total, "received_minor": None, "change_minor": 0,
                    "payment_id": payment, "checkout_id": None, "original_tender_id": None,
                    "response_code": None, "created_at": at, "updated_at": at,
                })  # fmt: skip
                next_tender += 1
            if len(batch["l"]) >= CHUNK:
                flush()
    flush()
    print(f"seeded {next_order - 1:,} orders, {next_line - 1:,} lines, "
          f"{next_payment - 1:,} payments")  # fmt: skip
    started = time.perf_counter()
    month = YEAR_FIRST
    while month <= YEAR_LAST:
        with tp.ctx.db.transaction() as s:
            rebuild(s, shop_id, month, month)
        month = next_month(month)
    print(f"rollups built from the lines in {time.perf_counter() - started:.1f} s")


def timed(fn: Any, runs: int) -> tuple[list[float], list[float], Any]:
    fn()  # warm-up
    walls, cpus, result = [], [], None
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus, result


def ms(x: float) -> str:
    return f"{x * 1000:8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp(prefix="tp-bench-")) / "reports.sqlite"
    fresh = not path.exists()
    settings = Settings(_env_file=None, database_url=f"sqlite:///{path}", demo=True,  # type: ignore[call-arg]
                        network_dir=str(path.parent / "network"), locale="en")  # fmt: skip
    tp = open_app(settings)
    try:
        if fresh:
            started = time.perf_counter()
            seed(tp, args.lines, args.products)
            print(f"seeded in {time.perf_counter() - started:.1f} s: {path}")
        with tp.ctx.db.read() as s:
            lines = s.scalar(select(func.count()).select_from(OrderLine))
            merchant_id = s.scalar(select(Merchant.id).where(Merchant.mid == demo_mid(1)))
            shop_id = s.scalar(select(Shop.id).where(Shop.merchant_id == merchant_id))
        assert merchant_id is not None
        assert shop_id is not None
        print(f"{lines:,} order lines in the shop's year\n")
        service = ReportService(tp.ctx)
        print(f"{'report':<16}{'range':>7}{'p50 ms':>9}{'max ms':>9}{'cpu p50':>9}{'rows':>7}")
        for kind in ReportKind:
            for label, first, last in (("year", YEAR_FIRST, YEAR_LAST),
                                       ("month", MONTH_FIRST, MONTH_LAST)):  # fmt: skip
                f = ReportFilter(first, last, slow_max_milli=2000)
                walls, cpus, r = timed(lambda f=f, kind=kind: service.report(merchant_id, kind, f),
                                       args.runs)  # fmt: skip
                print(f"{kind.value:<16}{label:>7}{ms(statistics.median(walls))}{ms(max(walls))}"
                      f"{ms(statistics.median(cpus))}{len(r.rows):>7}")  # fmt: skip
        # A year that starts mid-month: the daily rollup's edges are read too.
        f = ReportFilter(date(2026, 1, 15), date(2026, 12, 14))
        walls, cpus, r = timed(lambda: service.report(merchant_id, ReportKind.PRODUCTS, f),
                               args.runs)  # fmt: skip
        print(f"{'products':<16}{'1-15..':>7}{ms(statistics.median(walls))}{ms(max(walls))}"
              f"{ms(statistics.median(cpus))}{len(r.rows):>7}")  # fmt: skip
        files(service, merchant_id, args.runs)
        record(tp, merchant_id, shop_id)
        direct(tp, shop_id)
    finally:
        tp.close()


def files(service: ReportService, merchant_id: int, runs: int) -> None:
    """The year's sales by product as the files the API and the portal send (the
    report read, then written)."""
    f = ReportFilter(YEAR_FIRST, YEAR_LAST)
    for fmt in ("csv", "xlsx"):

        def made(fmt: str = fmt) -> int:
            r = service.report(merchant_id, ReportKind.PRODUCTS, f)
            columns, words = sheet_columns(r), file_words()
            if fmt == "csv":
                pieces = csv_pieces(file_rows(r), words.__getitem__, headers(columns), columns)
            else:
                pieces = xlsx_pieces(file_rows(r), words.__getitem__, headers(columns), columns,
                                     sheet_name="Products")  # fmt: skip
            return sum(len(piece) for piece in pieces)

        walls, cpus, size = timed(made, runs)
        print(f"{'products, ' + fmt:<16}{'year':>7}{ms(statistics.median(walls))}"
              f"{ms(max(walls))}{ms(statistics.median(cpus))}{size // 1024:>6}K")  # fmt: skip


def record(tp: Tillpoint, merchant_id: int, shop_id: int) -> None:
    """What record_paid costs a sale's unit of work: a new order of three lines and a
    card tender, written and added, in one transaction; against the same without it."""
    with tp.ctx.db.read() as s:
        top = s.scalar(select(func.max(Order.id))) or 0
        counter = s.scalar(select(Counter.id).where(Counter.shop_id == shop_id))
    at = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
    results: dict[bool, list[float]] = {True: [], False: []}
    for n in range(400):
        rolled = n % 2 == 0
        order_id = top + 1 + n
        started = time.perf_counter()
        with tp.ctx.db.transaction() as s:
            s.execute(insert(Order).values(
                id=order_id, merchant_id=merchant_id, shop_id=shop_id, counter_id=counter,
                account_id=None, kind=OrderKind.SALE, status=OrderStatus.PAID,
                client_ref=f"r{order_id}", receipt_no=f"1-T9-{order_id}", currency="CNY",
                subtotal_minor=900, discount_minor=0, total_minor=900, created_at=at,
                updated_at=at, paid_at=at))  # fmt: skip
            s.execute(insert(OrderLine), [
                {"order_id": order_id, "line_no": i, "product_id": i, "category_id": None,
                 "name": "x", "unit": "个", "quantity_milli": 1000, "list_price_minor": 300,
                 "unit_price_minor": 300, "discount_minor": 0, "order_discount_minor": 0,
                 "amount_minor": 300, "cost_minor": 100, "returned_milli": 0}
                for i in (1, 2, 3)])  # fmt: skip
            s.execute(insert(OrderTender).values(
                order_id=order_id, kind=TenderKind.CASH, status=TenderStatus.PAID,
                amount_minor=900, change_minor=0, created_at=at, updated_at=at))  # fmt: skip
            if rolled:
                record_paid(s, order_id)
        results[rolled].append(time.perf_counter() - started)
    print(f"\na sale of 3 lines written in its unit of work (p50 / max ms): "
          f"{ms(statistics.median(results[False])).strip()} / {ms(max(results[False])).strip()};"
          f" with record_paid: {ms(statistics.median(results[True])).strip()} / "
          f"{ms(max(results[True])).strip()}")  # fmt: skip


def direct(tp: Tillpoint, shop_id: int) -> None:
    """Sales by product over the year read from the order lines, for comparison."""
    started = time.perf_counter()
    with tp.ctx.db.read() as s:
        rows = s.execute(
            select(OrderLine.product_id, Order.kind, func.sum(OrderLine.amount_minor))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.shop_id == shop_id, Order.status == OrderStatus.PAID)
            .group_by(OrderLine.product_id, Order.kind)
        ).all()
    print(f"sales by product from the order lines instead: "
          f"{(time.perf_counter() - started) * 1000:.0f} ms ({len(rows)} rows)")  # fmt: skip


if __name__ == "__main__":
    main()
