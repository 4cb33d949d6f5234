"""What the console's home shows beside the payment figures: open applications, the
state of the business days and the payout holds in force. Small reads: a count over the
merchants' status index, the newest rows of the days' tables, a count of open holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from tillpoint.clearing.models import BusinessDay, PayoutHold, ReconciliationRun
from tillpoint.context import Context
from tillpoint.merchants.models import Merchant, MerchantStatus

OPEN_APPLICATIONS = (MerchantStatus.SUBMITTED, MerchantStatus.UNDER_REVIEW)


@dataclass(frozen=True)
class DayStatus:
    open_day: date
    last_closed: date | None
    last_reconciled: date | None
    last_settled: date | None
    unsettled: int  # closed days whose settlement has not run yet


def applications_by_state(ctx: Context) -> dict[MerchantStatus, int]:
    """How many applications wait, per state (every open state, zero included)."""
    with ctx.db.read() as s:
        rows = s.execute(
            select(Merchant.status, func.count())
            .where(Merchant.status.in_(OPEN_APPLICATIONS))
            .group_by(Merchant.status)
        ).all()
    counts = {status: int(n) for status, n in rows}
    return {state: counts.get(state, 0) for state in OPEN_APPLICATIONS}


def day_status(ctx: Context, open_day: date) -> DayStatus:
    with ctx.db.read() as s:
        last_closed = s.scalar(select(func.max(BusinessDay.business_date)))
        last_settled = s.scalar(
            select(func.max(BusinessDay.business_date)).where(BusinessDay.settled_at.is_not(None))
        )
        unsettled = s.scalar(
            select(func.count()).select_from(BusinessDay).where(BusinessDay.settled_at.is_(None))
        )
        last_reconciled = s.scalar(select(func.max(ReconciliationRun.business_date)))
    return DayStatus(open_day, last_closed, last_reconciled, last_settled, int(unsettled or 0))


def open_holds(ctx: Context) -> int:
    """How many merchants' payouts are held now."""
    with ctx.db.read() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(PayoutHold).where(PayoutHold.released_at.is_(None))
            )
            or 0
        )
