"""The shop's sales kept added up (rollups), so that a report over a year reads a few
thousand sums instead of a million order lines (docs/store.md, "Reports").

What is kept, per shop, per counter and per kind of order (a sale or a return, whose
figures are kept positive and taken off when reported), twice: per day on Shanghai's
clock (midnight to midnight; span ``d``) and per calendar month (span ``m``, ``day`` its
first day), so that a report over a year reads twelve months and the days at its ends:

- ``store_roll_hours``: per hour of the day: orders, lines, quantities, gross,
  discounts, net, cost;
- ``store_roll_days``: the same per cashier;
- ``store_roll_products``: the same (but orders) per product and category, as each line
  named them when sold;
- ``store_roll_tenders``: per kind of tender (cash, card, wallet, QR): how many, how
  much, and the acquirer's fees on the payments behind them;
- ``store_rolled_orders``: each order that is in the sums, so that it is never added
  twice.

The contract with the order service: ``record_paid(s, order_id)`` is called in the unit
of work in which an order (a sale or a return) becomes paid, after its lines and tenders
are written. It adds the order to every rollup in that same unit of work, so the sums
are always exactly those of the paid orders: committed together or not at all. Calling
it again for the same order changes nothing. ``record_paid_many(s, order_ids)`` is the
same for many orders at once (the sync of offline orders, store/sync.py). ``rebuild``
recomputes a shop's whole months from the order lines (a repair, an import of past
orders, the benchmark's seed); ``naive`` recomputes any rollup straight from the lines,
which the tests compare.

Figures of a line, all integers of minor units (fen):

- gross: its price times its quantity, rounded (``amount + discount``);
- discounts: its own discount and its share of the order's (``discount +
  order_discount``);
- net: what was charged for it (``amount - order_discount``) = gross - discounts;
- cost: its unit cost when sold times its quantity, rounded half up to the fen; a line
  sold without a cost adds nothing to the cost and counts as ``uncosted``, its net apart
  (``costed_net`` is the net of the lines with a cost), so a margin is never made up.

Tenders counted are a sale's paid ones and a return's paid back (refunded) ones; a
tender's fee is its payment's ``fee_minor`` (cash has none).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.db import Base, str_enum
from tillpoint.core.errors import invariant
from tillpoint.payments.models import Payment
from tillpoint.store.models import (
    MILLI,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    OrderTender,
    TenderKind,
    TenderStatus,
)

NONE = 0  # no counter, no cashier, no product, no category: keys are never NULL
SUMS = (
    "lines", "quantity_milli", "gross_minor", "discount_minor", "net_minor", "cost_minor",
    "costed_net_minor", "uncosted_lines",
)  # fmt: skip
COUNTED_TENDERS = {OrderKind.SALE: TenderStatus.PAID, OrderKind.RETURN: TenderStatus.REFUNDED}


# --- the tables ------------------------------------------------------------------------------


class _Sums:
    """What a line adds to a rollup (see the module's notes)."""

    lines: Mapped[int] = mapped_column(BigInteger)
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    cost_minor: Mapped[int] = mapped_column(BigInteger)
    costed_net_minor: Mapped[int] = mapped_column(BigInteger)
    uncosted_lines: Mapped[int] = mapped_column(BigInteger)


class Span(StrEnum):
    DAY = "d"
    MONTH = "m"  # ``day`` is the month's first day


SPAN = str_enum(Span, length=1)


class RollHour(_Sums, Base):
    """A shop's orders of one kind in one hour of the day, over a day or a month, at one
    counter."""

    __tablename__ = "store_roll_hours"

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    span: Mapped[Span] = mapped_column(SPAN, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    counter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, length=10), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger)


class RollDay(_Sums, Base):
    """A shop's orders of one kind over a day or a month, at one counter, by one
    cashier."""

    __tablename__ = "store_roll_days"

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    span: Mapped[Span] = mapped_column(SPAN, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, length=10), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger)


class RollProduct(_Sums, Base):
    """A shop's lines of one product (and category) over a day or a month, at one
    counter."""

    __tablename__ = "store_roll_products"

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    span: Mapped[Span] = mapped_column(SPAN, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    category_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, length=10), primary_key=True)


class RollTender(Base):
    """A shop's tenders of one kind over a day or a month, at one counter, for orders of
    one kind."""

    __tablename__ = "store_roll_tenders"

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    span: Mapped[Span] = mapped_column(SPAN, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    counter_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, length=10), primary_key=True)
    tender: Mapped[TenderKind] = mapped_column(str_enum(TenderKind, length=10), primary_key=True)
    tenders: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)


class RolledOrder(Base):
    """An order that is in the rollups (added once, ever)."""

    __tablename__ = "store_rolled_orders"
    __table_args__ = (Index("ix_store_rolled_orders_shop_day", "shop_id", "day"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    shop_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)


TABLES: tuple[type[Base], ...] = (RollHour, RollDay, RollProduct, RollTender)
TENDER_SUMS = ("tenders", "amount_minor", "fee_minor")
# Each rollup's sums, in the order a tally keeps them.
VALUES: dict[str, tuple[str, ...]] = {
    "store_roll_hours": (*SUMS, "orders"),
    "store_roll_days": (*SUMS, "orders"),
    "store_roll_products": SUMS,
    "store_roll_tenders": TENDER_SUMS,
}


# --- a line's figures -----------------------------------------------------------------------


def line_cost(cost_minor: int, quantity_milli: int) -> int:
    """A line's cost: unit cost times quantity (thousandths), rounded half up to the fen."""
    invariant(cost_minor >= 0 and quantity_milli >= 0, "a cost and a quantity are not negative")
    return (2 * cost_minor * quantity_milli + MILLI) // (2 * MILLI)


def line_sums(
    quantity_milli: int, amount_minor: int, discount_minor: int, order_discount_minor: int,
    cost_minor: int | None,
) -> tuple[int, ...]:  # fmt: skip
    """What one line adds, in the order of ``SUMS``."""
    net = amount_minor - order_discount_minor
    if cost_minor is None:
        cost, costed_net, uncosted = 0, 0, 1
    else:
        cost, costed_net, uncosted = line_cost(cost_minor, quantity_milli), net, 0
    return (1, quantity_milli, amount_minor + discount_minor, discount_minor + order_discount_minor,
            net, cost, costed_net, uncosted)  # fmt: skip


def add(into: list[int], sums: Sequence[int]) -> None:
    for i, v in enumerate(sums):
        into[i] += v


def local_day_hour(at: datetime) -> tuple[date, int]:
    """The day and hour on Shanghai's clock of an instant."""
    local = at.astimezone(BUSINESS_TZ)
    return local.date(), local.hour


def day_start(day: date) -> datetime:
    """The instant a day begins on Shanghai's clock, in UTC."""
    return datetime.combine(day, time(0), BUSINESS_TZ).astimezone(UTC)


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


# --- adding up -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Rollup rows being added up, by table and key (each key in the table's primary
    key order): the same sums whether one order is recorded or a year rebuilt."""

    hours: dict[tuple[Any, ...], list[int]]
    days: dict[tuple[Any, ...], list[int]]
    products: dict[tuple[Any, ...], list[int]]
    tenders: dict[tuple[Any, ...], list[int]]

    @classmethod
    def empty(cls) -> Tally:
        def sums() -> list[int]:
            return [0] * (len(SUMS) + 1)

        return cls(defaultdict(sums), defaultdict(sums), defaultdict(sums),
                   defaultdict(lambda: [0, 0, 0]))  # fmt: skip

    def order(
        self, shop_id: int, day: date, hour: int, counter: int, account: int, kind: OrderKind,
        lines: Iterable[tuple[int, int, tuple[int, ...]]],
    ) -> None:  # fmt: skip
        """One paid order: its lines as (product, category, line_sums)."""
        spans = ((Span.DAY, day), (Span.MONTH, month_of(day)))
        hour_rows = [self.hours[(shop_id, span, d, hour, counter, kind)] for span, d in spans]
        day_rows = [self.days[(shop_id, span, d, counter, account, kind)] for span, d in spans]
        for row in (*hour_rows, *day_rows):
            row[len(SUMS)] += 1  # the orders
        for product, category, sums in lines:
            for row in (*hour_rows, *day_rows):
                add(row, sums)
            for span, d in spans:
                add(self.products[(shop_id, span, d, counter, product, category, kind)], sums)

    def tender(self, shop_id: int, day: date, counter: int, kind: OrderKind,
               tender: TenderKind, amount_minor: int, fee_minor: int) -> None:  # fmt: skip
        for span, d in ((Span.DAY, day), (Span.MONTH, month_of(day))):
            add(
                self.tenders[(shop_id, span, d, counter, kind, tender)],
                (1, amount_minor, fee_minor),
            )

    def rows(self) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
        """The rows to add, per table, in key order (one order of row locks for every
        writer)."""
        tallies = (self.hours, self.days, self.products, self.tenders)
        for model, values in zip(TABLES, tallies, strict=True):
            table: Table = model.__table__  # type: ignore[assignment]
            keys = [c.name for c in table.primary_key.columns]
            names = VALUES[table.name]
            if values:
                rows = [
                    dict(zip(keys, key, strict=True)) | dict(zip(names, sums, strict=False))
                    for key, sums in sorted(values.items(), key=lambda kv: _sortable(kv[0]))
                ]
                yield table, rows


def _sortable(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(k.value if isinstance(k, StrEnum) else k for k in key)


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert_statement(dialect: str, table: Table) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET sum = sum + excluded.sum``, built once
    per table and backend."""
    found = _UPSERTS.get((dialect, table.name))
    if found is None:
        keys = [c.name for c in table.primary_key.columns]
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        sums = {c.name: table.c[c.name] + stmt.excluded[c.name]
                for c in table.columns if c.name not in keys}  # fmt: skip
        found = _UPSERTS[(dialect, table.name)] = stmt.on_conflict_do_update(
            index_elements=keys, set_=sums
        )
    return found


def _upsert(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Add ``rows`` (each key once) to the table's sums: a new key is inserted, a known
    one added to; one statement for them all."""
    s.execute(_upsert_statement(s.get_bind().dialect.name, table), rows)


# --- the order service's call ----------------------------------------------------------------


def record_paid(s: Session, order_id: int) -> None:
    """Add a paid order (a sale or a return) to the rollups, in the caller's unit of
    work (the one that made it paid, after its lines and tenders are written). An order
    already added is left alone."""
    o = s.execute(
        select(Order.shop_id, Order.counter_id, Order.account_id, Order.kind, Order.status,
               Order.paid_at).where(Order.id == order_id)
    ).one()  # fmt: skip
    invariant(o.status is OrderStatus.PAID and o.paid_at is not None, "the order is paid")
    if s.get(RolledOrder, order_id) is not None:
        return
    day, hour = local_day_hour(o.paid_at)
    counter = o.counter_id or NONE
    tally = Tally.empty()
    lines = s.execute(
        select(OrderLine.product_id, OrderLine.category_id, OrderLine.quantity_milli,
               OrderLine.amount_minor, OrderLine.discount_minor, OrderLine.order_discount_minor,
               OrderLine.cost_minor).where(OrderLine.order_id == order_id)
    ).all()  # fmt: skip
    tally.order(o.shop_id, day, hour, counter, o.account_id or NONE, o.kind, (
        (ln.product_id or NONE, ln.category_id or NONE,
         line_sums(ln.quantity_milli, ln.amount_minor, ln.discount_minor,
                   ln.order_discount_minor, ln.cost_minor))
        for ln in lines
    ))  # fmt: skip
    tenders = s.execute(
        select(OrderTender.kind, OrderTender.amount_minor, func.coalesce(Payment.fee_minor, 0))
        .outerjoin(Payment, Payment.id == OrderTender.payment_id)
        .where(OrderTender.order_id == order_id,
               OrderTender.status == COUNTED_TENDERS[o.kind])
    ).all()  # fmt: skip
    for kind, amount, fee in tenders:
        tally.tender(o.shop_id, day, counter, o.kind, kind, amount, fee)
    s.add(RolledOrder(order_id=order_id, shop_id=o.shop_id, day=day))
    for table, rows in tally.rows():
        _upsert(s, table, rows)


def record_paid_many(s: Session, order_ids: Sequence[int]) -> int:
    """``record_paid`` for many orders at once (a sync of offline orders): the same
    sums, in a handful of statements whatever their number (the orders read, those
    added already left out, then as ``rebuild`` adds a chunk). Returns the orders
    added."""
    added = 0
    wanted = sorted(set(order_ids))
    for i in range(0, len(wanted), REBUILD_CHUNK):
        chunk = wanted[i : i + REBUILD_CHUNK]
        orders = s.execute(
            select(Order.id, Order.shop_id, Order.counter_id, Order.account_id, Order.kind,
                   Order.status, Order.paid_at)
            .where(Order.id.in_(chunk)).order_by(Order.id)
        ).all()  # fmt: skip
        invariant(len(orders) == len(chunk), "every order named exists")
        invariant(all(o.status is OrderStatus.PAID and o.paid_at is not None for o in orders),
                  "the orders are paid")  # fmt: skip
        done = set(s.scalars(select(RolledOrder.order_id).where(RolledOrder.order_id.in_(chunk))))
        added += _add_orders(s, [o for o in orders if o.id not in done])
    return added


# --- rebuilding whole months -----------------------------------------------------------------

REBUILD_CHUNK = 5_000  # orders read at a time


def rebuild(s: Session, shop_id: int, first: date, last: date) -> int:
    """Recompute the rollups of a shop's whole months from ``first``'s to ``last``'s
    from its paid orders: what was there is replaced. Returns the orders added."""
    invariant(first <= last, "the months run forwards")
    start_month, end_month = month_of(first), next_month(month_of(last))
    start, end = day_start(start_month), day_start(end_month)
    for model in (RollHour, RollDay, RollProduct, RollTender):
        s.execute(delete(model).where(model.shop_id == shop_id, model.day >= start_month,
                                      model.day < end_month))  # fmt: skip
    s.execute(delete(RolledOrder).where(RolledOrder.shop_id == shop_id,
                                        RolledOrder.day >= start_month,
                                        RolledOrder.day < end_month))  # fmt: skip
    orders = s.execute(
        select(Order.id, Order.shop_id, Order.counter_id, Order.account_id, Order.kind,
               Order.paid_at)
        .where(Order.shop_id == shop_id, Order.status == OrderStatus.PAID,
               Order.paid_at >= start, Order.paid_at < end)
        .order_by(Order.id)
    ).all()  # fmt: skip
    count = 0
    for i in range(0, len(orders), REBUILD_CHUNK):
        chunk = orders[i : i + REBUILD_CHUNK]
        count += _add_orders(s, chunk)
    return count


def _add_orders(s: Session, orders: Sequence[Any]) -> int:
    """Add paid orders (rows with ``id``, ``shop_id``, ``counter_id``, ``account_id``,
    ``kind``, ``paid_at``) to the rollups and mark them added: their lines and tenders
    read in two statements, one insert of the marks and one upsert per rollup."""
    if not orders:
        return 0
    ids = [o.id for o in orders]
    lines: dict[int, list[tuple[int, int, tuple[int, ...]]]] = defaultdict(list)
    for ln in s.execute(
        select(OrderLine.order_id, OrderLine.product_id, OrderLine.category_id,
               OrderLine.quantity_milli, OrderLine.amount_minor, OrderLine.discount_minor,
               OrderLine.order_discount_minor, OrderLine.cost_minor)
        .where(OrderLine.order_id.in_(ids))
    ):  # fmt: skip
        lines[ln.order_id].append((ln.product_id or NONE, ln.category_id or NONE,
                                   line_sums(ln.quantity_milli, ln.amount_minor,
                                             ln.discount_minor, ln.order_discount_minor,
                                             ln.cost_minor)))  # fmt: skip
    kinds = {o.id: o for o in orders}
    tally = Tally.empty()
    marks = []
    for o in orders:
        day, hour = local_day_hour(o.paid_at)
        tally.order(o.shop_id, day, hour, o.counter_id or NONE, o.account_id or NONE, o.kind,
                    lines.get(o.id, ()))  # fmt: skip
        marks.append({"order_id": o.id, "shop_id": o.shop_id, "day": day})
    for t in s.execute(
        select(OrderTender.order_id, OrderTender.kind, OrderTender.status,
               OrderTender.amount_minor, func.coalesce(Payment.fee_minor, 0))
        .outerjoin(Payment, Payment.id == OrderTender.payment_id)
        .where(OrderTender.order_id.in_(ids),
               OrderTender.status.in_(tuple(COUNTED_TENDERS.values())))
    ):  # fmt: skip
        o = kinds[t[0]]
        if t[2] is COUNTED_TENDERS[o.kind]:
            day, _hour = local_day_hour(o.paid_at)
            tally.tender(o.shop_id, day, o.counter_id or NONE, o.kind, t[1], t[3], t[4])
    s.execute(insert(RolledOrder), marks)
    for table, rows in tally.rows():
        _upsert(s, table, rows)
    return len(orders)


# --- recomputed from the lines (what the tests compare) ---------------------------------------


def naive(s: Session, shop_ids: Sequence[int]) -> Tally:
    """Every rollup of the shops recomputed from all their paid orders' lines and
    tenders, one at a time: slow, plain, and what the rollups must equal."""
    tally = Tally.empty()
    orders = s.scalars(
        select(Order).where(Order.shop_id.in_(shop_ids), Order.status == OrderStatus.PAID)
    ).all()
    for o in orders:
        assert o.paid_at is not None
        day, hour = local_day_hour(o.paid_at)
        lines = s.scalars(select(OrderLine).where(OrderLine.order_id == o.id)).all()
        tally.order(o.shop_id, day, hour, o.counter_id or NONE, o.account_id or NONE, o.kind, [
            (ln.product_id or NONE, ln.category_id or NONE,
             line_sums(ln.quantity_milli, ln.amount_minor, ln.discount_minor,
                       ln.order_discount_minor, ln.cost_minor))
            for ln in lines
        ])  # fmt: skip
        for t in s.scalars(select(OrderTender).where(OrderTender.order_id == o.id)).all():
            if t.status is COUNTED_TENDERS[o.kind]:
                fee = s.scalar(select(Payment.fee_minor).where(Payment.id == t.payment_id))
                tally.tender(o.shop_id, day, o.counter_id or NONE, o.kind, t.kind,
                             t.amount_minor, fee or 0)  # fmt: skip
    return tally


def stored(s: Session, shop_ids: Sequence[int]) -> dict[str, dict[tuple[Any, ...], list[int]]]:
    """The rollups as stored, keyed as ``Tally.rows`` keys them (for comparing)."""
    out: dict[str, dict[tuple[Any, ...], list[int]]] = {}
    for model in TABLES:
        table: Table = model.__table__  # type: ignore[assignment]
        keys = [c.name for c in table.primary_key.columns]
        names = VALUES[table.name]
        rows = s.execute(
            select(*(table.c[k] for k in keys), *(table.c[n] for n in names)).where(
                table.c.shop_id.in_(shop_ids)
            )
        ).all()
        out[table.name] = {tuple(r[: len(keys)]): list(r[len(keys) :]) for r in rows}
    return out


def as_stored(tally: Tally) -> dict[str, dict[tuple[Any, ...], list[int]]]:
    """A tally keyed as ``stored`` gives the rollups."""
    out: dict[str, dict[tuple[Any, ...], list[int]]] = {model.__tablename__: {} for model in TABLES}
    for table, rows in tally.rows():
        keys = [c.name for c in table.primary_key.columns]
        for row in rows:
            out[table.name][tuple(row[k] for k in keys)] = [row[n] for n in VALUES[table.name]]
    return out
