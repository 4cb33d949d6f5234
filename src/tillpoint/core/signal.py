"""A counter every process of one machine sees: raised by a writer after it commits, read
by the processes that keep something in memory from those writes (risk screening's
features), so that they read the database only when another process wrote.

One counter per database and topic, in a small file mapped into memory: beside an
SQLite database (``<file>-<topic>.signal``), else in the machine's temporary directory,
named by a hash of the database's address (its password left out). Raising it takes a
lock (``flock``, and a thread lock: an flock does not exclude the threads of one
process); reading it is one read of the mapped page, without a lock: a value read while
another process writes it is only ever a value that differs from the one before, which
costs its reader one read of the database more.

An in-memory database (or a file that cannot be made) gets a counter of this process
alone: no other process can write there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import tempfile
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from tillpoint.core.files import PRIVATE

_SIZE = 8  # one unsigned 64-bit counter, in the machine's byte order


def signal_path(url: str, topic: str) -> Path | None:
    """Where the counter of ``topic`` for the database at ``url`` lives (None: an
    in-memory database, which no other process shares)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:" or db.startswith("file:") or "mode=memory" in url:
            return None
        return Path(db).resolve().with_name(f"{Path(db).name}-{topic}.signal")
    key = parsed._replace(password=None).render_as_string(hide_password=False)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"tillpoint-{digest}-{topic}.signal"


class WriteSignal:
    """One counter of writes (see the module's docstring)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd = -1
        self._map: mmap.mmap | bytearray = bytearray(_SIZE)
        if path is not None:
            with contextlib.suppress(OSError):  # no file: this process's own counter
                self._fd, self._map = _mapped(path)
        self._word = memoryview(self._map).cast("Q")  # the counter, read without a copy

    def value(self) -> int:
        """The counter now (no lock: see the module's docstring)."""
        return self._word[0]

    def bump(self) -> int:
        """One more write, committed: the value before it."""
        with self._lock:
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                before = self._word[0]
                self._word[0] = (before + 1) & 0xFFFF_FFFF_FFFF_FFFF
            finally:
                if self._fd >= 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        return int(before)

    def close(self) -> None:
        self._word.release()
        self._word = memoryview(bytearray(_SIZE)).cast("Q")
        if isinstance(self._map, mmap.mmap):
            self._map.close()
            self._map = bytearray(_SIZE)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _mapped(path: Path) -> tuple[int, mmap.mmap]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_size < _SIZE:
                os.ftruncate(fd, _SIZE)  # zeros: the counter starts at 0
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return fd, mmap.mmap(fd, _SIZE)
    except OSError:
        os.close(fd)
        raise
