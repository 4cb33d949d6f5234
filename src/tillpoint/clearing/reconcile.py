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

from sqlalchemy import case, func, insert, select
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
        """The day's references on both sides: how many match, and those that do not."""
        host = self._booked(s, day)
        network = self.journal().totals(day)
        unknown = [ref for ref in network if ref not in host]  # whose payment was it?
        owners: dict[str, int] = {}
        if unknown:
            query = select(Payment.rrn, Payment.merchant_id).where(Payment.rrn.in_(unknown))
            owners = {rrn: merchant for rrn, merchant in s.execute(query)}  # noqa: C416
        matched, problems = 0, list[Item]()
        for ref in sorted(set(host) | set(network)):
            org_theirs = network.get(ref)
            theirs = org_theirs[1] if org_theirs else 0
            org, merchant, ours = host.get(
                ref, (org_theirs[0] if org_theirs else None, owners.get(ref), 0)
            )
            if ref not in host:
                status = MatchStatus.MISSING_AT_HOST
            elif ref not in network:
                status = MatchStatus.MISSING_AT_NETWORK
            else:
                status = MatchStatus.MATCHED if ours == theirs else MatchStatus.AMOUNT_MISMATCH
            if status is MatchStatus.MATCHED:
                matched += 1
            else:
                problems.append(Item(ref, org, merchant, ours, theirs, status))
        return matched, problems

    @staticmethod
    def _booked(s: Session, day: date) -> dict[str, tuple[str | None, int, int]]:
        """What the day's ledger entries say each network reference owes the acquirer."""
        sign = case((JournalEntry.kind == EntryKind.CAPTURE, 1), else_=-1)
        rows = s.execute(
            select(Payment.rrn, Payment.card_org, Payment.merchant_id,
                   func.sum(sign * Payment.amount_minor))
            .join(JournalEntry, JournalEntry.payment_id == Payment.id)
            .where(
                JournalEntry.business_date == day,
                JournalEntry.kind.in_(
                    (EntryKind.CAPTURE, EntryKind.CAPTURE_UNDONE, EntryKind.REFUND)
                ),
            )
            .group_by(Payment.rrn, Payment.card_org, Payment.merchant_id)
        )  # fmt: skip
        return {rrn: (org, merchant, int(total)) for rrn, org, merchant, total in rows}

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
