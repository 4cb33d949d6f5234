"""Tables every domain shares: named counters and the installation's own state."""

from __future__ import annotations

from sqlalchemy import BigInteger, String, select
from sqlalchemy.exc import IntegrityError
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


def _locked(session: Session, name: str, first: int) -> Counter | None:
    """The counter's row, locked (row lock on PostgreSQL; SQLite writers are already
    serialised by ``BEGIN IMMEDIATE``); None when this call has just created it with
    ``first``. Two transactions that find no row both insert one: the second waits for
    the first's commit, meets the primary key, and takes the row the first made (under
    a savepoint, so its own transaction goes on)."""
    lock = select(Counter).where(Counter.name == name).with_for_update()
    row = session.execute(lock).scalar_one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(Counter(name=name, value=first))
        return None
    except IntegrityError:
        return session.execute(lock).scalar_one()


def next_counter(session: Session, name: str, start: int = 1) -> int:
    """Take the next value of a counter."""
    row = _locked(session, name, start)
    if row is None:
        return start
    row.value += 1
    return row.value


def reserve_counter(session: Session, name: str, count: int) -> int:
    """Take ``count`` consecutive values at once; the first of them."""
    row = _locked(session, name, count)
    if row is None:
        return 1
    first = row.value + 1
    row.value += count
    return first


def next_rrn(session: Session) -> str:
    """A retrieval reference number (field 37): 12 digits, unique for this acquirer."""
    return f"{next_counter(session, 'rrn'):012d}"
