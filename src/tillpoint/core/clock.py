"""An injectable clock: services ask it for the time so tests can move it (cut-off)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from tillpoint.core.errors import invariant

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime) -> None:
        invariant(at.tzinfo is not None, "FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        invariant(at.tzinfo is not None, "FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def as_utc(at: datetime) -> datetime:
    """Datetimes read back from SQLite lose their zone; they were stored as UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


DEFAULT_CUTOFF = time(23, 0)


def business_date(at: datetime, cutoff: time = DEFAULT_CUTOFF, tz: ZoneInfo = BUSINESS_TZ) -> date:
    """The business day an instant belongs to: after the daily cut-off (23:00 Shanghai
    by default) a transaction belongs to the next day."""
    local = at.astimezone(tz)
    return local.date() + timedelta(days=1) if local.time() >= cutoff else local.date()
