"""Business days and the daily cut-off (日切).

A payment belongs to the business day open when it is booked: the clock's date in
Asia/Shanghai, or the next one after the cut-off (23:00 by default, ``TILLPOINT_CUTOFF``).
Operations can close the open day early (``tillpoint settle cutoff``); from then on
payments belong to the day after. A closed day takes nothing more, and only a closed day
can be settled. Under ``tillpoint serve`` the worker closes each day by itself once its
cut-off has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.clearing.models import (
    BusinessDay,
    ReconciliationRun,
    Settlement,
    SettlementStatus,
)
from tillpoint.context import Context, check_actor
from tillpoint.core.cache import ReadCache
from tillpoint.core.clock import business_date
from tillpoint.core.errors import NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.money import DEFAULT_CURRENCY
from tillpoint.core.paging import check_limit
from tillpoint.ledger.models import JournalEntry
from tillpoint.payments.models import IntentState, NetworkIntent

CLOCK = "cut-off"  # who closed a day the clock's cut-off ended (not a person)


def next_business_day(day: date, holidays: frozenset[date]) -> date:
    """The first day after ``day`` that is not a Saturday, Sunday or holiday."""
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5 or nxt in holidays:
        nxt += timedelta(days=1)
    return nxt


class DayState(StrEnum):
    """Where a business day is, from what the services recorded: still taking payments,
    closed (日切), reconciled with the networks' files, or settled (its run finished)."""

    OPEN = "open"
    CLOSED = "closed"
    RECONCILED = "reconciled"
    SETTLED = "settled"


@dataclass(frozen=True)
class DayTotals:
    """A settled day's sums over its merchants' settlement records (minor units)."""

    merchants: int
    transactions: int
    gross_minor: int
    refunds_minor: int
    fees_minor: int
    data_fees_minor: int
    net_minor: int
    paid_minor: int  # the day's settlements' payouts instructed (a hold released later too)
    held_minor: int  # payouts kept back by holds
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True)
class DaySummary:
    business_date: date
    state: DayState
    closed_at: datetime | None
    closed_by: str | None
    reconciled_at: datetime | None
    matched: int | None  # references that matched; none before reconciliation
    problems: int | None  # references that did not
    settled_at: datetime | None
    totals: DayTotals | None  # none until a settlement run has recorded something


class BusinessDays:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._last_closed: ReadCache[str, date | None] = ReadCache(ctx.db)

    def last_closed(self) -> date | None:
        def load() -> date | None:
            with self.ctx.db.read() as s:
                return s.scalar(select(func.max(BusinessDay.business_date)))

        return self._last_closed.get("last", load)

    def open_date(self, at: datetime | None = None) -> date:
        """The business day a payment booked at ``at`` (default: now) belongs to."""
        day = business_date(at or self.ctx.now(), self.ctx.settings.cutoff)
        last = self.last_closed()
        return max(day, last + timedelta(days=1)) if last is not None else day

    def is_closed(self, day: date) -> bool:
        last = self.last_closed()
        return last is not None and day <= last

    def check_closed(self, day: date) -> None:
        """Refuse work that needs the day closed (reconciling it, settling it)."""
        if not self.is_closed(day):
            raise Refused(
                "settle.day_open",
                N_("Business day {day} is still open: cut it off first"),
                day=day.isoformat(),
            )

    def in_flight(self, day: date) -> int:
        """Calls made before ``day`` closed whose answer is not on the books yet: each
        may still be booked on that day (or be reversed), so its settlement waits."""
        with self.ctx.db.read() as s:
            closed_at = s.scalar(
                select(BusinessDay.closed_at).where(BusinessDay.business_date == day)
            )
            if closed_at is None:
                return 0
            return (
                s.scalar(
                    select(func.count())
                    .select_from(NetworkIntent)
                    .where(
                        NetworkIntent.state == IntentState.OPEN,
                        NetworkIntent.created_at <= closed_at,
                    )
                )
                or 0
            )

    def check_landed(self, day: date) -> None:
        """Refuse to reconcile or settle a day while calls made before it closed still
        wait for their network's answer (see ``in_flight``)."""
        if count := self.in_flight(day):
            raise Refused(
                "settle.in_flight",
                N_("{count} payment(s) of {day} still wait for their network's answer: "
                   "settle it again once they are answered or reversed (tillpoint serve "
                   "reverses an unanswered call within a minute)"),
                count=count,
                day=day.isoformat(),
            )  # fmt: skip

    def unsettled(self) -> list[date]:
        """The closed days whose settlement run has not finished, oldest first."""
        with self.ctx.db.read() as s:
            return list(
                s.scalars(
                    select(BusinessDay.business_date)
                    .where(BusinessDay.settled_at.is_(None))
                    .order_by(BusinessDay.business_date)
                )
            )

    def cut_off(self, actor: str, expected: date | None = None) -> date:
        """日切 now: close the open business day and return it. A day the clock's cut-off
        ended that the worker has not closed yet (none runs, or its tick is still to
        come) is closed first, as the worker would: a day is never skipped, so every day
        with payments is settled. With ``expected``, only if that is still the open day:
        a page shown before the day was closed (by the worker, or by someone else) must
        not close the next one."""
        actor = check_actor(actor)
        due = self._due()
        day = self.open_date()
        if expected is not None and day != expected:
            raise Refused(
                "settle.not_open_day",
                N_("{day} is not the open business day ({open} is): nothing was closed"),
                day=expected.isoformat(),
                open=day.isoformat(),
            )
        try:
            with self.ctx.db.transaction() as s:
                now = self.ctx.now()
                for d in due:
                    s.add(BusinessDay(business_date=d, closed_at=now, closed_by=CLOCK))
                s.add(BusinessDay(business_date=day, closed_at=now, closed_by=actor))
        except IntegrityError:  # the worker (or someone else) closed one meanwhile
            raise Refused(
                "settle.closed_meanwhile",
                N_("Business day {day} or one before it was closed meanwhile: nothing was "
                   "closed; look at the open day again"),
                day=day.isoformat(),
            ) from None  # fmt: skip
        return day

    def close_due(self) -> list[date]:
        """Close every day whose cut-off has passed (the worker's tick): the days from the
        one after the last closed up to the one before the clock's business day."""
        due = self._due()
        if due:
            with self.ctx.db.transaction() as s:
                now = self.ctx.now()
                for d in due:
                    s.add(BusinessDay(business_date=d, closed_at=now, closed_by=CLOCK))
        return due

    def _due(self) -> list[date]:
        """The days not closed yet whose cut-off has passed, oldest first."""
        today = business_date(self.ctx.now(), self.ctx.settings.cutoff)
        last = self.last_closed()
        if last is None:  # nothing closed yet: start from the first day anything was booked
            with self.ctx.db.read() as s:
                first = s.scalar(select(func.min(JournalEntry.business_date)))
            if first is None:
                return []
            last = first - timedelta(days=1)
        due = []
        day = last + timedelta(days=1)
        while day < today:
            due.append(day)
            day += timedelta(days=1)
        return due

    # --- reading days -----------------------------------------------------------------

    def history(self, *, before: date | None = None, limit: int = 50) -> list[DaySummary]:
        """Business days newest first: the open one (unless ``before`` is given, for the
        next page), then the closed ones before ``before``. Totals come from the days'
        settlement records, one grouped read over the page's days (their index), never
        from the payments."""
        check_limit(limit)
        query = select(BusinessDay).order_by(BusinessDay.business_date.desc()).limit(limit)
        if before is not None:
            query = query.where(BusinessDay.business_date < before)
        with self.ctx.db.read() as s:
            closed = list(s.scalars(query))
            days = [d.business_date for d in closed]
            runs = {
                r.business_date: r
                for r in s.scalars(
                    select(ReconciliationRun).where(ReconciliationRun.business_date.in_(days))
                )
            }
            totals = _totals(s, days)
            out = [_summary(d, runs.get(d.business_date), totals.get(d.business_date))
                   for d in closed]  # fmt: skip
        if before is None:
            out.insert(0, DaySummary(self.open_date(), DayState.OPEN, None, None, None, None,
                                     None, None, None))  # fmt: skip
            out = out[:limit]
        return out

    def summary(self, day: date) -> DaySummary:
        """One business day: closed, or the open one. A day after the open one is not
        a business day yet."""
        with self.ctx.db.read() as s:
            closed = s.get(BusinessDay, day)
            if closed is not None:
                run = s.get(ReconciliationRun, day)
                return _summary(closed, run, _totals(s, [day]).get(day))
        if day == self.open_date():
            return DaySummary(day, DayState.OPEN, None, None, None, None, None, None, None)
        raise NotFound("day.not_found", N_("{day} is not a business day"), day=day.isoformat())


def _totals(s: Session, days: list[date]) -> dict[date, DayTotals]:
    if not days:
        return {}
    r = Settlement

    def payouts(status: SettlementStatus) -> ColumnElement[int]:
        return func.sum(case((r.status == status, r.payout_minor), else_=0))

    rows = s.execute(
        select(r.business_date, func.count(), func.sum(r.transactions), func.sum(r.gross_minor),
               func.sum(r.refunds_minor), func.sum(r.fees_minor), func.sum(r.data_fees_minor),
               func.sum(r.net_minor), payouts(SettlementStatus.PAID),
               payouts(SettlementStatus.HELD))
        .where(r.business_date.in_(days))
        .group_by(r.business_date)
    ).all()  # fmt: skip
    out = {}
    for day, *values in rows:
        n = [int(v or 0) for v in values]
        out[day] = DayTotals(n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8])
    return out


def _summary(d: BusinessDay, run: ReconciliationRun | None, totals: DayTotals | None) -> DaySummary:
    state = (
        DayState.SETTLED
        if d.settled_at is not None
        else DayState.RECONCILED
        if run is not None
        else DayState.CLOSED
    )
    return DaySummary(
        d.business_date, state, d.closed_at, d.closed_by, run.at if run else None,
        run.matched if run else None, run.problems if run else None, d.settled_at, totals,
    )  # fmt: skip
