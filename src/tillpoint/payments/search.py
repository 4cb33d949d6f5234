"""One merchant's payments as its people look for them (the merchant portal): filtered,
newest first, a page at a time; one payment with its timeline; and any filtered range
read in chunks for an export, so a million rows never sit in memory.

Order and paging. Newest first is by business date, then id, both descending: the order
of ``ix_payments_merchant_day`` (merchant, business date), whose entries SQLite keeps in
rowid order within a day, so a page is an index range read in order and never a sort;
PostgreSQL sorts the ids of one day at a time at most (an incremental sort). A page goes
on after a payment (``after``: its id); where that payment stands is looked up, so the
address of the next page carries nothing else.

Bounded work. A filter the indexes cannot answer (a state, a method, an amount, a shop,
a terminal, a voucher number) is checked row by row; a page reads at most ``SCAN_ROWS``
of the merchant's payments, and when that many found too few matches it says how far it
looked (``Page.searched_to``) and goes on from there on request, so a rare filter over
a merchant's million payments is still answered at once. An RRN is unique: looked up by
its own index.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, select, type_coerce
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.db import AnySelect
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import PaymentMethod, Shop
from tillpoint.merchants.services import find_merchant
from tillpoint.payments.models import Channel, Payment, PaymentEvent, PaymentKind, PaymentStatus
from tillpoint.payments.rules import CAPTURES, REFUND_WINDOW_DAYS, REFUNDABLE
from tillpoint.payments.views import PaymentView, payment_views
from tillpoint.terminals.models import Terminal

SCAN_ROWS = 10_000  # a page reads at most this many payments for filters checked row by row
EXPORT_CHUNK = 500  # rows an export reads at a time (each chunk a short read of its own)
MAX_TIMELINE = 200  # events and linked payments shown with a payment
MAX_PLACES = 500  # shops and terminals offered as filters


@dataclass(frozen=True)
class PaymentFilter:
    """Which payments: always one merchant's; the rest narrows. ``tid`` is a terminal of
    the merchant (another's matches nothing); ``rrn`` the 12-character reference,
    ``stan`` the 6-digit voucher number (凭证号); amounts in minor units, inclusive."""

    merchant_id: int
    shop_id: int | None = None
    tid: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    method: PaymentMethod | None = None
    status: PaymentStatus | None = None
    amount_min_minor: int | None = None
    amount_max_minor: int | None = None
    rrn: str | None = None
    stan: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """A payment as a list or an export shows it: the masked card number only."""

    id: int
    created_at: datetime
    business_date: date
    kind: PaymentKind
    status: PaymentStatus
    amount_minor: int
    currency: str
    refunded_minor: int
    fee_minor: int
    method: PaymentMethod | None
    card_org: str | None
    pan_masked: str | None
    shop_number: int | None
    shop_name: str | None
    tid: str | None
    rrn: str
    stan: str | None
    auth_code: str | None
    original_id: int | None
    channel: Channel
    reference: str | None


@dataclass(frozen=True)
class Page:
    """A page of payments. ``next_after``: where the next page starts (None: no more).
    ``searched_to``: set when the page read its ``SCAN_ROWS`` and found fewer than a
    page: the business date it looked back to (the next page goes on from there)."""

    rows: list[PaymentRow]
    next_after: int | None
    searched_to: date | None = None


@dataclass(frozen=True)
class Places:
    """Where a merchant's payments are taken, to filter by: its shops (id, number,
    name) and its terminals' TIDs."""

    shops: list[tuple[int, int, str]]
    tids: list[str]


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a payment's timeline: a change of its state (with its cause), or a
    payment made on it (a refund, a completion), linked."""

    at: datetime
    from_status: PaymentStatus | None = None
    to_status: PaymentStatus | None = None
    cause: str | None = None
    linked: PaymentRow | None = None


@dataclass(frozen=True)
class PaymentDetail:
    payment: PaymentRow
    timeline: list[TimelineEntry]
    original: PaymentRow | None  # the payment a refund or completion was made on
    refundable_minor: int  # what may still be refunded now (0: no refund possible)
    linked: list[PaymentRow] = field(default_factory=list)  # refunds, completions of it


_COLUMNS: tuple[Any, ...] = (
    Payment.id, Payment.created_at, Payment.business_date, Payment.kind, Payment.status,
    Payment.amount_minor, Payment.currency, Payment.refunded_minor, Payment.fee_minor,
    Payment.method, Payment.card_org, Payment.pan_masked, Shop.number, Shop.name, Terminal.tid,
    Payment.rrn, Payment.stan, Payment.auth_code, Payment.original_id, Payment.channel,
    Payment.reference,
)  # fmt: skip
_NEWEST_FIRST = (Payment.business_date.desc(), Payment.id.desc())


def _rows_query() -> AnySelect:
    return (
        select(*_COLUMNS)
        .select_from(Payment)
        .join(Shop, Shop.id == Payment.shop_id, isouter=True)
        .join(Terminal, Terminal.id == Payment.terminal_id, isouter=True)
    )


def _row(r: Sequence[Any]) -> PaymentRow:
    return PaymentRow(*r)


def _unindexed(column: Any) -> Any:
    """A column compared row by row: no index of its own is chosen for it (SQLite would
    otherwise take ix_payments_pending for a state, or a terminal's batch index, and
    sort all of its rows instead of reading the merchant's in order)."""
    if issubclass(column.type.python_type, str):
        return type_coerce(column, String()).concat("")
    return column + 0


def _conditions(
    s: Session, f: PaymentFilter
) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]] | None:
    """The filter's conditions but its dates (``_ranges`` reads those): those an index
    reads as a range (the merchant, an RRN), and those checked row by row. None when
    nothing can match (a TID that is not the merchant's)."""
    ranged: list[ColumnElement[bool]] = [Payment.merchant_id == f.merchant_id]
    if f.rrn is not None:
        ranged.append(Payment.rrn == f.rrn)
    checked: list[ColumnElement[bool]] = []
    if f.tid is not None:
        terminal_id = s.scalar(
            select(Terminal.id).where(Terminal.tid == f.tid, Terminal.merchant_id == f.merchant_id)
        )
        if terminal_id is None:
            return None
        checked.append(_unindexed(Payment.terminal_id) == terminal_id)
    if f.shop_id is not None:
        checked.append(Payment.shop_id == f.shop_id)
    if f.method is not None:
        checked.append(Payment.method == f.method)
    if f.status is not None:
        checked.append(_unindexed(Payment.status) == f.status.value)
    if f.amount_min_minor is not None:
        checked.append(Payment.amount_minor >= f.amount_min_minor)
    if f.amount_max_minor is not None:
        checked.append(Payment.amount_minor <= f.amount_max_minor)
    if f.stan is not None:
        checked.append(Payment.stan == f.stan)
    return ranged, checked


Position = tuple[date, int]  # a payment's place in the list: its business date and id


def _ranges(
    f: PaymentFilter, start: Position | None, stop: Position | None
) -> list[list[ColumnElement[bool]]]:
    """The filter's dates from after ``start`` (exclusive) down to ``stop`` (inclusive),
    as ranges that the index reads in the list's order: the rest of ``start``'s day (ids
    below it), the days between, then ``stop``'s day down to it. (A row value would be
    one condition, but neither database reads it as a range of this index, and SQLite
    reads a day's ids as a range only where nothing else bounds the day.)"""
    day, pid = Payment.business_date, Payment.id

    def in_range(d: date) -> bool:
        return (f.date_from is None or f.date_from <= d) and (f.date_to is None or d <= f.date_to)

    if start is not None and stop is not None and start[0] == stop[0]:
        return [[day == start[0], pid < start[1], pid >= stop[1]]] if in_range(start[0]) else []
    parts: list[list[ColumnElement[bool]]] = []
    between: list[ColumnElement[bool]] = []
    if start is not None:
        if in_range(start[0]):
            parts.append([day == start[0], pid < start[1]])
        between.append(day < start[0])
    if stop is not None:
        between.append(day > stop[0])
    if f.date_from is not None:
        between.append(day >= f.date_from)
    if f.date_to is not None:
        between.append(day <= f.date_to)
    parts.append(between)
    if stop is not None and in_range(stop[0]):
        parts.append([day == stop[0], pid >= stop[1]])
    return parts


def _read(
    s: Session,
    query: AnySelect,
    f: PaymentFilter,
    start: Position | None,
    stop: Position | None,
    limit: int,
) -> list[Any]:
    """Up to ``limit`` rows of ``query`` (newest first) in the filter's dates, after
    ``start`` and down to ``stop``."""
    out: list[Any] = []
    for part in _ranges(f, start, stop):
        if len(out) >= limit:
            break
        out += s.execute(query.where(*part).limit(limit - len(out))).all()
    return out


def _position(s: Session, merchant_id: int, payment_id: int) -> Position | None:
    """Where a payment of the merchant stands in the list (None: no such payment)."""
    day = s.scalar(
        select(Payment.business_date).where(
            Payment.id == payment_id, Payment.merchant_id == merchant_id
        )
    )
    return (day, payment_id) if day is not None else None


class PaymentSearch:
    """Reads of a merchant's payments for the portal and the console (a service: each
    call one read)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def newest(
        self, ref: str, *, before_id: int | None = None, limit: int = 50
    ) -> list[PaymentView]:
        """A merchant's payments (by MID or application number), newest first, before
        ``before_id``: the masked card number only, never more of it. The console's
        merchant page lists them."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            query = (
                select(Payment)
                .where(Payment.merchant_id == m.id)
                .order_by(Payment.id.desc())
                .limit(limit)
            )
            if before_id is not None:
                query = query.where(Payment.id < before_id)
            return payment_views(s, s.scalars(query))

    def page(self, f: PaymentFilter, *, after: int | None = None, limit: int = 50) -> Page:
        """A page of the filter's payments, newest first, after the payment ``after``
        (one not the merchant's: from the newest)."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            conditions = _conditions(s, f)
            if conditions is None:
                return Page([], None)
            ranged, checked = conditions
            start = _position(s, f.merchant_id, after) if after else None
            bound = None
            if checked and f.rrn is None:
                # Where the next SCAN_ROWS payments in range end: read no further.
                ids = select(Payment.business_date, Payment.id).where(*ranged)
                window = _read(s, ids.order_by(*_NEWEST_FIRST), f, start, None, SCAN_ROWS)
                if len(window) == SCAN_ROWS:
                    bound = (window[-1][0], int(window[-1][1]))
            query = _rows_query().where(*ranged, *checked).order_by(*_NEWEST_FIRST)
            found = [_row(r) for r in _read(s, query, f, start, bound, limit + 1)]
        if len(found) > limit:
            return Page(found[:limit], found[limit - 1].id)
        if bound is not None:  # looked as far as it may: the next page goes on from there
            return Page(found, bound[1], searched_to=bound[0])
        return Page(found, None)

    def rows(self, f: PaymentFilter, *, chunk: int = EXPORT_CHUNK) -> Iterator[PaymentRow]:
        """Every payment of the filter, newest first, read ``chunk`` rows at a time, each
        chunk in a short read of its own (a long export holds no transaction open)."""
        check_limit(chunk)
        start: Position | None = None
        while True:
            with self.ctx.db.read() as s:
                conditions = _conditions(s, f)
                if conditions is None:
                    return
                ranged, checked = conditions
                query = _rows_query().where(*ranged, *checked).order_by(*_NEWEST_FIRST)
                batch = [_row(r) for r in _read(s, query, f, start, None, chunk)]
            yield from batch
            if len(batch) < chunk:
                return
            start = (batch[-1].business_date, batch[-1].id)

    def places(self, merchant_id: int) -> Places:
        with self.ctx.db.read() as s:
            shops = s.execute(
                select(Shop.id, Shop.number, Shop.name)
                .where(Shop.merchant_id == merchant_id)
                .order_by(Shop.number)
                .limit(MAX_PLACES)
            ).all()
            tids = s.scalars(
                select(Terminal.tid)
                .where(Terminal.merchant_id == merchant_id)
                .order_by(Terminal.tid)
                .limit(MAX_PLACES)
            ).all()
        return Places([(i, n, name) for i, n, name in shops], list(tids))

    def detail(
        self, payment_id: int, merchant_id: int, today: date, *, shop_id: int | None = None,
        day: date | None = None,
    ) -> PaymentDetail:  # fmt: skip
        """A payment of the merchant (with ``shop_id`` and ``day``: of that shop and
        business day only; any other is not found, as a payment that does not exist),
        its timeline and what may still be refunded of it on business day ``today``."""
        with self.ctx.db.read() as s:
            where = [Payment.id == payment_id, Payment.merchant_id == merchant_id]
            if shop_id is not None:
                where.append(Payment.shop_id == shop_id)
            if day is not None:
                where.append(Payment.business_date == day)
            found = s.execute(_rows_query().where(*where)).first()
            if found is None:
                raise NotFound("payment.not_found", N_("No payment {id}"), id=payment_id)
            p = _row(found)
            events = s.execute(
                select(PaymentEvent.at, PaymentEvent.from_status, PaymentEvent.to_status,
                       PaymentEvent.cause)
                .where(PaymentEvent.payment_id == p.id)
                .order_by(PaymentEvent.id)
                .limit(MAX_TIMELINE)
            ).all()  # fmt: skip
            linked = [
                _row(r)
                for r in s.execute(
                    _rows_query()
                    .where(Payment.original_id == p.id, Payment.merchant_id == merchant_id)
                    .order_by(Payment.id)
                    .limit(MAX_TIMELINE)
                )
            ]
            original = None
            if p.original_id is not None:
                got = s.execute(
                    _rows_query().where(
                        Payment.id == p.original_id, Payment.merchant_id == merchant_id
                    )
                ).first()
                original = _row(got) if got is not None else None
        timeline = [TimelineEntry(at, was, to, cause) for at, was, to, cause in events]
        timeline += [TimelineEntry(r.created_at, linked=r) for r in linked]
        timeline.sort(key=lambda e: e.at)
        return PaymentDetail(p, timeline, original, refundable_minor(p, today), linked)


def refundable_minor(p: PaymentRow, today: date) -> int:
    """What may still be refunded of ``p`` on business day ``today`` (the refund
    service's own rules: a captured payment, within the window, what is left)."""
    if p.kind not in CAPTURES or p.status not in REFUNDABLE:
        return 0
    if (today - p.business_date).days > REFUND_WINDOW_DAYS:
        return 0
    return p.amount_minor - p.refunded_minor
