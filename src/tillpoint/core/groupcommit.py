"""Group commit: many callers' durable writes share one transaction and one fsync.

A payment's answer goes out only after its record is durable. Committing each record
alone costs one fsync per payment, which caps a host at a few hundred payments a
second; sharing one transaction among everything that is waiting reaches thousands,
with no added delay when the host is quiet (a lone job is committed at once: batches
form only while a commit is running).

The committer lives on the caller's event loop. Taking the write lock (``BEGIN``) and
the commit (the fsync) run in a thread of the committer's own, so the loop serves other
terminals while the disk works; the jobs themselves run on the loop, between those two steps.
Jobs are short (a few prebuilt inserts), and running them on the loop spares every
statement a round trip through the GIL to another thread, which under load costs far
more than the statement. A bulk job (``submit_bulk``) goes further: the jobs of a
batch that share a writer are written by one call of it, so one multi-row statement
per table serves the whole batch.

When a job fails, the batch rolls back and each of its jobs runs again in a transaction
of its own, so that the failing job fails alone; a job must therefore only write
through its session (it may run twice). The queue is bounded: when it is full,
``submit`` refuses at once (``Overloaded``) rather than letting latency grow without
limit.

A bulk writer writes its rows with ``HotWrite``s (an INSERT or UPDATE compiled once,
run as one ``executemany`` on the driver) and takes the ids of new rows beforehand with
``new_ids``, so that rows which refer to each other go in one statement per table.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Insert, Update, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.core.errors import Refused, invariant
from tillpoint.core.i18n import N_

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741  (an item of a bulk job)

#: Writes many items in one go; gives one result per item, in order.
BulkWriter = Callable[[Session, Sequence[Any]], Sequence[Any]]


class Overloaded(Refused):
    """Too many writes are waiting: the caller should answer 'system busy' now."""


class Stopped(RuntimeError):
    """The committer was stopped: no new writes are taken."""


@dataclass
class _Job:
    future: asyncio.Future[Any]
    work: Callable[[Session], Any] | None = None  # a job of its own, or
    writer: BulkWriter | None = None  # an item that ``writer`` writes with others
    item: Any = None


@dataclass
class _Lane:
    """What one event loop has waiting, whether its flush is running, and the thread
    that takes the lock and commits for it. A thread of its own: in the shared pool it
    could queue behind threads that wait for the very lock this lane holds."""

    pending: list[_Job] = field(default_factory=list)
    flushing: asyncio.Task[None] | None = None  # kept: the loop holds tasks weakly
    thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="group-commit")
    )


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = 512, max_queue: int = 20_000) -> None:
        self.db = db
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Lane] = (
            weakref.WeakKeyDictionary()
        )
        self._stopped = False
        self.commits = 0  # for benchmarks and tests
        self.jobs = 0

    def stop(self) -> None:
        """Take no new writes; those already submitted are still committed."""
        self._stopped = True

    async def submit(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a shared transaction; return its result once committed."""
        result: T = await self._enqueue(lambda future: _Job(future, work=work))
        return result

    async def submit_bulk(
        self, writer: Callable[[Session, Sequence[I]], Sequence[T]], item: I
    ) -> T:
        """Have ``writer`` write ``item`` together with the other items of the batch
        that name the same writer; return the item's result once committed."""
        result: T = await self._enqueue(lambda future: _Job(future, writer=writer, item=item))
        return result

    async def _enqueue(self, make: Callable[[asyncio.Future[Any]], _Job]) -> Any:
        if self._stopped:
            raise Stopped("the group committer was stopped")
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane()
        if len(lane.pending) >= self.max_queue:
            raise Overloaded("db.overloaded", N_("Too many writes are waiting; try again"))
        job = make(loop.create_future())
        lane.pending.append(job)
        if lane.flushing is None:
            lane.flushing = loop.create_task(self._flush(lane))
        return await job.future

    async def _flush(self, lane: _Lane) -> None:
        try:
            while lane.pending:
                batch = lane.pending[: self.max_batch]
                del lane.pending[: self.max_batch]
                await self._commit(lane, batch)
        finally:
            lane.flushing = None

    async def _commit(self, lane: _Lane, batch: list[_Job]) -> None:
        try:
            outcomes = await self._transaction(lane, batch)
        except Exception:
            # One job (or the commit) failed: the whole batch rolled back. Run each job
            # in a transaction of its own, so that only the failing one fails.
            outcomes = []
            for job in batch:
                try:
                    outcomes += await self._transaction(lane, [job])
                except Exception as e:
                    outcomes.append((job, False, e))
        for job, ok, value in outcomes:
            if job.future.cancelled():
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    async def _transaction(self, lane: _Lane, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        loop = asyncio.get_running_loop()
        session = self.db.session()
        try:
            await loop.run_in_executor(lane.thread, session.connection)  # BEGIN: may wait
            results = _run(session, batch)
            await loop.run_in_executor(lane.thread, session.commit)  # the fsync
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        self.commits += 1
        self.jobs += len(batch)
        return results


def _run(session: Session, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
    """Each job in order; consecutive bulk jobs of one writer in one call of it."""
    results: list[tuple[_Job, bool, Any]] = []
    i = 0
    while i < len(batch):
        job = batch[i]
        if job.writer is None:
            assert job.work is not None
            results.append((job, True, job.work(session)))
            i += 1
            continue
        end = i + 1
        while end < len(batch) and batch[end].writer == job.writer:
            end += 1
        group = batch[i:end]
        written = job.writer(session, [j.item for j in group])
        results += [(j, True, value) for j, value in zip(group, written, strict=True)]
        i = end
    return results


class HotWrite:
    """An INSERT or UPDATE that a bulk writer runs with many rows: compiled once per
    dialect and, on SQLite, run as one ``executemany`` on the driver's connection, each
    value converted by its column's own type processor (as ``HotRead`` reads). Building
    and compiling a statement, and SQLAlchemy's work per execution, cost more than the
    rows themselves; elsewhere than SQLite the statement simply runs as an executemany.

    A row is a tuple of values in the order of ``keys``: the columns an INSERT writes,
    or an UPDATE's columns to set and the names of its ``bindparam``s."""

    def __init__(self, statement: Insert | Update, keys: Sequence[str]) -> None:
        self.statement = statement
        self.keys = tuple(keys)
        self._compiled: dict[str, tuple[str, list[tuple[int, Any]]]] = {}

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Write ``rows``; gives how many rows the statement changed."""
        if not rows:
            return 0
        dialect = conn.dialect
        if dialect.name != "sqlite":
            params = [dict(zip(self.keys, row, strict=True)) for row in rows]
            if len(params) > 1 and not dialect.supports_sane_multi_rowcount:  # pragma: no cover
                return sum(conn.execute(self.statement, p).rowcount for p in params)
            count = int(conn.execute(self.statement, params).rowcount)
            # psycopg's batched INSERT (insertmanyvalues) reports no count (-1): an
            # INSERT that did not raise wrote every row.
            return len(rows) if count < 0 and self.statement.is_insert else count
        sql, slots = self._compiled.get(dialect.name) or self._compile(dialect)
        values = [
            tuple(row[i] if process is None else process(row[i]) for i, process in slots)
            for row in rows
        ]
        raw = conn.connection.dbapi_connection
        assert raw is not None
        try:
            return int(raw.executemany(sql, values).rowcount)
        except dialect.loaded_dbapi.Error as e:  # as SQLAlchemy raises it (IntegrityError...)
            raise _wrapped(e, sql, values, dialect) from e

    def _compile(self, dialect: Dialect) -> tuple[str, list[tuple[int, Any]]]:
        compiled = self.statement.compile(dialect=dialect, column_keys=list(self.keys))
        positions = compiled.positiontup
        invariant(positions is not None, "a hot write is compiled with positional parameters")
        assert positions is not None  # for mypy
        slots = []
        for name in positions:
            bind = compiled.binds[name]
            invariant(bind.required and bind.key in self.keys, f"{name} is one of the row's keys")
            # The dialect's own type, as SQLAlchemy converts it (a TypeDecorator's impl
            # for SQLite formats a time as text; the generic one would leave it to the
            # driver's adapter, which writes another text).
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            slots.append((self.keys.index(bind.key), process))
        self._compiled[dialect.name] = (compiled.string, slots)
        return compiled.string, slots


def new_ids(conn: Connection, table: str, count: int) -> list[int]:
    """Ids for ``count`` new rows of the table named ``table`` (its integer key ``id``),
    taken before the rows are written so that other rows can refer to them in the same
    statement. On
    SQLite the writer holds the write lock (``BEGIN IMMEDIATE``): the next ids are those
    after the largest, as SQLite itself would give them. Elsewhere they come from the
    column's sequence, as an insert would take them."""
    if count <= 0:
        return []
    if conn.dialect.name == "sqlite":
        [(top,)] = raw_execute(conn, f"SELECT max(id) FROM {table}", ())  # noqa: S608
        start = int(top or 0) + 1
        return list(range(start, start + count))
    rows = conn.execute(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
        {"table": table, "n": count},
    )
    return sorted(int(i) for (i,) in rows)


def raw_execute(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """A statement run on the driver's connection (SQLite), its rows fetched; an error
    raised as SQLAlchemy raises it (``IntegrityError``...)."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    try:
        return list(raw.execute(sql, params).fetchall())
    except conn.dialect.loaded_dbapi.Error as e:
        raise _wrapped(e, sql, params, conn.dialect) from e


def _wrapped(error: Exception, sql: str, params: Any, dialect: Dialect) -> Exception:
    return DBAPIError.instance(sql, params, error, dialect.loaded_dbapi.Error, dialect=dialect)
