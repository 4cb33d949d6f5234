"""Database engine, sessions and the unit of work.

SQLite is the embedded default (WAL, foreign keys on, ``synchronous=FULL`` so that a
committed payment survives a power cut, ``BEGIN IMMEDIATE`` so that writers queue
instead of failing on a lock upgrade). PostgreSQL runs the same code.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    create_engine,
    event,
)
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from tillpoint.core.clock import as_utc
from tillpoint.core.errors import invariant
from tillpoint.core.files import create_private
from tillpoint.core.signal import WriteSignal, signal_path

T = TypeVar("T")
_log = logging.getLogger("tillpoint.db")
#: What a unit of work wrote that others listen for (``Database.listen``): its session's
#: ``info`` holds {topic: [item, ...]} under this key until it commits or rolls back.
_WRITTEN = "tillpoint.written"
#: A listener of a topic: (the items committed, the topic's counter before this commit).
Listener = Callable[[list[Any], int], None]
AnySelect = Select[*tuple[Any, ...]]  # a SELECT of any columns
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit id on PostgreSQL; SQLite's INTEGER PRIMARY KEY (its rowid, 64-bit already).
BigId = BigInteger().with_variant(Integer, "sqlite")


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
    path = make_url(url).database

    @event.listens_for(engine, "do_connect")
    def _private(*_args: Any) -> None:
        # SQLite would create a new file (and its -wal, -shm) readable by every local
        # user; payments and keys are for the owner alone.
        if path and path != ":memory:" and not path.startswith("file:"):
            create_private(Path(path))

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
        # Writers take the write lock up front; readers (WAL) never wait for it; an
        # autocommit connection (Database.quick_read) reads each statement on its own.
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        conn.exec_driver_sql("BEGIN" if options.get("readonly") else "BEGIN IMMEDIATE")

    return engine


def _on_event_loop() -> bool:
    """Whether this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Database:
    """Owns the engine; hands out units of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.epoch = 0  # moves on with every write (read caches compare it)
        self._epochs = itertools.count(1)
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._quick: dict[int, Connection] = {}  # Database.quick_read's, by thread
        self._hot: dict[AnySelect, HotRead] = {}
        self._readers = sessionmaker(
            self.engine.execution_options(readonly=True), expire_on_commit=False
        )
        self._signals: dict[str, WriteSignal] = {}
        self._signals_lock = threading.Lock()
        self._listeners: dict[str, list[Listener]] = {}
        event.listen(self._sessions, "after_commit", self._committed)
        event.listen(self._sessions, "after_rollback", _forget_written)

    # --- what other processes wrote -------------------------------------------------

    def signal(self, topic: str) -> WriteSignal:
        """The machine-wide counter of commits that wrote ``topic`` to this database
        (core/signal.py)."""
        found = self._signals.get(topic)
        if found is None:
            with self._signals_lock:
                found = self._signals.get(topic)
                if found is None:
                    found = self._signals[topic] = WriteSignal(signal_path(self.url, topic))
        return found

    def listen(self, topic: str, listener: Listener) -> None:
        """Call ``listener`` after each commit of this process that wrote ``topic``
        (``note_written``), on the committing thread, after the topic's counter is
        raised: with the items written and the counter's value before."""
        self._listeners.setdefault(topic, []).append(listener)

    def _committed(self, session: Session) -> None:
        written: dict[str, list[Any]] | None = session.info.pop(_WRITTEN, None)
        if not written:
            return
        # What was written is committed: nothing here may fail the unit of work (its
        # caller would answer as if it had not been). A counter that could not be raised
        # leaves the other processes to learn of these at the next commit.
        for topic, items in written.items():
            try:
                before = self.signal(topic).bump()
            except OSError as e:
                _after_commit_failed(topic, e)
                continue
            for listener in self._listeners.get(topic, ()):
                try:
                    listener(items, before)
                except Exception as e:  # one listener's bug: the others are still told
                    _after_commit_failed(topic, e)

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

    def session(self) -> Session:
        """A session whose transaction the caller begins, commits and closes itself
        (the group committer, which does the steps on different threads)."""
        return self._sessions()

    @property
    def inline_reads(self) -> bool:
        """Whether a short read is cheaper run on the caller's thread (SQLite: a read
        of the page cache) than handed to a worker thread (a server round trip)."""
        return is_sqlite(self.url)

    @contextmanager
    def quick_read(self) -> Iterator[Connection]:
        """A connection on which each statement reads on its own (autocommit), for the
        terminal host's hot reads: a session's unit of work costs several times the
        statement. On an event loop's thread over SQLite, the connection is kept for the
        next read (an idle autocommit connection holds no snapshot and no lock)."""
        kept = self.inline_reads and _on_event_loop()
        if kept:
            conn = self._quick.get(threading.get_ident())
            if conn is None or conn.closed:
                conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                self._quick[threading.get_ident()] = conn
            yield conn
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def hot(self, statement: AnySelect) -> HotRead:
        """``statement`` prepared as a ``HotRead`` for this database (once)."""
        prepared = self._hot.get(statement)
        if prepared is None:
            prepared = self._hot[statement] = HotRead(statement, self.engine.dialect)
        return prepared

    async def read_now(self, read: Callable[..., T], *args: Any) -> T:
        """A short read from async code: run at once on SQLite, in a worker thread
        elsewhere. (Handing a read of SQLite's page cache to a thread costs more than
        the read: the thread must win the GIL back from the event loop.)"""
        if self.inline_reads:
            return read(*args)
        return await asyncio.to_thread(read, *args)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: on SQLite it does not queue for the write lock."""
        with self._readers() as session, session.begin():
            yield session

    def dispose(self) -> None:
        for conn in list(self._quick.values()):
            conn.close()
        self._quick.clear()
        self.engine.dispose()
        for signal in self._signals.values():
            signal.close()
        self._signals.clear()


def note_written(session: Session, topic: str, items: list[Any]) -> None:
    """``items`` of ``topic`` are written in this unit of work: when it commits, the
    topic's counter is raised and this process's listeners are told (``Database.listen``)."""
    session.info.setdefault(_WRITTEN, {}).setdefault(topic, []).extend(items)


def _after_commit_failed(topic: str, e: Exception) -> None:
    what = {"event": "after_commit_failed", "topic": topic, "why": f"{type(e).__name__}: {e}"}
    _log.error(json.dumps(what))


def _forget_written(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


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
    """Exact decimals (fee rates) stored as text, so no backend can round them; written
    and read without an exponent (``10``, never ``1E+1``: pages and tills read digits)."""

    impl = String(24)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        invariant(isinstance(value, Decimal), "rates are Decimal")
        return f"{value:f}"

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(f"{Decimal(value):f}")


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


class HotRead:
    """A prebuilt SELECT for the terminal host's hot path, run straight on the SQLite
    driver's cursor: compiled once, its parameters and results converted by the
    columns' own type processors. SQLAlchemy's per-execution work (cache lookup,
    parameter processing, result objects) costs several times the statement itself
    (100 µs against 17 µs for a lookup by key); elsewhere than SQLite, or for a
    statement it cannot take (an IN list rendered per execution), it simply executes
    the statement."""

    def __init__(self, statement: AnySelect, dialect: Dialect) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=dialect)
        positions = compiled.positiontup
        self.direct = (
            dialect.name == "sqlite"
            and positions is not None
            and not any(b.expanding for b in compiled.binds.values())
        )
        self.sql = compiled.string
        self._params: list[tuple[str | None, Any, Callable[[Any], Any] | None]] = []
        for name in positions or ():
            bind = compiled.binds[name]
            # The dialect's own type, as SQLAlchemy converts it (a TypeDecorator's
            # generic impl would leave a time to the driver's adapter, another text).
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:  # a bindparam("...") the caller fills
                self._params.append((bind.key, None, process))
            else:  # a value written into the statement
                value = bind.effective_value
                self._params.append((None, process(value) if process else value, None))
        self._results = [
            c.type.dialect_impl(dialect).result_processor(dialect, None)
            for c in statement.selected_columns
        ]
        self._as_read = not any(self._results)  # rows as the driver gives them

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if not self.direct:
            return [tuple(row) for row in conn.execute(self.statement, params)]
        values = tuple(
            value if key is None else process(params[key]) if process else params[key]
            for key, value, process in self._params
        )
        raw = conn.connection.dbapi_connection
        assert raw is not None
        fetched: list[tuple[Any, ...]] = raw.execute(self.sql, values).fetchall()
        if self._as_read:  # sqlite3's rows are tuples already
            return fetched
        return [
            tuple(p(v) if p else v for p, v in zip(self._results, row, strict=True))
            for row in fetched
        ]

    def first(self, conn: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def scalar(self, conn: Connection, params: dict[str, Any]) -> Any:
        row = self.first(conn, params)
        return None if row is None else row[0]
