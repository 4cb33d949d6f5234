"""Reads kept in memory between writes: the terminal host's hot path cannot afford to
ask the database, for every message, what changes a few times a day (a terminal's
binding and keys, a merchant's limits).

A ``ReadCache`` entry stays valid until this process commits any write through
``Database.transaction()`` (services, sign-on, the CLI in the same process: all bump the
database's ``epoch``), until its key is forgotten explicitly, or until ``ttl_s`` passes
(the bound on how long a change made by another process, such as ``tillpoint terminals
freeze``, takes to reach a running host).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from tillpoint.core.db import Database

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
DEFAULT_TTL_S = 1.0


class ReadCache(Generic[K, V]):
    def __init__(self, db: Database, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._entries: dict[K, tuple[V, float, int]] = {}

    def get(self, key: K, load: Callable[[], V], still: Callable[[V], bool] | None = None) -> V:
        """The cached value, or ``load()`` (which may raise: nothing is kept then). A
        value of None is kept like any other. ``still``, when given, tells cheaply
        whether a value no longer known to be valid still is (its rows unchanged): it
        is then kept for another ``ttl_s`` instead of loaded again."""
        hit = self._entries.get(key)
        if hit is not None and self._valid(hit):
            return hit[0]
        # Read before checking or loading: a write meanwhile makes the entry stale.
        now, epoch = time.monotonic(), self.db.epoch
        value = hit[0] if hit is not None and still is not None and still(hit[0]) else load()
        self._entries[key] = (value, now, epoch)
        return value

    def peek(self, key: K) -> V | None:
        """The cached value if it is still valid, without loading anything."""
        hit = self._entries.get(key)
        return hit[0] if hit is not None and self._valid(hit) else None

    def _valid(self, hit: tuple[V, float, int]) -> bool:
        return hit[2] == self.db.epoch and time.monotonic() - hit[1] < self.ttl_s

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)
