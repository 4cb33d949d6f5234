"""The networks' side of the books: every approved movement of money a simulated card
network or wallet records, written to its own clearing file (CSV) per business date,
apart from the acquirer's database. Reconciliation (clearing/reconcile.py) reads them back.

A line is one movement for one network reference (the RRN the host gave it): a sale or
completion owes the acquirer its amount; a refund, a void or a reversal takes it back.
Each line also says whom the network cleared it for, as the acquirer's request named it
(the card acceptor): the merchant's MID, its category (MCC) and the class the movement
is priced in (its fee class: ``debit``, ``credit``, ``contactless``, ``foreign``,
``alipay``, ``wechat``, ``unionpay_qr``). Reconciliation compares them with the
merchant's registered ones (code jumping, 跳码). A file of the first format (four
columns, before the acceptor was written) is still read: its lines name no acceptor.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO, TypeVar

from tillpoint.core.errors import InvalidInput
from tillpoint.core.files import create_private
from tillpoint.core.i18n import N_

HEADER = ("org", "ref", "amount_minor", "currency", "mid", "mcc", "fee_class")
FIRST_HEADER = HEADER[:4]  # the first format: no acceptor


@dataclass(frozen=True)
class Acceptor:
    """Whom a network clears a movement for, as the acquirer's request named it (empty
    where it named nothing): the merchant (MID), its category (MCC), and the fee class
    the acquirer priced the payment in."""

    mid: str = ""
    mcc: str = ""
    fee_class: str = ""


NOBODY = Acceptor()
K = TypeVar("K")
_CACHED = 4096  # distinct acceptors kept while reading a file (a file has a few per merchant)


class ClearingJournal:
    def __init__(self, directory: Path, day: Callable[[], date]) -> None:
        self.directory = directory
        self.day = day
        self._lock = threading.Lock()
        self._open: tuple[Path, TextIO] | None = None  # the day's file, kept open

    def path(self, day: date) -> Path:
        return self.directory / f"clearing-{day.isoformat()}.csv"

    def record(
        self, org: str, ref: str, amount_minor: int, currency: str, acceptor: Acceptor = NOBODY
    ) -> None:
        if not amount_minor:
            return
        a = acceptor
        with self._lock:
            f = self._file(self.path(self.day()))
            csv.writer(f).writerow((org, ref, amount_minor, currency, a.mid, a.mcc, a.fee_class))
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

    def rows(self, day: date) -> Iterator[tuple[str, str, int, Acceptor | None]]:
        """The day's lines as (organisation, reference, amount owed to the acquirer,
        whom it was cleared for: None where the line names nobody), read as they come
        (none if the network booked nothing that day)."""
        return self.keyed_rows(day, lambda a: a)

    def keyed_rows(
        self, day: date, key: Callable[[Acceptor], K]
    ) -> Iterator[tuple[str, str, int, K | None]]:
        """As ``rows``, with ``key`` of each line's acceptor in its place: called once
        per distinct acceptor, not per line (reconciliation reads ten million lines a
        day, of a few acceptors per merchant)."""
        path = self.path(day)
        if not path.exists():
            return
        # The fields are plain (no quoting, as ``record`` writes them): a split reads a
        # line in half the csv module's time. The acceptor's three fields are looked up
        # as they stand (a line's end included), so that a line costs one split and one
        # lookup.
        with path.open(encoding="utf-8", newline="") as f:
            header = f.readline().rstrip("\r\n")
            if header == ",".join(FIRST_HEADER):
                yield from _first_format(path, f)
                return
            if header != ",".join(HEADER):
                raise _malformed(path, 1)
            seen: dict[str, K | None] = {}
            for line, text in enumerate(f, 2):
                try:
                    org, ref, amount, _currency, named = text.split(",", 4)
                    try:
                        value = seen[named]
                    except KeyError:
                        if len(seen) >= _CACHED:
                            seen.clear()
                        value = seen[named] = _acceptor(named, key)
                    yield org, ref, int(amount), value
                except ValueError:
                    raise _malformed(path, line) from None


def _acceptor(named: str, key: Callable[[Acceptor], K]) -> K | None:
    """A line's last three fields: None if all are empty (the line names nobody)."""
    mid, mcc, fee_class = named.rstrip("\r\n").split(",")  # ValueError: not three
    if not (mid or mcc or fee_class):
        return None
    return key(Acceptor(mid, mcc, fee_class))


def _first_format(path: Path, f: TextIO) -> Iterator[tuple[str, str, int, None]]:
    for line, text in enumerate(f, 2):
        try:
            org, ref, amount, _currency = text.split(",")
            yield org, ref, int(amount), None
        except ValueError:
            raise _malformed(path, line) from None


def _malformed(path: Path, line: int) -> InvalidInput:
    return InvalidInput(
        "clearing.malformed",
        N_("{path} is not a clearing file: line {line} is wrong"),
        path=str(path),
        line=line,
    )
