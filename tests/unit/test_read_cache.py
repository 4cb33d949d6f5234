"""Reads kept between writes: any write through Database.transaction(), forget() or the
time limit makes the next get() read again."""

import time
from pathlib import Path

import pytest

from tillpoint.core.cache import ReadCache
from tillpoint.core.db import Database


def test_a_write_a_forget_or_time_makes_it_read_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    cache: ReadCache[str, int] = ReadCache(db, ttl_s=0.2)
    assert cache.peek("k") is None
    assert cache.get("k", load) == 1
    assert cache.get("k", load) == 1 and cache.peek("k") == 1  # kept
    with db.transaction():
        pass
    assert cache.peek("k") is None and cache.get("k", load) == 2  # a write in this process
    with db.transaction(invalidate=False):
        pass
    assert cache.get("k", load) == 2  # payment writes change nothing it holds
    cache.forget("k")
    assert cache.get("k", load) == 3
    time.sleep(0.25)
    assert cache.get("k", load) == 4  # another process may have written: read again
    db.dispose()


def test_a_failed_load_keeps_nothing(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    cache: ReadCache[str, int] = ReadCache(db)

    def fail() -> int:
        raise LookupError

    with pytest.raises(LookupError):
        cache.get("k", fail)
    assert cache.peek("k") is None
    db.dispose()


def test_none_is_kept_like_any_value(tmp_path: Path) -> None:
    """No day closed yet is an answer too: it is not asked again for every sale."""
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    loads: list[int] = []

    def load() -> None:
        loads.append(1)

    cache: ReadCache[str, None] = ReadCache(db)
    assert cache.get("k", load) is None and cache.get("k", load) is None
    assert len(loads) == 1
    db.dispose()
