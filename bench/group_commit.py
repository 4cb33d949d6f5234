"""Durable writes per second on the embedded SQLite (WAL, synchronous=FULL): one commit
per write, against group commit with many concurrent writers.

    python bench/group_commit.py [--writes 20000] [--concurrency 64]

Prints its figures; asserts nothing. Each write inserts one row of about the size of a
payment record.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.core.groupcommit import GroupCommitter

ROW = "x" * 200


def setup(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    with db.transaction() as s:
        s.execute(text("CREATE TABLE bench (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    return db


def one_commit_per_write(db: Database, writes: int) -> float:
    started = time.perf_counter()
    for _ in range(writes):
        with db.transaction() as s:
            s.execute(text("INSERT INTO bench (body) VALUES (:b)"), {"b": ROW})
    return writes / (time.perf_counter() - started)


def group_commit(db: Database, writes: int, concurrency: int) -> tuple[float, float, list[float]]:
    gc = GroupCommitter(db)
    latencies: list[float] = []

    def work(s: Session) -> None:
        s.execute(text("INSERT INTO bench (body) VALUES (:b)"), {"b": ROW})

    async def writer(n: int) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            await gc.submit(work)
            latencies.append(time.perf_counter() - t0)

    async def main() -> None:
        per = writes // concurrency
        await asyncio.gather(*(writer(per) for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(main())
    elapsed = time.perf_counter() - started
    gc.stop()
    return len(latencies) / elapsed, len(latencies) / max(gc.commits, 1), sorted(latencies)


def pct(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        single = one_commit_per_write(setup(Path(tmp) / "a.db"), min(args.writes, 3000))
        rate, per_commit, lat = group_commit(
            setup(Path(tmp) / "b.db"), args.writes, args.concurrency
        )
    print(f"one commit per write : {single:9.0f} writes/s")
    print(
        f"group commit         : {rate:9.0f} writes/s  ({per_commit:.1f} writes per commit, {args.concurrency} writers)"
    )
    print(
        f"group commit latency : p50 {pct(lat, 0.50):.2f} ms  p95 {pct(lat, 0.95):.2f} ms  p99 {pct(lat, 0.99):.2f} ms"
    )
    print(f"speed-up             : {rate / single:9.1f}x")


if __name__ == "__main__":
    main()
