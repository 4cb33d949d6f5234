"""The shop's reports (docs/store.md, "Reports"): sales by hour of the day, day,
product, category, shop, counter, cashier and tender, with the gross margin from cost;
returns and discounts; stock value and slow movers; and a mall's statement per counter
(takings by tender, the acquirer's fees, net).

Every sales figure is read from the rollups (``store/rollups.py``), never from the
order lines, so a year of a busy shop is a few thousand sums:

- days are Shanghai's, midnight to midnight; a return counts on the day it was paid
  back, taken off that day's sales (its figures are kept positive and subtracted);
- gross is price times quantity; discounts are the lines' own and their share of the
  orders'; net = gross - discounts - refunds (what returns paid back);
- cost and margin come only from lines sold with a cost: margin = their net - their
  cost. The net of lines without a cost is shown apart ("without cost"), and where no
  line had a cost, cost and margin are unknown (``None``), never zero;
- a mall's statement: per counter, the takings of each kind of tender (sales' tenders
  less returns' paid back), the acquirer's fees on the card, wallet and QR payments, and
  net = the non-cash takings less the fees (cash stays in the till);
- stock value: each product's stock in a shop times its cost now (products without a
  cost are counted apart); slow movers: products a shop holds that sold at most a given
  quantity in the period.

A report's rows are plain values: money in minor units (``*_minor``), quantities in
thousandths (``*_milli``), percentages as ``Decimal`` with one place, ``None`` for
unknown. ``sheet_columns`` turns its columns into the CSV and XLSX writers' own.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from tillpoint.access.models import Account
from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.core.sheets import Column as SheetColumn
from tillpoint.merchants.models import Shop
from tillpoint.store.models import (
    MILLI,
    Counter,
    OrderKind,
    Product,
    ProductCategory,
    StockLevel,
    TenderKind,
)
from tillpoint.store.rollups import (
    SUMS,
    RollDay,
    RollHour,
    RollProduct,
    RollTender,
    Span,
    line_cost,
    month_of,
    next_month,
)
from tillpoint.store.stock import round_milli

MAX_DAYS = 1_096  # three years: a report's longest range
MAX_SHOPS = 200  # shops named in one filter
EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)  # the days a report may name


class ReportKind(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    PRODUCTS = "products"
    CATEGORIES = "categories"
    SHOPS = "shops"
    COUNTER_SALES = "counter_sales"
    CASHIERS = "cashiers"
    TENDERS = "tenders"
    REFUNDS = "refunds"
    STOCK = "stock"
    SLOW_MOVERS = "slow_movers"
    COUNTERS = "counters"


TITLES: dict[ReportKind, str] = {
    ReportKind.HOURS: N_("Sales by hour of the day"),
    ReportKind.DAYS: N_("Sales by day"),
    ReportKind.PRODUCTS: N_("Sales by product"),
    ReportKind.CATEGORIES: N_("Sales by category"),
    ReportKind.SHOPS: N_("Sales by shop"),
    ReportKind.COUNTER_SALES: N_("Sales by counter"),
    ReportKind.CASHIERS: N_("Sales by cashier"),
    ReportKind.TENDERS: N_("Sales by tender"),
    ReportKind.REFUNDS: N_("Returns and discounts"),
    ReportKind.STOCK: N_("Stock value"),
    ReportKind.SLOW_MOVERS: N_("Slow movers"),
    ReportKind.COUNTERS: N_("Counters' statement"),
}
TENDER_LABELS = {
    TenderKind.CASH.value: N_("Cash"),
    TenderKind.CARD.value: N_("Bank card"),
    TenderKind.WALLET.value: N_("Wallet code"),
    TenderKind.QR.value: N_("QR code"),
}
NON_CASH = (TenderKind.CARD, TenderKind.WALLET, TenderKind.QR)
NO_PRODUCT = N_("Items not in the catalogue")
NO_CATEGORY = N_("No category")
NO_CASHIER = N_("No cashier")
NO_COUNTER = N_("No counter")


TOTAL = "total"  # the total row's name in a file, in a column of labels
LABELS = {**TENDER_LABELS, TOTAL: N_("Total")}


def label(value: str) -> str:
    """An identifier of a report's ``label`` column in the reader's words."""
    return _(LABELS.get(value, value))


def file_words() -> dict[str, str]:
    """Every label's words in the current language, for a file written elsewhere."""
    return {value: label(value) for value in LABELS}


# --- filters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilter:
    """Which days (Shanghai's, both ends included), which shops (none named: all the
    merchant's), which counter; for slow movers, the most a product may have sold in
    the period to be one (thousandths of its unit)."""

    date_from: date
    date_to: date
    shop_ids: tuple[int, ...] = ()
    counter_id: int | None = None
    slow_max_milli: int = 0

    def __post_init__(self) -> None:
        if not (self.date_from >= EARLIEST and self.date_to <= LATEST):
            raise InvalidInput("report.date", N_("A report's days are from {first} to {last}"),
                               first=EARLIEST.isoformat(), last=LATEST.isoformat())  # fmt: skip
        if self.date_to < self.date_from:
            raise InvalidInput("report.range", N_("The last day is before the first"))
        if (self.date_to - self.date_from).days >= MAX_DAYS:
            raise InvalidInput(
                "report.range_too_long", N_("A report covers at most {days} days"), days=MAX_DAYS
            )
        if len(self.shop_ids) > MAX_SHOPS:
            raise InvalidInput("report.too_many_shops", N_("Name at most {n} shops"), n=MAX_SHOPS)
        if not 0 <= self.slow_max_milli <= 10**12:
            raise InvalidInput("report.slow_max", N_("A quantity sold is 0 or more"))


@dataclass(frozen=True)
class ShopRef:
    id: int
    number: int
    name: str


@dataclass(frozen=True)
class CounterRef:
    id: int
    shop_id: int
    shop_number: int
    number: int
    name: str


# --- figures ----------------------------------------------------------------------------------


_AT = {name: i for i, name in enumerate(SUMS)}


@dataclass
class Figures:
    """Sales and returns of one row of a report, as the rollups add them (``SUMS``)."""

    orders: int = 0
    returns: int = 0
    sale: list[int] = field(default_factory=lambda: [0] * len(SUMS))
    back: list[int] = field(default_factory=lambda: [0] * len(SUMS))

    def add(self, kind: OrderKind, sums: Sequence[int], orders: int = 0) -> None:
        if kind is OrderKind.SALE:
            self.sale = list(map(operator.add, self.sale, sums))
            self.orders += orders
        else:
            self.back = list(map(operator.add, self.back, sums))
            self.returns += orders

    def merge(self, other: Figures) -> None:
        self.add(OrderKind.SALE, other.sale, other.orders)
        self.add(OrderKind.RETURN, other.back, other.returns)

    def _get(self, name: str) -> tuple[int, int]:
        i = _AT[name]
        return self.sale[i], self.back[i]

    @property
    def quantity_milli(self) -> int:
        sold, back = self._get("quantity_milli")
        return sold - back

    @property
    def sold_milli(self) -> int:
        return self._get("quantity_milli")[0]

    @property
    def returned_milli(self) -> int:
        return self._get("quantity_milli")[1]

    @property
    def lines(self) -> int:
        return self._get("lines")[0]

    @property
    def returned_lines(self) -> int:
        return self._get("lines")[1]

    @property
    def gross_minor(self) -> int:
        return self._get("gross_minor")[0]

    @property
    def discount_minor(self) -> int:
        return self._get("discount_minor")[0]

    @property
    def refund_minor(self) -> int:
        return self._get("net_minor")[1]

    @property
    def net_minor(self) -> int:
        sold, back = self._get("net_minor")
        return sold - back

    @property
    def _costed_lines(self) -> int:
        lines, uncosted = self._get("lines"), self._get("uncosted_lines")
        return lines[0] - uncosted[0] + lines[1] - uncosted[1]

    @property
    def cost_minor(self) -> int | None:
        if not self._costed_lines:
            return None
        sold, back = self._get("cost_minor")
        return sold - back

    @property
    def costed_net_minor(self) -> int:
        sold, back = self._get("costed_net_minor")
        return sold - back

    @property
    def margin_minor(self) -> int | None:
        cost = self.cost_minor
        return None if cost is None else self.costed_net_minor - cost

    @property
    def margin_percent(self) -> Decimal | None:
        margin, base = self.margin_minor, self.costed_net_minor
        return None if margin is None or base == 0 else percent(margin, base)

    @property
    def uncosted_net_minor(self) -> int:
        return self.net_minor - self.costed_net_minor

    @property
    def discount_percent(self) -> Decimal | None:
        return percent(self.discount_minor, self.gross_minor) if self.gross_minor else None


def total(column: Any) -> Any:
    """``SUM(column)`` as a whole number on every backend (PostgreSQL's is a numeric)."""
    return cast(func.sum(column), BigInteger)


def percent(part: int, whole: int) -> Decimal:
    """``part`` of ``whole`` in percent, one place, rounded half up (exact: Decimals)."""
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


# --- columns and reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A report's column: its key (in the API's JSON), its header (an English message
    id) and what it holds: ``text``, ``label``, ``number``, ``date``, ``money`` (minor
    units), ``quantity`` (thousandths) or ``percent``."""

    key: str
    title: str
    kind: str
    width: int = 12


@dataclass(frozen=True)
class Report:
    kind: ReportKind
    filter: ReportFilter
    currency: str
    shops: tuple[ShopRef, ...]
    counter: CounterRef | None
    columns: tuple[Col, ...]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None

    @property
    def title(self) -> str:
        return TITLES[self.kind]


def file_rows(r: Report) -> list[dict[str, Any]]:
    """The rows of a file: the report's, then its total, named in the first column of
    words (a report keyed by day alone has none: its total is the row without a day)."""
    if r.total is None:
        return r.rows
    total = dict(r.total)
    first = next((c for c in r.columns if c.kind in ("text", "label")), None)
    if first is not None:
        total[first.key] = _("Total") if first.kind == "text" else TOTAL
    return [*r.rows, total]


def sheet_columns(report: Report) -> tuple[SheetColumn, ...]:
    """The report's columns as the CSV and XLSX writers take them (rows are its dicts):
    money in yuan, quantities in units, exactly."""

    def getter(c: Col) -> Callable[[dict[str, Any]], Any]:
        def value(row: dict[str, Any]) -> Any:
            v = row.get(c.key)
            if v is None:
                return None
            if c.kind == "money":
                return Money(v, report.currency).to_decimal()
            if c.kind == "quantity":
                return (Decimal(v) / MILLI).normalize() if v % MILLI else Decimal(v // MILLI)
            return v

        return value

    kinds = {
        "money": "money",
        "quantity": "decimal",
        "percent": "decimal",
        "number": "number",
        "date": "date",
        "label": "label",
        "text": "text",
    }
    return tuple(SheetColumn(c.title, kinds[c.kind], getter(c), c.width) for c in report.columns)


ORDERS = Col("orders", N_("Orders"), "number", 8)
RETURNS = Col("returns", N_("Returns"), "number", 8)
QUANTITY = Col("quantity_milli", N_("Quantity sold"), "quantity", 10)
SALES = (
    Col("gross_minor", N_("Gross sales"), "money"),
    Col("discount_minor", N_("Discounts"), "money"),
    Col("refund_minor", N_("Refunds"), "money"),
    Col("net_minor", N_("Net sales"), "money"),
    Col("cost_minor", N_("Cost"), "money"),
    Col("margin_minor", N_("Gross margin"), "money"),
    Col("margin_percent", N_("Margin %"), "percent", 9),
    Col("uncosted_net_minor", N_("Net sales without cost"), "money", 14),
)


def sales_values(f: Figures, *, orders: bool, quantity: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if orders:
        out.update(orders=f.orders, returns=f.returns)
    if quantity:
        out["quantity_milli"] = f.quantity_milli
    out.update(
        gross_minor=f.gross_minor,
        discount_minor=f.discount_minor,
        refund_minor=f.refund_minor,
        net_minor=f.net_minor,
        cost_minor=f.cost_minor,
        margin_minor=f.margin_minor,
        margin_percent=f.margin_percent,
        uncosted_net_minor=f.uncosted_net_minor,
    )
    return out


def sales_columns(keys: Iterable[Col], *, orders: bool, quantity: bool = False) -> tuple[Col, ...]:
    return (
        *keys,
        *((ORDERS, RETURNS) if orders else ()),
        *((QUANTITY,) if quantity else ()),
        *SALES,
    )


def spans(first: date, last: date, *, by_day: bool = False) -> list[tuple[Span, date, date]]:
    """The parts of the days ``first`` to ``last`` to read from a rollup: its whole
    months from the monthly rows, the days before and after them from the daily ones
    (only daily ones ``by_day``)."""
    first_full = first if first.day == 1 else next_month(first)
    end_full = month_of(last + timedelta(days=1))  # the month after the last whole one
    if by_day or first_full >= end_full:
        return [(Span.DAY, first, last)]
    parts = [(Span.MONTH, first_full, end_full - timedelta(days=1))]
    if first < first_full:
        parts.append((Span.DAY, first, first_full - timedelta(days=1)))
    if end_full <= last:
        parts.append((Span.DAY, end_full, last))
    return parts


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# --- the service ------------------------------------------------------------------------------


class ReportService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- scope --

    def shops(self, merchant_id: int) -> list[ShopRef]:
        with self.ctx.db.read() as s:
            return [
                ShopRef(*r)
                for r in s.execute(
                    select(Shop.id, Shop.number, Shop.name)
                    .where(Shop.merchant_id == merchant_id)
                    .order_by(Shop.number)
                )
            ]

    def counters(self, merchant_id: int) -> list[CounterRef]:
        with self.ctx.db.read() as s:
            return [
                CounterRef(*r)
                for r in s.execute(
                    select(Counter.id, Counter.shop_id, Shop.number, Counter.number, Counter.name)
                    .join(Shop, Shop.id == Counter.shop_id)
                    .where(Counter.merchant_id == merchant_id)
                    .order_by(Shop.number, Counter.number)
                )
            ]

    def shop_ids(self, merchant_id: int, numbers: Iterable[int]) -> tuple[int, ...]:
        """The merchant's shops of these numbers (another's, or none, is not found)."""
        known = {x.number: x.id for x in self.shops(merchant_id)}
        ids = []
        for n in numbers:
            if n not in known:
                raise NotFound("shop.not_found", N_("No shop {number}"), number=n)
            ids.append(known[n])
        return tuple(dict.fromkeys(ids))

    # -- the reports --

    def report(self, merchant_id: int, kind: ReportKind, f: ReportFilter) -> Report:
        """One report of the merchant's shops (those of the filter, which must be its
        own), read in one transaction."""
        all_shops = {x.id: x for x in self.shops(merchant_id)}
        for shop_id in f.shop_ids:
            if shop_id not in all_shops:
                raise NotFound("shop.not_found", N_("No shop {number}"), number=shop_id)
        shops = tuple(all_shops[i] for i in f.shop_ids) if f.shop_ids else tuple(all_shops.values())
        counter = None
        if f.counter_id is not None:
            counter = next((c for c in self.counters(merchant_id) if c.id == f.counter_id), None)
            if counter is None or counter.shop_id not in {x.id for x in shops}:
                raise NotFound("counter.not_found", N_("No counter {id}"), id=f.counter_id)
        ids = [x.id for x in shops]
        build = getattr(self, f"_r_{kind.value}")
        with self.ctx.db.read() as s:
            columns, rows, total = build(s, merchant_id, ids, f, shops)
        return Report(kind, f, self.ctx.settings.currency, shops, counter, columns, rows, total)

    # -- reading the rollups --

    def _where(self, model: Any, ids: Sequence[int], f: ReportFilter, span: Span,
               first: date, last: date) -> list[Any]:  # fmt: skip
        where = [model.shop_id.in_(ids), model.span == span, model.day >= first,
                 model.day <= last]  # fmt: skip
        if f.counter_id is not None:
            where.append(model.counter_id == f.counter_id)
        return where

    def _sums(
        self, s: Session, model: Any, dims: Sequence[str], ids: Sequence[int], f: ReportFilter,
        *, counted: bool = True,
    ) -> dict[tuple[Any, ...], Figures]:  # fmt: skip
        """A rollup added up by ``dims`` over the filter's days: by day when a dimension
        is the day, else its whole months and the days around them. ``counted``: the
        rollup counts orders."""
        keys = [getattr(model, d) for d in dims]
        orders = [total(model.orders)] if counted else []
        n = len(dims)
        out: dict[tuple[Any, ...], Figures] = defaultdict(Figures)
        for span, first, last in spans(f.date_from, f.date_to, by_day="day" in dims):
            stmt = (
                select(*keys, model.kind, *orders, *(total(getattr(model, x)) for x in SUMS))
                .where(*self._where(model, ids, f, span, first, last))
                .group_by(*keys, model.kind)
            )
            for row in s.execute(stmt):
                if counted:
                    out[tuple(row[:n])].add(row[n], row[n + 2 :], row[n + 1])
                else:
                    out[tuple(row[:n])].add(row[n], row[n + 1 :])
        return out

    def _hour_sums(self, s: Session, dims: Sequence[str], ids: Sequence[int],
                   f: ReportFilter) -> dict[tuple[Any, ...], Figures]:  # fmt: skip
        """The day rollup (or the hour one, by hour) added up by ``dims``."""
        return self._sums(s, RollHour if "hour" in dims else RollDay, dims, ids, f)

    def _products_sums(self, s: Session, dims: Sequence[str], ids: Sequence[int],
                       f: ReportFilter) -> dict[tuple[Any, ...], Figures]:  # fmt: skip
        return self._sums(s, RollProduct, dims, ids, f, counted=False)

    @staticmethod
    def _total(found: Iterable[Figures]) -> Figures:
        total = Figures()
        for x in found:
            total.merge(x)
        return total

    # -- sales by ... --

    def _r_hours(self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, _sh: Any) -> Any:
        found = self._hour_sums(s, ["hour"], ids, f)
        cols = sales_columns([Col("hour", N_("Hour"), "number", 6)], orders=True)
        rows = [
            {"hour": hour, **sales_values(found.get((hour,), Figures()), orders=True)}
            for hour in range(24)
        ]
        return cols, rows, sales_values(self._total(found.values()), orders=True)

    def _r_days(self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, _sh: Any) -> Any:
        found = self._hour_sums(s, ["day"], ids, f)
        cols = sales_columns([Col("day", N_("Day"), "date", 11)], orders=True)
        rows = [
            {"day": d, **sales_values(found.get((d,), Figures()), orders=True)}
            for d in _days(f.date_from, f.date_to)
        ]
        return cols, rows, sales_values(self._total(found.values()), orders=True)

    def _r_shops(
        self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, shops: Sequence[ShopRef]
    ) -> Any:
        found = self._hour_sums(s, ["shop_id"], ids, f)
        cols = sales_columns(
            [Col("shop", N_("Shop"), "number", 6), Col("shop_name", N_("Shop name"), "text", 24)],
            orders=True,
        )
        rows = [
            {
                "shop": x.number,
                "shop_name": x.name,
                **sales_values(found.get((x.id,), Figures()), orders=True),
            }
            for x in shops
        ]
        return cols, rows, sales_values(self._total(found.values()), orders=True)

    def _counter_names(self, s: Session, ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        return {
            i: (n, name)
            for i, n, name in s.execute(
                select(Counter.id, Counter.number, Counter.name).where(Counter.shop_id.in_(ids))
            )
        }

    def _r_counter_sales(
        self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, shops: Sequence[ShopRef]
    ) -> Any:
        found = self._hour_sums(s, ["shop_id", "counter_id"], ids, f)
        numbers = {x.id: x.number for x in shops}
        names = self._counter_names(s, ids)
        cols = sales_columns(
            [
                Col("shop", N_("Shop"), "number", 6),
                Col("counter", N_("Counter"), "number", 8),
                Col("counter_name", N_("Counter name"), "text", 24),
            ],
            orders=True,
        )
        rows = []
        for (shop_id, counter_id), x in sorted(
            found.items(), key=lambda kv: (numbers[kv[0][0]], names.get(kv[0][1], (0, ""))[0])
        ):
            number, name = names.get(counter_id, (None, _(NO_COUNTER)))
            rows.append(
                {
                    "shop": numbers[shop_id],
                    "counter": number,
                    "counter_name": name,
                    **sales_values(x, orders=True),
                }
            )
        return cols, rows, sales_values(self._total(found.values()), orders=True)

    def _r_cashiers(
        self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, _sh: Any
    ) -> Any:
        found = self._hour_sums(s, ["account_id"], ids, f)
        people = dict(
            s.execute(
                select(Account.id, Account.name).where(Account.id.in_([k[0] for k in found]))
            ).all()
        )
        cols = sales_columns(
            [
                Col("cashier_id", N_("Cashier ID"), "number", 8),
                Col("cashier", N_("Cashier"), "text", 20),
            ],
            orders=True,
        )
        rows = [
            {
                "cashier_id": k[0] or None,
                "cashier": people.get(k[0], _(NO_CASHIER)),
                **sales_values(x, orders=True),
            }
            for k, x in sorted(found.items(), key=lambda kv: (-kv[1].net_minor, kv[0]))
        ]
        return cols, rows, sales_values(self._total(found.values()), orders=True)

    def _r_products(
        self, s: Session, merchant_id: int, ids: Sequence[int], f: ReportFilter, _sh: Any
    ) -> Any:
        found = {k[0]: x for k, x in self._products_sums(s, ["product_id"], ids, f).items()}
        products = self._product_names(s, merchant_id, list(found))
        categories = self._category_names(s, merchant_id)
        cols = sales_columns(
            [
                Col("product_id", N_("Product ID"), "number", 9),
                Col("sku", N_("SKU"), "text", 14),
                Col("product", N_("Product"), "text", 28),
                Col("unit", N_("Unit"), "text", 6),
                Col("category", N_("Category"), "text", 16),
            ],
            orders=False,
            quantity=True,
        )
        rows = []
        for product_id, x in sorted(found.items(), key=lambda kv: (-kv[1].net_minor, kv[0])):
            sku, name, unit, category_id = products.get(product_id, ("", _(NO_PRODUCT), "", None))
            rows.append(
                {
                    "product_id": product_id or None,
                    "sku": sku,
                    "product": name,
                    "unit": unit,
                    # the category it is in now (the categories report: as sold)
                    "category": categories.get(category_id, "") if category_id else _(NO_CATEGORY),
                    **sales_values(x, orders=False, quantity=True),
                }
            )
        return cols, rows, sales_values(self._total(found.values()), orders=False)

    def _r_categories(
        self, s: Session, merchant_id: int, ids: Sequence[int], f: ReportFilter, _sh: Any
    ) -> Any:
        found = self._products_sums(s, ["category_id"], ids, f)
        categories = self._category_names(s, merchant_id)
        cols = sales_columns(
            [
                Col("category_id", N_("Category ID"), "number", 9),
                Col("category", N_("Category"), "text", 20),
            ],
            orders=False,
        )
        rows = [
            {
                "category_id": k[0] or None,
                "category": categories.get(k[0], _(NO_CATEGORY)) if k[0] else _(NO_CATEGORY),
                **sales_values(x, orders=False),
            }
            for k, x in sorted(found.items(), key=lambda kv: (-kv[1].net_minor, kv[0]))
        ]
        return cols, rows, sales_values(self._total(found.values()), orders=False)

    def _product_names(
        self, s: Session, merchant_id: int, ids: Sequence[int]
    ) -> dict[int, tuple[str, str, str, int | None]]:
        out = {}
        wanted = [i for i in ids if i]
        for start in range(0, len(wanted), 900):
            for r in s.execute(
                select(
                    Product.id, Product.sku, Product.name, Product.unit, Product.category_id
                ).where(
                    Product.merchant_id == merchant_id, Product.id.in_(wanted[start : start + 900])
                )
            ):
                out[r[0]] = (r[1], r[2], r[3], r[4])
        return out

    def _category_names(self, s: Session, merchant_id: int) -> dict[int, str]:
        return dict(
            s.execute(
                select(ProductCategory.id, ProductCategory.name).where(
                    ProductCategory.merchant_id == merchant_id
                )
            ).all()
        )

    # -- tenders, returns and discounts --

    def _tender_sums(
        self, s: Session, dims: Sequence[str], ids: Sequence[int], f: ReportFilter
    ) -> dict[tuple[Any, ...], list[int]]:
        """Per ``dims`` and tender: [sales' tenders, their amount, returns' tenders, their
        amount, fees]."""
        t = RollTender
        keys = [getattr(t, d) for d in dims]
        n = len(dims)
        out: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 5)
        sums_of = (total(t.tenders), total(t.amount_minor), total(t.fee_minor))
        for span, first, last in spans(f.date_from, f.date_to):
            for row in s.execute(
                select(*keys, t.tender, t.kind, *sums_of)
                .where(*self._where(t, ids, f, span, first, last))
                .group_by(*keys, t.tender, t.kind)
            ):
                sums = out[(*row[:n], TenderKind(row[n]))]
                at = 0 if row[n + 1] is OrderKind.SALE else 2
                sums[at] += int(row[n + 2])
                sums[at + 1] += int(row[n + 3])
                sums[4] += int(row[n + 4])
        return out

    def _r_tenders(self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, _sh: Any) -> Any:
        found = self._tender_sums(s, [], ids, f)
        cols = (
            Col("tender", N_("Tender"), "label", 14),
            Col("payments", N_("Payments"), "number", 9),
            Col("taken_minor", N_("Taken"), "money"),
            Col("paid_back_count", N_("Paid back (count)"), "number", 9),
            Col("paid_back_minor", N_("Paid back"), "money"),
            Col("net_minor", N_("Net takings"), "money"),
            Col("fee_minor", N_("Fees"), "money"),
        )

        def values(x: Sequence[int]) -> dict[str, Any]:
            return {
                "payments": x[0],
                "taken_minor": x[1],
                "paid_back_count": x[2],
                "paid_back_minor": x[3],
                "net_minor": x[1] - x[3],
                "fee_minor": x[4],
            }

        rows = [{"tender": k.value, **values(found.get((k,), [0] * 5))} for k in TenderKind]
        total = [sum(x[i] for x in found.values()) for i in range(5)]
        return cols, rows, values(total)

    def _r_refunds(self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, _sh: Any) -> Any:
        found = self._hour_sums(s, ["day"], ids, f)
        cols = (
            Col("day", N_("Day"), "date", 11),
            Col("orders", N_("Orders"), "number", 8),
            Col("gross_minor", N_("Gross sales"), "money"),
            Col("discount_minor", N_("Discounts"), "money"),
            Col("discount_percent", N_("Discount %"), "percent", 9),
            Col("returns", N_("Returns"), "number", 8),
            Col("returned_lines", N_("Lines returned"), "number", 9),
            Col("refund_minor", N_("Refunds"), "money"),
            Col("net_minor", N_("Net sales"), "money"),
        )

        def values(x: Figures) -> dict[str, Any]:
            return {
                "orders": x.orders,
                "gross_minor": x.gross_minor,
                "discount_minor": x.discount_minor,
                "discount_percent": x.discount_percent,
                "returns": x.returns,
                "returned_lines": x.returned_lines,
                "refund_minor": x.refund_minor,
                "net_minor": x.net_minor,
            }

        rows = [
            {"day": d, **values(found.get((d,), Figures()))} for d in _days(f.date_from, f.date_to)
        ]
        return cols, rows, values(self._total(found.values()))

    # -- stock --

    def _stock_rows(self, s: Session, merchant_id: int, ids: Sequence[int]) -> list[Any]:
        return list(
            s.execute(
                select(
                    StockLevel.shop_id,
                    StockLevel.product_id,
                    StockLevel.quantity_milli,
                    Product.cost_minor,
                    Product.sku,
                    Product.name,
                    Product.unit,
                )
                .join(Product, Product.id == StockLevel.product_id)
                .where(StockLevel.merchant_id == merchant_id, StockLevel.shop_id.in_(ids))
            ).all()
        )

    def _r_stock(
        self,
        s: Session,
        merchant_id: int,
        ids: Sequence[int],
        _f: ReportFilter,
        shops: Sequence[ShopRef],
    ) -> Any:
        sums: dict[int, list[int]] = {x.id: [0, 0, 0, 0] for x in shops}
        for shop_id, _p, quantity, cost, *_rest in self._stock_rows(s, merchant_id, ids):
            x = sums[shop_id]
            if quantity > 0:
                x[0] += 1
                if cost is None:
                    x[2] += 1
                else:
                    x[1] += quantity * cost  # exact (thousandths of a fen) ...
            elif quantity < 0:
                x[3] += 1
        for x in sums.values():  # ... rounded once per shop, as the stock page's value
            x[1] = round_milli(x[1])
        cols = (
            Col("shop", N_("Shop"), "number", 6),
            Col("shop_name", N_("Shop name"), "text", 24),
            Col("products", N_("Products in stock"), "number", 10),
            Col("value_minor", N_("Stock value at cost"), "money", 14),
            Col("without_cost", N_("Products without cost"), "number", 10),
            Col("below_zero", N_("Products below zero"), "number", 10),
        )

        def values(x: Sequence[int]) -> dict[str, Any]:
            return {"products": x[0], "value_minor": x[1], "without_cost": x[2], "below_zero": x[3]}

        rows = [{"shop": x.number, "shop_name": x.name, **values(sums[x.id])} for x in shops]
        return cols, rows, values([sum(x[i] for x in sums.values()) for i in range(4)])

    def _r_slow_movers(
        self,
        s: Session,
        merchant_id: int,
        ids: Sequence[int],
        f: ReportFilter,
        shops: Sequence[ShopRef],
    ) -> Any:
        numbers = {x.id: x.number for x in shops}
        unfiltered = ReportFilter(f.date_from, f.date_to, f.shop_ids)  # stock is the shop's
        sold = self._products_sums(s, ["shop_id", "product_id"], ids, unfiltered)
        rows = []
        for shop_id, product_id, quantity, cost, sku, name, unit in self._stock_rows(
            s, merchant_id, ids
        ):
            if quantity <= 0:
                continue
            x = sold.get((shop_id, product_id))
            sold_milli = x.sold_milli if x is not None else 0
            if sold_milli > f.slow_max_milli:
                continue
            rows.append(
                {
                    "shop": numbers[shop_id],
                    "product_id": product_id,
                    "sku": sku,
                    "product": name,
                    "unit": unit,
                    "stock_milli": quantity,
                    "cost_minor": cost,
                    "value_minor": None if cost is None else line_cost(cost, quantity),
                    "sold_milli": sold_milli,
                }
            )
        rows.sort(
            key=lambda r: (
                r["value_minor"] is None,
                -(r["value_minor"] or 0),
                r["shop"],
                r["product_id"],
            )
        )
        cols = (
            Col("shop", N_("Shop"), "number", 6),
            Col("product_id", N_("Product ID"), "number", 9),
            Col("sku", N_("SKU"), "text", 14),
            Col("product", N_("Product"), "text", 28),
            Col("unit", N_("Unit"), "text", 6),
            Col("stock_milli", N_("In stock"), "quantity", 10),
            Col("cost_minor", N_("Unit cost"), "money", 10),
            Col("value_minor", N_("Stock value at cost"), "money", 14),
            Col("sold_milli", N_("Sold in the period"), "quantity", 10),
        )
        total = {"value_minor": sum(r["value_minor"] or 0 for r in rows)}
        return cols, rows, total

    # -- a mall's counters --

    def _r_counters(
        self, s: Session, _m: int, ids: Sequence[int], f: ReportFilter, shops: Sequence[ShopRef]
    ) -> Any:
        sales = self._hour_sums(s, ["shop_id", "counter_id"], ids, f)
        tenders = self._tender_sums(s, ["shop_id", "counter_id"], ids, f)
        numbers = {x.id: x.number for x in shops}
        names = self._counter_names(s, ids)
        keys = sorted(
            {*sales, *((k[0], k[1]) for k in tenders)},
            key=lambda k: (numbers[k[0]], names.get(k[1], (0, ""))[0]),
        )
        cols = (
            Col("shop", N_("Shop"), "number", 6),
            Col("counter", N_("Counter"), "number", 8),
            Col("counter_name", N_("Counter name"), "text", 24),
            Col("orders", N_("Orders"), "number", 8),
            Col("returns", N_("Returns"), "number", 8),
            Col("net_sales_minor", N_("Net sales"), "money"),
            *(Col(f"{k.value}_minor", TENDER_LABELS[k.value], "money") for k in TenderKind),
            Col("takings_minor", N_("Takings"), "money"),
            Col("paid_back_minor", N_("Paid back"), "money"),
            Col("fee_minor", N_("Fees"), "money"),
            Col("net_minor", N_("Net (non-cash less fees)"), "money", 14),
        )

        def values(x: Figures, by: dict[TenderKind, list[int]]) -> dict[str, Any]:
            takes = {k: by[k][1] - by[k][3] if k in by else 0 for k in TenderKind}
            fee = sum(v[4] for v in by.values())
            return {
                "orders": x.orders,
                "returns": x.returns,
                "net_sales_minor": x.net_minor,
                **{f"{k.value}_minor": takes[k] for k in TenderKind},
                "takings_minor": sum(takes.values()),
                "paid_back_minor": sum(v[3] for v in by.values()),
                "fee_minor": fee,
                "net_minor": sum(takes[k] for k in NON_CASH) - fee,
            }

        rows, all_sales = [], Figures()
        all_tenders: dict[TenderKind, list[int]] = defaultdict(lambda: [0] * 5)
        for shop_id, counter_id in keys:
            by = {k[2]: v for k, v in tenders.items() if k[:2] == (shop_id, counter_id)}
            x = sales.get((shop_id, counter_id), Figures())
            all_sales.merge(x)
            for k, v in by.items():
                for i in range(5):
                    all_tenders[k][i] += v[i]
            number, name = names.get(counter_id, (None, _(NO_COUNTER)))
            rows.append(
                {"shop": numbers[shop_id], "counter": number, "counter_name": name, **values(x, by)}
            )
        return cols, rows, values(all_sales, all_tenders)
