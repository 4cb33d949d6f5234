"""Database engine, sessions and the unit of work.

SQLite is the embedded default (WAL, foreign keys on, ``synchronous=FULL`` so that a
committed payment survives a power cut, ``BEGIN IMMEDIATE`` so that writers queue
instead of failing on a lock upgrade). PostgreSQL runs the same code.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Dialect, Engine, MetaData, String, create_engine, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from tillpoint.core.clock import as_utc
from tillpoint.core.errors import invariant

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    if url.rstrip("/") != "sqlite:" and ":memory:" not in url:
        # Enough pooled connections for the host's worker threads: an overflow
        # connection is opened (with its pragmas) and closed on every use.
        kwargs.setdefault("pool_size", 16)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front; readers (WAL) never wait for it.
        conn.exec_driver_sql(
            "BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE"
        )

    return engine


class Database:
    """Owns the engine; hands out units of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.epoch = 0  # moves on with every write (read caches compare it)
        self._epochs = itertools.count(1)
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(readonly=True), expire_on_commit=False
        )

    @contextmanager
    def transaction(self, *, invalidate: bool = True) -> Iterator[Session]:
        """One unit of work: commits when the block ends normally, else rolls back all.
        It moves ``epoch`` on, which tells read caches (core/cache.py) that what they
        hold may be stale; writes that change nothing a cache holds (the terminal host's
        payments, RRN blocks) pass ``invalidate=False``."""
        try:
            with self._sessions() as session, session.begin():
                yield session
        finally:
            if invalidate:
                self.epoch = next(self._epochs)  # atomic, unlike += across threads

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: on SQLite it does not queue for the write lock."""
        with self._readers() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        invariant(value.tzinfo is not None, "naive datetime written to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class DecimalText(TypeDecorator[Decimal]):
    """Exact decimals (fee rates) stored as text, so no backend can round them."""

    impl = String(24)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        invariant(isinstance(value, Decimal), "rates are Decimal")
        return str(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def str_enum(enum: type[StrEnum], length: int = 20, name: str | None = None) -> SAEnum:
    """An enum stored as its value in a VARCHAR with a CHECK constraint (portable).
    ``name`` names the constraint where one table holds the same enum twice."""
    return SAEnum(
        enum,
        name=name or enum.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
