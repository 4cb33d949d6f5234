"""Business days and the daily cut-off (日切).

A payment belongs to the business day open when it is booked: the clock's date in
Asia/Shanghai, or the next one after the cut-off (23:00 by default, ``TILLPOINT_CUTOFF``).
Operations can close the open day early (``tillpoint settle cutoff``); from then on
payments belong to the day after. A closed day takes nothing more, and only a closed day
can be settled. Under ``tillpoint serve`` the worker closes each day by itself once its
cut-off has passed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from tillpoint.clearing.models import BusinessDay
from tillpoint.context import Context, check_actor
from tillpoint.core.cache import ReadCache
from tillpoint.core.clock import business_date
from tillpoint.core.errors import Refused
from tillpoint.core.i18n import N_
from tillpoint.ledger.models import JournalEntry


def next_business_day(day: date, holidays: frozenset[date]) -> date:
    """The first day after ``day`` that is not a Saturday, Sunday or holiday."""
    nxt = day + timedelta(days=1)
    while nxt.weekday() >= 5 or nxt in holidays:
        nxt += timedelta(days=1)
    return nxt


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

    def cut_off(self, actor: str) -> date:
        """日切 now: close the open business day and return it."""
        actor = check_actor(actor)
        with self.ctx.db.transaction() as s:
            day = self.open_date()
            s.add(BusinessDay(business_date=day, closed_at=self.ctx.now(), closed_by=actor))
        return day

    def close_due(self) -> list[date]:
        """Close every day whose cut-off has passed (the worker's tick): the days from the
        one after the last closed up to the one before the clock's business day."""
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
        if due:
            with self.ctx.db.transaction() as s:
                now = self.ctx.now()
                for d in due:
                    s.add(BusinessDay(business_date=d, closed_at=now, closed_by="cut-off"))
        return due
