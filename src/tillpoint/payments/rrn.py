"""Retrieval reference numbers, handed out from blocks reserved in the database.

An RRN names a payment to the card network before the payment is recorded, so it
cannot wait for the payment's commit. Reserving a thousand at a time costs one write per
thousand payments; numbers of a block a process never used are simply skipped.
"""

from __future__ import annotations

import asyncio

from tillpoint.core.db import Database
from tillpoint.core.models import reserve_counter

BLOCK = 1000


class RrnAllocator:
    def __init__(self, db: Database, block: int = BLOCK) -> None:
        self.db = db
        self.block = block
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    def _reserve(self) -> int:
        with self.db.transaction(invalidate=False) as s:  # no cached read changes
            return reserve_counter(s, "rrn", self.block)

    async def next(self) -> str:
        async with self._lock:
            if self._next >= self._end:
                self._next = await asyncio.to_thread(self._reserve)
                self._end = self._next + self.block
            value = self._next
            self._next += 1
        return f"{value:012d}"
