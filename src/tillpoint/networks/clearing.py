"""The networks' side of the books: every approved movement of money a simulated card
network or wallet records, written to its own clearing file (CSV) per business date,
apart from the acquirer's database. Reconciliation (clearing/reconcile.py) reads them back.

A line is one movement for one network reference (the RRN the host gave it): a sale or
completion owes the acquirer its amount; a refund, a void or a reversal takes it back.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TextIO

from tillpoint.core.errors import InvalidInput
from tillpoint.core.files import create_private
from tillpoint.core.i18n import N_

HEADER = ("org", "ref", "amount_minor", "currency")


class ClearingJournal:
    def __init__(self, directory: Path, day: Callable[[], date]) -> None:
        self.directory = directory
        self.day = day
        self._lock = threading.Lock()
        self._open: tuple[Path, TextIO] | None = None  # the day's file, kept open

    def path(self, day: date) -> Path:
        return self.directory / f"clearing-{day.isoformat()}.csv"

    def record(self, org: str, ref: str, amount_minor: int, currency: str) -> None:
        if not amount_minor:
            return
        with self._lock:
            f = self._file(self.path(self.day()))
            csv.writer(f).writerow((org, ref, amount_minor, currency))
            f.flush()  # each line is in the file once recorded, as readers expect

    def _file(self, path: Path) -> TextIO:
        """The day's file, opened once (with its header if new) and kept open until the
        day changes or it is gone (reconciliation tests remove files)."""
        if self._open is not None:
            kept, f = self._open
            if kept == path and path.exists():
                return f
            f.close()
            self._open = None
        new = not path.exists()
        create_private(path)
        f = path.open("a", encoding="utf-8", newline="")
        if new:
            csv.writer(f).writerow(HEADER)
        self._open = (path, f)
        return f

    def close(self) -> None:
        with self._lock:
            if self._open is not None:
                self._open[1].close()
                self._open = None

    def rows(self, day: date) -> Iterator[tuple[str, str, int]]:
        """The day's lines as (organisation, reference, amount owed to the acquirer), read
        as they come (none if the network booked nothing that day)."""
        path = self.path(day)
        if not path.exists():
            return
        # The fields are plain (no quoting, as ``record`` writes them): a split reads a
        # line in half the csv module's time (ten million lines a day).
        with path.open(encoding="utf-8", newline="") as f:
            if f.readline().rstrip("\r\n") != ",".join(HEADER):
                raise _malformed(path, 1)
            for line, text in enumerate(f, 2):
                try:
                    org, ref, amount, _currency = text.split(",")
                    yield org, ref, int(amount)
                except ValueError:
                    raise _malformed(path, line) from None


def _malformed(path: Path, line: int) -> InvalidInput:
    return InvalidInput(
        "clearing.malformed",
        N_("{path} is not a clearing file: line {line} is wrong"),
        path=str(path),
        line=line,
    )
