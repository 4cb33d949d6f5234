"""Group commit: many callers' durable writes share one transaction and one fsync.

A payment's answer goes out only after its record is durable. Committing each record
alone costs one fsync per payment, which caps a host at a few hundred payments a
second; a single writer thread that takes everything queued, runs the jobs one after
the other in one transaction and commits once reaches thousands, with no added delay
when the host is quiet (a lone job is committed at once: batches form only while a
commit is running).

When a job fails, the batch rolls back and each of its jobs runs again in a transaction
of its own, so that the failing job fails alone; a job must therefore only write
through its session (it may run twice). The queue is bounded: when it is full, ``submit``
refuses at once (``Overloaded``) rather than letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.core.errors import Refused
from tillpoint.core.i18n import N_

T = TypeVar("T")
_STOP = object()


class Overloaded(Refused):
    """Too many writes are waiting: the caller should answer 'system busy' now."""


@dataclass
class _Job:
    work: Callable[[Session], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class GroupCommitter:
    def __init__(self, db: Database, *, max_batch: int = 512, max_queue: int = 20_000) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.Queue[_Job | object] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self.commits = 0  # for benchmarks and tests
        self.jobs = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish every job already queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    async def submit(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a shared transaction; return its result once committed."""
        if self._thread is None:
            raise RuntimeError("GroupCommitter.start() was not called")
        loop = asyncio.get_running_loop()
        job = _Job(work, loop.create_future(), loop)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise Overloaded(
                "db.overloaded", N_("Too many writes are waiting; try again")
            ) from None
        result: T = await job.future
        return result

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch: list[_Job] = [first]  # type: ignore[list-item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batch.append(more)  # type: ignore[arg-type]
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job]) -> None:
        try:
            outcomes = self._transaction(batch)
        except Exception:
            # One job (or the commit) failed: the whole batch rolled back. Run each job
            # in a transaction of its own, so that only the failing one fails.
            outcomes = []
            for job in batch:
                try:
                    outcomes += self._transaction([job])
                except Exception as e:
                    outcomes.append((job, False, e))
        for job, ok, value in outcomes:
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)

    def _transaction(self, batch: list[_Job]) -> list[tuple[_Job, bool, Any]]:
        with self.db.transaction(invalidate=False) as s:
            results = [(job, True, job.work(s)) for job in batch]
        self.commits += 1
        self.jobs += len(batch)
        return results


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    with contextlib.suppress(asyncio.InvalidStateError):
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
