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

from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    case,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from tillpoint.clearing.days import BusinessDays
from tillpoint.clearing.models import (
    MatchStatus,
    PayoutHold,
    ReconciliationItem,
    ReconciliationRun,
)
from tillpoint.context import Context
from tillpoint.core.errors import Refused
from tillpoint.core.i18n import N_
from tillpoint.ledger.models import EntryKind, JournalEntry
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.payments.models import Payment

# Staging for one comparison, private to the transaction's connection.
_STAGE = MetaData()
_LINES = Table(
    "recon_lines", _STAGE, Column("org", String(3)), Column("ref", String(12)),
    Column("amount_minor", BigInteger), prefixes=["TEMPORARY"],
)  # fmt: skip
_NETWORK = Table(
    "recon_network", _STAGE, Column("ref", String(12), primary_key=True),
    Column("org", String(3)), Column("amount_minor", BigInteger), prefixes=["TEMPORARY"],
)  # fmt: skip
_HOST = Table(
    "recon_host", _STAGE, Column("ref", String(12), primary_key=True), Column("org", String(3)),
    Column("merchant_id", Integer), Column("amount_minor", BigInteger), prefixes=["TEMPORARY"],
)  # fmt: skip
_STAGING = (_LINES, _NETWORK, _HOST)
# The clearing file goes in through the driver's own executemany: its rows are plain.
_LOAD_QMARK = "INSERT INTO recon_lines (org, ref, amount_minor) VALUES (?, ?, ?)"
_LOAD_FORMAT = "INSERT INTO recon_lines (org, ref, amount_minor) VALUES (%s, %s, %s)"
_BATCH = 50_000


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
        if not self.days.is_closed(day):
            raise Refused(
                "settle.day_open",
                N_("Business day {day} is still open: cut it off first"),
                day=day.isoformat(),
            )
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

    def _compare(self, s: Session, day: date) -> tuple[int, list[Item]]:
        """The day's references on both sides, compared in the database: how many match,
        and those that do not. Neither side is ever held in memory whole."""
        conn = s.connection()
        for table in _STAGING:
            table.drop(conn, checkfirst=True)
            table.create(conn)
        load = _LOAD_QMARK if conn.dialect.paramstyle == "qmark" else _LOAD_FORMAT
        batch: list[tuple[str, str, int]] = []
        for row in self.journal().rows(day):
            batch.append(row)
            if len(batch) == _BATCH:
                conn.exec_driver_sql(load, batch)
                batch = []
        if batch:
            conn.exec_driver_sql(load, batch)
        lines = _LINES.c
        conn.execute(
            insert(_NETWORK).from_select(
                ["ref", "org", "amount_minor"],
                select(lines.ref, func.min(lines.org), func.sum(lines.amount_minor)).group_by(
                    lines.ref
                ),
            )
        )
        sign = case((JournalEntry.kind == EntryKind.CAPTURE, 1), else_=-1)
        conn.execute(
            insert(_HOST).from_select(
                ["ref", "org", "merchant_id", "amount_minor"],
                select(Payment.rrn, func.min(Payment.card_org), func.min(Payment.merchant_id),
                       func.sum(sign * Payment.amount_minor))
                .join(JournalEntry, JournalEntry.payment_id == Payment.id)
                .where(
                    JournalEntry.business_date == day,
                    JournalEntry.kind.in_(
                        (EntryKind.CAPTURE, EntryKind.CAPTURE_UNDONE, EntryKind.REFUND)
                    ),
                )
                .group_by(Payment.rrn),
            )
        )  # fmt: skip
        h, n = _HOST.c, _NETWORK.c
        matched = conn.scalar(
            select(func.count()).select_from(_HOST.join(_NETWORK, n.ref == h.ref))
            .where(h.amount_minor == n.amount_minor)
        ) or 0  # fmt: skip
        problems = [
            Item(ref, org, merchant, ours, theirs or 0,
                 MatchStatus.MISSING_AT_NETWORK if theirs is None else MatchStatus.AMOUNT_MISMATCH)
            for ref, org, merchant, ours, theirs in conn.execute(
                select(h.ref, h.org, h.merchant_id, h.amount_minor, n.amount_minor)
                .select_from(_HOST.outerjoin(_NETWORK, n.ref == h.ref))
                .where(n.ref.is_(None) | (n.amount_minor != h.amount_minor))
            )
        ]  # fmt: skip
        owner = select(Payment.merchant_id).where(Payment.rrn == n.ref).scalar_subquery()
        problems += [
            Item(ref, org, merchant, 0, theirs, MatchStatus.MISSING_AT_HOST)
            for ref, org, merchant, theirs in conn.execute(
                select(n.ref, n.org, owner, n.amount_minor)
                .select_from(_NETWORK.outerjoin(_HOST, h.ref == n.ref))
                .where(h.ref.is_(None))
            )
        ]
        for table in _STAGING:
            table.drop(conn)
        return int(matched), sorted(problems, key=lambda i: i.network_ref)

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
                        reason=f"reconciliation of {day} does not match",
                        held_by="reconciliation",
                        held_at=self.ctx.now(),
                    )
                )
                held.append(merchant_id)
        return held
