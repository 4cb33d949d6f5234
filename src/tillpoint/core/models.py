"""Tables every domain shares: named counters and the installation's own state."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from tillpoint.core.db import Base


class Counter(Base):
    """A named monotonic counter (MID sequences, TID allocation)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class SystemState(Base):
    """Facts about this installation, e.g. which master key its secrets are under."""

    __tablename__ = "system_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


def next_counter(session: Session, name: str, start: int = 1) -> int:
    """Take the next value of a counter. Row-locked on PostgreSQL; SQLite writers are
    already serialised by ``BEGIN IMMEDIATE``."""
    row = session.execute(
        select(Counter).where(Counter.name == name).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        session.add(Counter(name=name, value=start))
        session.flush()
        return start
    row.value += 1
    return row.value


def reserve_counter(session: Session, name: str, count: int) -> int:
    """Take ``count`` consecutive values at once; the first of them."""
    row = session.execute(
        select(Counter).where(Counter.name == name).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        session.add(Counter(name=name, value=count))
        session.flush()
        return 1
    first = row.value + 1
    row.value += count
    return first


def next_rrn(session: Session) -> str:
    """A retrieval reference number (field 37): 12 digits, unique for this acquirer."""
    return f"{next_counter(session, 'rrn'):012d}"
