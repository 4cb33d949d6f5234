"""Files only their owner may read: the database, the networks' books, clearing files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE = 0o600


def create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists (a file that exists keeps its
    mode: an operator may have chosen it). SQLite takes an empty file as an empty
    database and gives its -wal and -shm files the database's own mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))


def write_private(path: Path, text: str) -> None:
    """Put ``text`` in ``path`` readable by its owner only from its first byte: written to
    a new file beside it (never one opened beforehand under that name), on disk, then
    renamed over ``path`` (a reader sees the old file or the new one, whole)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
