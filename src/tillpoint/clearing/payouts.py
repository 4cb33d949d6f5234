"""A merchant's payouts as the merchant reads them: what it is paid next and when, each
settlement's payout state, and a hold in force worded for the merchant (the portal's
settlements page and its home read these; operations read ``SettlementService``).

The next payout is, in this order:

- **scheduled**: the payouts instructed to the bank (settlements ``paid``) whose payout
  date is today or later, the earliest date's (a Friday's, Saturday's and Sunday's all
  fall on Monday: their sum);
- **held**: with nothing scheduled and a hold in force, what the hold keeps back and what
  the days not settled yet will add to it (the estimate below); no date: it is paid the
  next business day after operations release it;
- **expected**: with nothing scheduled or held, an estimate from the days not settled
  yet (the open day's takings so far, a closed day's whose run has not come): the first
  such day's net (sales less voids, refunds and fees) after paying off what earlier
  negative days left owing, due the next business day after it. A terminal data fee
  that falls due on that day, or a hold put on before its settlement, can still lower
  it: the settlement decides;
- **nothing**: none of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tillpoint.clearing.days import next_business_day
from tillpoint.clearing.models import BusinessDay, PayoutHold, Settlement, SettlementStatus
from tillpoint.core.money import DEFAULT_CURRENCY
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind, JournalLine
from tillpoint.merchants.models import Merchant

RECONCILIATION = "reconciliation"  # who holds a merchant a day's reconciliation concerns
_CHECKED_DAY = re.compile(r"reconciliation of (\d{4}-\d{2}-\d{2}) does not match")
_MOVEMENTS = (EntryKind.CAPTURE, EntryKind.CAPTURE_UNDONE, EntryKind.REFUND)


class PayoutState(StrEnum):
    """Where a payout is, for the merchant."""

    SCHEDULED = "scheduled"  # instructed to the bank, due on its payout date (today or later)
    PAID = "paid"  # its payout date has passed: the bank has paid it
    HELD = "held"  # kept back by a hold until operations release it
    NOTHING = "nothing"  # nothing to pay: zero, or a negative day carried forward
    EXPECTED = "expected"  # not settled yet: an estimate from the takings so far


class HoldCause(StrEnum):
    RECONCILIATION = "reconciliation"  # a day's payments differ from a network's file
    OPERATIONS = "operations"  # operations held the payouts, with a reason


@dataclass(frozen=True)
class NextPayout:
    """What the merchant is paid next (minor units): see the module's doc."""

    mid: str
    state: PayoutState  # scheduled, held, expected or nothing
    amount_minor: int
    currency: str
    payout_date: date | None  # none while held, or with nothing to pay
    business_dates: tuple[date, ...]  # the business days it pays for


@dataclass(frozen=True)
class HoldNotice:
    """A hold in force, as the merchant is told of it: since when, why (a day being
    checked with the networks, or operations' own words), and what it keeps back. Who
    at the acquirer put it on is not said."""

    since: datetime
    cause: HoldCause
    checked_day: date | None  # the business day under check (a reconciliation's hold)
    reason: str | None  # operations' reason (an operations hold)
    held_minor: int
    settlements_held: int
    currency: str = DEFAULT_CURRENCY


def reconciliation_reason(day: date) -> str:
    """The reason of the hold a day's reconciliation puts on a merchant it concerns."""
    return f"reconciliation of {day.isoformat()} does not match"


def payout_state(status: SettlementStatus, payout_date: date | None, today: date) -> PayoutState:
    """A settlement's payout state on ``today``."""
    if status is SettlementStatus.PAID:
        return PayoutState.SCHEDULED if payout_date and payout_date >= today else PayoutState.PAID
    return PayoutState.HELD if status is SettlementStatus.HELD else PayoutState.NOTHING


def next_payout(s: Session, m: Merchant, today: date, holidays: frozenset[date]) -> NextPayout:
    """The merchant's next payout on ``today`` (see the module's doc)."""
    mid = m.mid or ""
    scheduled = s.execute(
        select(Settlement.payout_date, Settlement.business_date, Settlement.payout_minor,
               Settlement.currency)
        .where(Settlement.merchant_id == m.id, Settlement.status == SettlementStatus.PAID,
               Settlement.payout_date >= today, Settlement.payout_minor > 0)
        .order_by(Settlement.payout_date, Settlement.business_date)
    ).all()  # fmt: skip
    if scheduled:
        first = scheduled[0].payout_date
        rows = [r for r in scheduled if r.payout_date == first]
        days = tuple(r.business_date for r in rows)
        return NextPayout(mid, PayoutState.SCHEDULED, sum(r.payout_minor for r in rows),
                          rows[0].currency, first, days)  # fmt: skip
    expected = _expected(s, m, holidays)
    held = s.execute(
        select(Settlement.business_date, Settlement.payout_minor)
        .where(Settlement.merchant_id == m.id, Settlement.status == SettlementStatus.HELD)
        .order_by(Settlement.business_date)
    ).all()
    in_force = PayoutHold.merchant_id == m.id, PayoutHold.released_at.is_(None)
    if held or s.scalar(select(PayoutHold.id).where(*in_force)) is not None:
        # The days not settled yet will be held too.
        amount = sum(r.payout_minor for r in held) + expected.amount_minor
        days = tuple(r.business_date for r in held) + expected.business_dates
        return NextPayout(mid, PayoutState.HELD, amount, DEFAULT_CURRENCY, None, days)
    return expected


def _expected(s: Session, m: Merchant, holidays: frozenset[date]) -> NextPayout:
    """The estimate from the days not settled yet: the merchant's payable account's
    lines after its last settled day (one range of the lines' account index), netted
    day by day against what earlier days left owing, as the settlement run nets them."""
    mid = m.mid or ""
    last_settled = max(
        (
            d
            for d in (
                s.scalar(select(func.max(BusinessDay.business_date))
                         .where(BusinessDay.settled_at.is_not(None))),
                s.scalar(select(func.max(Settlement.business_date))
                         .where(Settlement.merchant_id == m.id)),
            )
            if d is not None
        ),
        default=None,
    )  # fmt: skip
    query = (
        select(JournalLine.business_date, -func.sum(JournalLine.amount_minor))
        .where(JournalLine.account_code == ledger.payable(mid), JournalLine.kind.in_(_MOVEMENTS))
        .group_by(JournalLine.business_date)
        .order_by(JournalLine.business_date)
    )
    if last_settled is not None:
        query = query.where(JournalLine.business_date > last_settled)
    owed = int(
        s.scalar(
            select(func.sum(JournalLine.amount_minor)).where(
                JournalLine.account_code == ledger.carried(mid)
            )
        )
        or 0
    )  # what earlier negative days left the merchant owing
    for day, movement in s.execute(query).all():
        net = int(movement or 0)
        if net < 0:
            owed -= net
            continue
        applied = min(owed, net)
        owed -= applied
        if net > applied:
            return NextPayout(mid, PayoutState.EXPECTED, net - applied, DEFAULT_CURRENCY,
                              next_business_day(day, holidays), (day,))  # fmt: skip
    return NextPayout(mid, PayoutState.NOTHING, 0, DEFAULT_CURRENCY, None, ())


def hold_notice(s: Session, m: Merchant) -> HoldNotice | None:
    """The merchant's hold in force, worded for it, if any."""
    hold = s.scalars(
        select(PayoutHold)
        .where(PayoutHold.merchant_id == m.id, PayoutHold.released_at.is_(None))
        .order_by(PayoutHold.id)
    ).first()
    if hold is None:
        return None
    total, n = s.execute(
        select(func.sum(Settlement.payout_minor), func.count()).where(
            Settlement.merchant_id == m.id, Settlement.status == SettlementStatus.HELD
        )
    ).one()
    kept, count = int(total or 0), int(n)
    checked = _CHECKED_DAY.fullmatch(hold.reason) if hold.held_by == RECONCILIATION else None
    if checked is not None:
        day = date.fromisoformat(checked.group(1))
        return HoldNotice(hold.held_at, HoldCause.RECONCILIATION, day, None, kept, count)
    return HoldNotice(hold.held_at, HoldCause.OPERATIONS, None, hold.reason, kept, count)
