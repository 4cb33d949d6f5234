"""Reading an outbox table (events written with the change they record) in id order,
without skipping a row a slower transaction commits later."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

GAP_WAIT_S = 10.0


class GapTracker:
    """How far a reader of the outbox may move its position.

    On PostgreSQL ids come from a sequence when a row is inserted, not when it is
    committed: a slow transaction can commit event 6 after event 7 was read. A reader
    that moved on to 7 would never see 6. So the position stops before a hole in the ids
    until the hole has been there for ``wait_s`` seconds: by then it is an id a
    transaction took and rolled back. Events after a hole are still read (the reader
    must tell which it has handled); on SQLite, whose writers are serialised, there are
    no holes. The times live in memory: after a restart a hole is waited for again.
    """

    def __init__(
        self, wait_s: float = GAP_WAIT_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.wait_s = wait_s
        self._monotonic = monotonic
        self._seen: dict[int, float] = {}  # first missing id of a hole -> when first seen

    def advance(self, position: int, ids: Sequence[int]) -> int:
        """The new position after reading ``ids`` (ascending, all after ``position``)."""
        now = self._monotonic()
        for event_id in ids:
            missing = position + 1
            if event_id != missing and now - self._seen.setdefault(missing, now) < self.wait_s:
                break
            position = event_id
        self._seen = {k: v for k, v in self._seen.items() if k > position}
        return position
