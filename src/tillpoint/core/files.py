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
