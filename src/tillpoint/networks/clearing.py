"""The networks' side of the books: every approved movement of money a simulated card
network or wallet records, written to its own clearing file per business date, apart
from the acquirer's database. Reconciliation (clearing/reconcile.py) reads them back.

A line is one movement for one network reference (the RRN the host gave it): a sale or
completion owes the acquirer its amount; a refund, a void or a reversal takes it back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class ClearingLine:
    org: str
    ref: str
    amount_minor: int  # owed to the acquirer: negative when money goes back
    currency: str


class ClearingJournal:
    def __init__(self, directory: Path, day: Callable[[], date]) -> None:
        self.directory = directory
        self.day = day
        self._lock = threading.Lock()

    def path(self, day: date) -> Path:
        return self.directory / f"clearing-{day.isoformat()}.jsonl"

    def record(self, org: str, ref: str, amount_minor: int, currency: str) -> None:
        if not amount_minor:
            return
        line = json.dumps({"org": org, "ref": ref, "amount_minor": amount_minor,
                           "currency": currency})  # fmt: skip
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path(self.day()).open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    def lines(self, day: date) -> list[ClearingLine]:
        path = self.path(day)
        if not path.exists():
            return []
        with path.open(encoding="utf-8") as f:
            return [ClearingLine(**json.loads(raw)) for raw in f if raw.strip()]
