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

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from tillpoint.clearing.days import BusinessDays
from tillpoint.clearing.models import MatchStatus, PayoutHold, ReconciliationItem
from tillpoint.context import Context
from tillpoint.core.errors import Refused
from tillpoint.core.i18n import N_
from tillpoint.ledger.models import EntryKind, JournalEntry
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.payments.models import Payment


@dataclass(frozen=True)
class Reconciliation:
    business_date: date
    matched: int
    problems: list[ReconciliationItem]
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
            done = s.scalars(
                select(ReconciliationItem).where(ReconciliationItem.business_date == day)
            ).all()
            if done:
                return _report(day, list(done), [])
            sign = case(
                (JournalEntry.kind == EntryKind.CAPTURE, 1), else_=-1
            )  # undone and refunds take back
            host_rows = s.execute(
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
            ).all()  # fmt: skip
            host = {rrn: (org, merchant, int(total)) for rrn, org, merchant, total in host_rows}
            network: dict[str, int] = defaultdict(int)
            orgs: dict[str, str] = {}
            for line in self.journal().lines(day):
                network[line.ref] += line.amount_minor
                orgs[line.ref] = line.org
            items = []
            for ref in sorted(set(host) | set(network)):
                org, merchant, ours = host.get(ref, (orgs.get(ref), None, 0))
                theirs = network.get(ref, 0)
                if merchant is None:  # only the network has it: whose payment was it?
                    merchant = s.scalar(select(Payment.merchant_id).where(Payment.rrn == ref))
                status = (
                    MatchStatus.MATCHED
                    if ref in host and ref in network and ours == theirs
                    else MatchStatus.MISSING_AT_HOST
                    if ref not in host
                    else MatchStatus.MISSING_AT_NETWORK
                    if ref not in network
                    else MatchStatus.AMOUNT_MISMATCH
                )
                if ref in host and ref in network and ours == 0 == theirs:
                    status = MatchStatus.MATCHED  # a capture undone the same day, both sides
                item = ReconciliationItem(
                    business_date=day, network_ref=ref, org=org, merchant_id=merchant,
                    host_minor=ours, network_minor=theirs, status=status,
                )  # fmt: skip
                s.add(item)
                items.append(item)
            held = []
            troubled = {
                i.merchant_id
                for i in items
                if i.status is not MatchStatus.MATCHED and i.merchant_id is not None
            }
            for merchant_id in sorted(troubled):
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
            return _report(day, items, held)


def _report(day: date, items: list[ReconciliationItem], held: list[int]) -> Reconciliation:
    problems = [i for i in items if i.status is not MatchStatus.MATCHED]
    return Reconciliation(day, len(items) - len(problems), problems, held)
