"""Group commit: shared commits, per-job isolation, durability before the answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.core.groupcommit import GroupCommitter, Overloaded


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
        return {r[0] for r in c.execute(text("SELECT name FROM counters"))}


def test_many_jobs_share_few_commits_and_each_is_durable_when_answered(db: Database) -> None:
    gc = GroupCommitter(db)
    gc.start()

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
    gc.stop()
    assert len(names(db)) == 300
    assert gc.jobs == 300 and gc.commits < 300  # batches formed


def test_a_failing_job_fails_alone(db: Database) -> None:
    gc = GroupCommitter(db)
    gc.start()

    async def main() -> list[object]:
        jobs = [
            insert("a"),
            insert("dup"),
            insert("dup"),
            insert("b"),
        ]  # the second dup breaks the PK
        return await asyncio.gather(*(gc.submit(j) for j in jobs), return_exceptions=True)

    results = asyncio.run(main())
    gc.stop()
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert names(db) == {"a", "b", "dup"}


def test_the_queue_is_bounded(db: Database) -> None:
    gc = GroupCommitter(db, max_queue=1)
    gc.start()
    started, release = threading.Event(), threading.Event()

    def blocking(s: Session) -> None:
        started.set()
        release.wait(10)

    async def main() -> None:
        first = asyncio.ensure_future(gc.submit(blocking))
        await asyncio.to_thread(started.wait, 10)  # the writer holds the first job
        queued = asyncio.ensure_future(gc.submit(insert("queued")))  # fills the queue
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await gc.submit(insert("refused"))
        release.set()
        await first
        await queued

    asyncio.run(main())
    gc.stop()
    assert names(db) == {"queued"}


def test_stop_finishes_what_was_queued(db: Database) -> None:
    gc = GroupCommitter(db)
    gc.start()

    async def main() -> None:
        futures = [asyncio.ensure_future(gc.submit(insert(f"late{i}"))) for i in range(20)]
        await asyncio.sleep(0)
        await asyncio.to_thread(gc.stop)
        await asyncio.gather(*futures)

    asyncio.run(main())
    assert len(names(db)) == 20
