"""Where each terminal is: the place it last reported in field 59 (spec 4.12) and the
address its connection came from.

The host reads a proven message's field 59 (after its MAC verified, or at a sign-on
whose MAC under the TMK did) and its connection's address. A sign-on writes both in its
own unit of work. A payment must not pay a write for them, so each host process keeps,
per terminal, what it last wrote (field 59 exactly as it came, and the address) and
writes again only when a message says something else, or when ``REFRESH_S`` has passed
since (which also bounds how long another host process's write of an older report can
stand). A message whose field 59 is what this process last wrote costs a dictionary
look-up and two comparisons; it is not even parsed again.

Several host processes write: each write carries its time, and a write older than
what is stored changes nothing (last write wins, by its timestamp).

A message without field 59 leaves the place stored as it is (the last reported) and
records only the address. A new field 59 replaces the whole place: a tag left out of
it is no longer stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update

from tillpoint.context import Context
from tillpoint.core.network import network_of
from tillpoint.iso8583.fields import Place
from tillpoint.terminals.models import Terminal
from tillpoint.terminals.security import source_address

#: A terminal that keeps saying the same is written again after this many seconds.
REFRESH_S = 600.0
#: Terminals kept in memory per host process; beyond it the least recently written go.
MAX_KEPT = 100_000


@dataclass(frozen=True)
class _Written:
    place: str | None  # field 59 as it came; None: none written by this process
    source: str
    at: float  # time.monotonic() of the write


def place_columns(place: Place) -> dict[str, object]:
    """The terminal's place columns for one report (every one of them: a tag left out
    clears its column)."""
    p = place.position
    return {
        "place_device_type": place.device_type,
        "place_serial_no": place.serial_no,
        "place_latitude_e6": None if p is None else p.latitude_e6,
        "place_longitude_e6": None if p is None else p.longitude_e6,
        "place_cell": None if place.cell is None else place.cell.text(),
        "place_ip": None if place.ip is None else str(place.ip),
    }


class TerminalPlaces:
    """One host process's record of where its terminals are (see the module's text)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._written: dict[str, _Written] = {}
        # Told the TID of a terminal whose place, or the network its connection comes
        # from, this process has just written anew (risk screening reads the terminal's
        # distance from its shop and its network again).
        self.moved: list[Callable[[str], None]] = []

    def unchanged(self, tid: str, raw: str | None, source: str) -> bool:
        """Whether a message with field 59 ``raw`` (None: absent) from ``source`` says
        nothing this process has not written within ``REFRESH_S``: the payment path's
        check, a look-up and two comparisons."""
        seen = self._written.get(tid)
        return (
            seen is not None
            and seen.source == source
            and (raw is None or raw == seen.place)
            and time.monotonic() - seen.at < REFRESH_S
        )

    async def note(self, terminal_id: int, tid: str, raw: str | None, source: str) -> None:
        """A proven message's field 59 and address, when ``unchanged`` says they are
        news: parsed first (a malformed 59 raises ``FormatError`` and nothing is
        written), then written in a worker thread."""
        place = None if raw is None else Place.parse(raw)
        at = self.ctx.now()
        await asyncio.to_thread(self.record, terminal_id, place, source, at)
        self.remember(tid, raw, source)

    def record(self, terminal_id: int, place: Place | None, source: str, at: datetime) -> bool:
        """Write one report in a unit of work of its own (no read cache depends on it):
        the place when given, and the address. False when a later report is stored."""
        values: dict[str, object] = {"source_address": source_address(source), "source_seen_at": at}
        if place is not None:
            values.update(place_columns(place), place_reported_at=at)
        with self.ctx.db.transaction(invalidate=False) as s:
            done = s.execute(
                update(Terminal)
                .where(
                    Terminal.id == terminal_id,
                    or_(Terminal.source_seen_at.is_(None), Terminal.source_seen_at <= at),
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(done, "rowcount", 0))

    @staticmethod
    def write(t: Terminal, place: Place | None, source: str, at: datetime) -> None:
        """The same, on a terminal loaded (and locked) by a unit of work that writes it
        anyway: the sign-on's."""
        if t.source_seen_at is not None and t.source_seen_at > at:
            return
        t.source_address, t.source_seen_at = source_address(source), at
        if place is not None:
            for column, value in place_columns(place).items():
                setattr(t, column, value)
            t.place_reported_at = at

    def remember(self, tid: str, raw: str | None, source: str) -> None:
        """What this process has just written for the terminal (a message without 59
        keeps the place it last wrote). The hooks hear of a new place or a new network
        (core/network.py), not of an address that changed within its network."""
        seen = self._written.pop(tid, None)
        if raw is None and seen is not None:
            raw = seen.place
        if (
            seen is None
            or raw != seen.place
            or (source != seen.source and network_of(source) != network_of(seen.source))
        ):
            for tell in self.moved:
                tell(tid)
        if len(self._written) >= MAX_KEPT:
            del self._written[next(iter(self._written))]  # the least recently written
        self._written[tid] = _Written(raw, source, time.monotonic())

    def forget(self, tid: str) -> None:
        self._written.pop(tid, None)
