"""Terminal data fees (流量费): a yearly fee per terminal in service, free for the plan's
first days after activation, deducted by the settlement of the day it falls due (or the
first settlement after)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillpoint.clearing.models import DataFeeCharge
from tillpoint.core.clock import business_date
from tillpoint.merchants.fees import plan_in_force
from tillpoint.terminals.models import Terminal


@dataclass(frozen=True)
class Due:
    terminal_id: int
    due_date: date
    amount_minor: int
    currency: str


def due_dates(first: date, until: date) -> list[date]:
    """The yearly due dates from ``first`` up to ``until`` (29 February falls on the 28th
    in other years)."""
    dates: list[date] = []
    year = first.year
    while True:
        try:
            d = first.replace(year=year)
        except ValueError:  # 29 February
            d = date(year, 2, 28)
        if d > until:
            return dates
        dates.append(d)
        year += 1


def fees_due(s: Session, until: date, cutoff: time) -> dict[int, list[Due]]:
    """Per merchant, every data fee of its terminals in service due by ``until`` and not
    charged yet; a terminal's service starts on the business day (``cutoff``) it was
    activated."""
    terminals = s.execute(
        select(Terminal.id, Terminal.merchant_id, Terminal.activated_at).where(
            Terminal.merchant_id.is_not(None), Terminal.activated_at.is_not(None)
        )
    ).all()
    charged = {
        (t, d) for t, d in s.execute(select(DataFeeCharge.terminal_id, DataFeeCharge.due_date))
    }
    due: dict[int, list[Due]] = defaultdict(list)
    for terminal_id, merchant_id, activated_at in terminals:
        if merchant_id is None or activated_at is None:
            continue
        activated = business_date(activated_at, cutoff)
        plan = plan_in_force(s, merchant_id, activated)
        first = activated + timedelta(days=plan.data_fee_free_days)
        for d in due_dates(first, until):
            if (terminal_id, d) in charged:
                continue
            priced = plan_in_force(s, merchant_id, d)
            if priced.data_fee_minor:
                due[merchant_id].append(Due(terminal_id, d, priced.data_fee_minor, priced.currency))
    return dict(due)
