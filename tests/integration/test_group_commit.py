"""Group commit: shared commits, per-job isolation, durability before the answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    select,
    text,
)
from sqlalchemy import insert as sql_insert
from sqlalchemy.orm import Session

from tillpoint.core.db import Database, DecimalText, UTCDateTime, str_enum
from tillpoint.core.groupcommit import GroupCommitter, HotWrite, Overloaded, Stopped
from tillpoint.payments.models import PaymentStatus


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def insert(name: str, value: int = 1):  # type: ignore[no-untyped-def]
    def work(s: Session) -> str:
        s.execute(
            text("INSERT INTO counters (name, value) VALUES (:n, :v)"), {"n": name, "v": value}
        )
        return name

    return work


def names(db: Database) -> set[str]:
    with db.engine.connect() as c:
        return {
            r[0] for r in c.execute(text("SELECT name FROM counters WHERE name <> 'risk_rules'"))
        }


def test_many_jobs_share_few_commits_and_each_is_durable_when_answered(db: Database) -> None:
    gc = GroupCommitter(db)

    async def main() -> None:
        async def one(i: int) -> None:
            assert await gc.submit(insert(f"job{i}")) == f"job{i}"
            # Answered means committed: another connection sees it now.
            with db.engine.connect() as c:
                seen = c.execute(
                    text("SELECT count(*) FROM counters WHERE name = :n"), {"n": f"job{i}"}
                )
                assert seen.scalar_one() == 1

        await asyncio.gather(*(one(i) for i in range(300)))

    asyncio.run(main())
    assert len(names(db)) == 300
    assert gc.jobs == 300 and gc.commits < 300  # batches formed


def test_a_failing_job_fails_alone(db: Database) -> None:
    gc = GroupCommitter(db)

    async def main() -> list[object]:
        jobs = [
            insert("a"),
            insert("dup"),
            insert("dup"),
            insert("b"),
        ]  # the second dup breaks the PK
        return await asyncio.gather(*(gc.submit(j) for j in jobs), return_exceptions=True)

    results = asyncio.run(main())
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert names(db) == {"a", "b", "dup"}


def test_the_queue_is_bounded(db: Database) -> None:
    gc = GroupCommitter(db, max_queue=1)

    async def main() -> list[object]:
        # Both are submitted in one turn of the loop, before the first batch is taken.
        jobs = [asyncio.ensure_future(gc.submit(insert(n))) for n in ("queued", "refused")]
        return await asyncio.gather(*jobs, return_exceptions=True)

    first, second = asyncio.run(main())
    assert first == "queued" and isinstance(second, Overloaded)
    assert names(db) == {"queued"}


def test_bulk_jobs_of_one_writer_are_written_in_one_call(db: Database) -> None:
    gc = GroupCommitter(db)
    calls: list[int] = []

    def write_many(s: Session, items: Sequence[str]) -> list[str]:
        calls.append(len(items))
        s.execute(
            text("INSERT INTO counters (name, value) VALUES (:n, 1)"), [{"n": i} for i in items]
        )
        return [i.upper() for i in items]

    async def main() -> list[str]:
        return await asyncio.gather(*(gc.submit_bulk(write_many, f"b{i}") for i in range(50)))

    assert asyncio.run(main()) == [f"B{i}" for i in range(50)]
    assert len(names(db)) == 50 and sum(calls) == 50 and len(calls) < 50


def test_a_failing_bulk_item_fails_alone(db: Database) -> None:
    gc = GroupCommitter(db)

    def write_many(s: Session, items: Sequence[str]) -> list[str]:
        s.execute(
            text("INSERT INTO counters (name, value) VALUES (:n, 1)"), [{"n": i} for i in items]
        )
        return list(items)

    async def main() -> list[object]:
        items = ["x", "same", "same", "y"]
        return await asyncio.gather(
            *(gc.submit_bulk(write_many, i) for i in items), return_exceptions=True
        )

    results = asyncio.run(main())
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert names(db) == {"x", "same", "y"}


def test_stop_refuses_new_writes_and_finishes_those_submitted(db: Database) -> None:
    gc = GroupCommitter(db)

    async def main() -> None:
        futures = [asyncio.ensure_future(gc.submit(insert(f"late{i}"))) for i in range(20)]
        await asyncio.sleep(0)
        gc.stop()
        with pytest.raises(Stopped):
            await gc.submit(insert("after"))
        await asyncio.gather(*futures)

    asyncio.run(main())
    assert len(names(db)) == 20


def test_each_event_loop_has_its_own_lane(db: Database) -> None:
    """The API's test client and the host may run on different loops in one process."""
    gc = GroupCommitter(db)

    async def some(prefix: str) -> None:
        await asyncio.gather(*(gc.submit(insert(f"{prefix}{i}")) for i in range(10)))

    threads = [threading.Thread(target=lambda p=p: asyncio.run(some(p))) for p in "pq"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names(db)) == 20


def test_threads_waiting_for_the_lock_do_not_hold_up_the_commit(db: Database) -> None:
    """The commit has a thread of its own: were it to wait its turn in the loop's shared
    pool behind threads that wait for the lock it holds, neither side could go on (until
    the lock's time-out failed them)."""
    gc = GroupCommitter(db)
    waiting: list[asyncio.Future[None]] = []

    def write_elsewhere(name: str) -> None:
        with db.transaction() as s:  # BEGIN IMMEDIATE: waits for the committer's lock
            s.execute(text("INSERT INTO counters (name, value) VALUES (:n, 1)"), {"n": name})

    def job(s: Session) -> None:
        loop = asyncio.get_running_loop()
        waiting.extend(loop.run_in_executor(None, write_elsewhere, f"w{i}") for i in range(2))
        s.execute(text("INSERT INTO counters (name, value) VALUES ('job', 1)"))

    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        await gc.submit(job)
        await asyncio.gather(*waiting)

    asyncio.run(main())
    assert names(db) == {"job", "w0", "w1"}


def test_a_hot_write_writes_what_sqlalchemy_writes(db: Database) -> None:
    """Values of every kind a payment has (aware times, dates, enums, JSON, booleans,
    decimals as text) are stored exactly as SQLAlchemy's own insert stores them."""
    metadata = MetaData()
    table = Table(
        "hot_write_probe", metadata,
        Column("id", Integer, primary_key=True), Column("at", UTCDateTime()),
        Column("day", Date), Column("status", str_enum(PaymentStatus)), Column("answer", JSON),
        Column("flag", Boolean), Column("minor", BigInteger), Column("rate", DecimalText()),
        Column("note", String(20)),
    )  # fmt: skip
    metadata.create_all(db.engine)
    keys = ("id", "at", "day", "status", "answer", "flag", "minor", "rate", "note")
    at = datetime(2026, 12, 5, 23, 45, tzinfo=timezone(timedelta(hours=8)))  # microsecond 0
    values = (at, date(2026, 12, 5), PaymentStatus.APPROVED, {"rrn": "1", "balanced": None},
              True, 2**40, Decimal("0.3800"), None)  # fmt: skip
    with db.transaction() as s:
        assert HotWrite(sql_insert(table), keys).run(s.connection(), [(1, *values)]) == 1
        s.execute(sql_insert(table).values(dict(zip(keys, (2, *values), strict=True))))
    with db.engine.connect() as c:
        hot, ours = (tuple(r)[1:] for r in c.execute(select(table).order_by(table.c.id)))
        assert hot == ours
        raw = c.exec_driver_sql("SELECT at, day, status, answer, flag, rate FROM hot_write_probe")
        first, second = raw.all()
        assert first == second
