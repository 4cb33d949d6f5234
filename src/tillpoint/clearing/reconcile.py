"""Reconciliation (对账): the networks' clearing files of a business day against the
acquirer's own books, reference by reference.

For each network reference (the RRN the host gave the network) the host's side is what
the day's ledger entries say the network owes for it (a capture +, its void or reversal
−, a refund −) and the network's side is the sum of its clearing lines. Equal: matched.
Otherwise the reference is missing on one side or its amounts differ, and the merchant
concerned is held (its payouts wait) until operations release it. Reconcile a day before
settling it; the day's-end worker does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import chain, islice

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tillpoint.clearing.days import BusinessDays
from tillpoint.clearing.models import (
    MatchStatus,
    PayoutHold,
    ReconciliationItem,
    ReconciliationRun,
)
from tillpoint.clearing.payouts import RECONCILIATION, reconciliation_reason
from tillpoint.context import Context
from tillpoint.core.paging import check_limit
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.models import Merchant
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.payments.models import Payment

# Both sides of one comparison in one table, private to the transaction's connection:
# a row per reference, each side's lines summed into it as they are loaded (an upsert),
# so that comparing is one scan, with no grouping and no join. Clustered by reference
# on SQLite (no rowid), where the references arrive almost in order.
_STAGE = MetaData()
_REFS = Table(
    "recon_refs", _STAGE, Column("ref", String(12), primary_key=True), Column("org", String(3)),
    Column("merchant_id", Integer), Column("host_minor", BigInteger),
    Column("network_minor", BigInteger), prefixes=["TEMPORARY"], sqlite_with_rowid=False,
)  # fmt: skip
# The books: a capture is owed by the network, its void or reversal and a refund are
# taken back. SQLite adds a reference's entries up as they come (an upsert may meet its
# own row again there); PostgreSQL's upsert may not, so it groups them first.
_HOST_SELECT = (
    " FROM journal_entries e JOIN payments p ON p.id = e.payment_id"
    " WHERE e.business_date = :day AND e.kind IN (:capture, :undone, :refund)"
)
_HOST_AMOUNT = "CASE WHEN e.kind = :capture THEN p.amount_minor ELSE -p.amount_minor END"
_LOAD_HOST_SQLITE = (
    "INSERT INTO recon_refs (ref, org, merchant_id, host_minor)"
    f" SELECT p.rrn, p.card_org, p.merchant_id, {_HOST_AMOUNT}{_HOST_SELECT}"
    " ON CONFLICT (ref) DO UPDATE"
    " SET host_minor = COALESCE(recon_refs.host_minor, 0) + excluded.host_minor"
)
_LOAD_HOST_GROUPED = (
    "INSERT INTO recon_refs (ref, org, merchant_id, host_minor)"
    f" SELECT p.rrn, MIN(p.card_org), MIN(p.merchant_id), SUM({_HOST_AMOUNT}){_HOST_SELECT}"
    " GROUP BY p.rrn"
)
# The clearing file goes in through the driver: its rows are plain. On SQLite, several
# hundred rows to a statement, which spares most of a statement's cost per row (a
# quarter of the load); PostgreSQL's upsert may not meet a reference twice in one
# statement, so there it is one row to a statement, pipelined by executemany.
_LOAD = (
    "INSERT INTO recon_refs (org, ref, network_minor) VALUES {rows}"
    " ON CONFLICT (ref) DO UPDATE"
    " SET network_minor = COALESCE(recon_refs.network_minor, 0) + excluded.network_minor"
)
_ROWS_PER_STATEMENT = 500  # 1,500 parameters, well under SQLite's limit
_BATCH = 50_000  # rows read from the file at a time


def _load_clearing(conn: Connection, lines: Iterator[tuple[str, str, int]]) -> None:
    """Add the clearing file's lines to their references' network amounts."""
    if conn.dialect.paramstyle != "qmark":
        one = _LOAD.format(rows="(%s, %s, %s)")
        while batch := list(islice(lines, _BATCH)):
            conn.exec_driver_sql(one, batch)
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    many = _LOAD.format(rows=", ".join(["(?, ?, ?)"] * _ROWS_PER_STATEMENT))
    while batch := list(islice(lines, _ROWS_PER_STATEMENT)):
        if len(batch) < _ROWS_PER_STATEMENT:  # the file's last rows
            many = _LOAD.format(rows=", ".join(["(?, ?, ?)"] * len(batch)))
        cursor.execute(many, list(chain.from_iterable(batch)))
    cursor.close()


@dataclass(frozen=True)
class Item:
    network_ref: str
    org: str | None
    merchant_id: int | None
    host_minor: int  # what the books say the network owes for it
    network_minor: int  # what the network's clearing file says
    status: MatchStatus

    @classmethod
    def of(cls, row: ReconciliationItem) -> Item:
        return cls(row.network_ref, row.org, row.merchant_id, row.host_minor,
                   row.network_minor, row.status)  # fmt: skip


@dataclass(frozen=True)
class ItemRecord(Item):
    """A difference kept by a day's reconciliation, with its id (for lists that page)
    and the MID of the merchant concerned, when known."""

    id: int
    mid: str | None


@dataclass(frozen=True)
class Reconciliation:
    business_date: date
    matched: int
    problems: list[Item]
    held: list[int]  # merchant ids put on hold by this run


class ReconciliationService:
    def __init__(self, ctx: Context, days: BusinessDays) -> None:
        self.ctx = ctx
        self.days = days

    def journal(self) -> ClearingJournal:
        return ClearingJournal(self.ctx.settings.network_directory(), self.days.open_date)

    def run(self, day: date) -> Reconciliation:
        """Match the day once; a second run reports what the first found."""
        self.days.check_closed(day)
        with self.ctx.db.transaction() as s:
            done = s.get(ReconciliationRun, day)
            if done is not None:
                kept = s.scalars(
                    select(ReconciliationItem)
                    .where(ReconciliationItem.business_date == day)
                    .order_by(ReconciliationItem.network_ref)
                ).all()
                return Reconciliation(day, done.matched, [Item.of(i) for i in kept], [])
            matched, problems = self._compare(s, day)
            s.add(ReconciliationRun(business_date=day, matched=matched, problems=len(problems),
                                    at=self.ctx.now()))  # fmt: skip
            if problems:
                s.execute(
                    insert(ReconciliationItem),
                    [{"business_date": day, "network_ref": i.network_ref, "org": i.org,
                      "merchant_id": i.merchant_id, "host_minor": i.host_minor,
                      "network_minor": i.network_minor, "status": i.status} for i in problems],
                )  # fmt: skip
            held = self._hold(s, day, {i.merchant_id for i in problems} - {None})
            return Reconciliation(day, matched, problems, held)

    def items(self, day: date, *, after_id: int = 0, limit: int = 100) -> list[ItemRecord]:
        """The differences a day's reconciliation kept, in id order, after ``after_id``."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            return [
                ItemRecord(i.network_ref, i.org, i.merchant_id, i.host_minor, i.network_minor,
                           i.status, i.id, mid)
                for i, mid in s.execute(
                    select(ReconciliationItem, Merchant.mid)
                    .outerjoin(Merchant, Merchant.id == ReconciliationItem.merchant_id)
                    .where(ReconciliationItem.business_date == day,
                           ReconciliationItem.id > after_id)
                    .order_by(ReconciliationItem.id)
                    .limit(limit)
                )
            ]  # fmt: skip

    def _compare(self, s: Session, day: date) -> tuple[int, list[Item]]:
        """The day's references on both sides, compared in the database: how many match,
        and those that do not. Neither side is ever held in memory whole."""
        conn = s.connection()
        _REFS.drop(conn, checkfirst=True)
        _REFS.create(conn)
        host = _LOAD_HOST_SQLITE if conn.dialect.name == "sqlite" else _LOAD_HOST_GROUPED
        conn.execute(
            text(host).bindparams(bindparam("day", type_=Date)),
            {"day": day, "capture": EntryKind.CAPTURE.value,
             "undone": EntryKind.CAPTURE_UNDONE.value, "refund": EntryKind.REFUND.value},
        )  # fmt: skip
        _load_clearing(conn, self.journal().rows(day))
        r = _REFS.c
        # A side with no line owes nothing: a call the host reversed at the network
        # before recording it (+X, -X there, nothing here) is settled, not missing.
        equal = func.coalesce(r.host_minor, 0) == func.coalesce(r.network_minor, 0)
        matched = conn.scalar(select(func.count()).select_from(_REFS).where(equal)) or 0
        owner = select(Payment.merchant_id).where(Payment.rrn == r.ref).scalar_subquery()
        problems = [
            Item(ref, org, merchant, ours or 0, theirs or 0,
                 MatchStatus.MISSING_AT_NETWORK if theirs is None
                 else MatchStatus.MISSING_AT_HOST if ours is None
                 else MatchStatus.AMOUNT_MISMATCH)
            for ref, org, merchant, ours, theirs in conn.execute(
                select(r.ref, r.org, func.coalesce(r.merchant_id, owner), r.host_minor,
                       r.network_minor)
                .where(~equal)
                .order_by(r.ref)
            )
        ]  # fmt: skip
        _REFS.drop(conn)
        return int(matched), problems

    def _hold(self, s: Session, day: date, merchants: set[int | None]) -> list[int]:
        """Hold every merchant concerned by a difference that is not held already."""
        held = []
        for merchant_id in sorted(m for m in merchants if m is not None):
            if not s.scalar(
                select(PayoutHold.id).where(
                    PayoutHold.merchant_id == merchant_id, PayoutHold.released_at.is_(None)
                )
            ):
                s.add(
                    PayoutHold(
                        merchant_id=merchant_id,
                        reason=reconciliation_reason(day),
                        held_by=RECONCILIATION,
                        held_at=self.ctx.now(),
                    )
                )
                held.append(merchant_id)
        return held
