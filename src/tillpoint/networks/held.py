"""The simulated networks' own books, as SQLite files: what they hold as done, read for
holding against the acquirer's books (tests, the crash benchmark, an operator's check),
and the reversals that came before their originals."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

EARLY_REVERSALS = "CREATE TABLE IF NOT EXISTS early_reversals (ref TEXT PRIMARY KEY);"


def add_text_columns(db: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> None:
    """Text columns (empty in the rows there are) that a book written before them lacks."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for column in columns:
        if column in have:
            continue
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        except sqlite3.OperationalError as e:  # another process added it meanwhile
            if "duplicate column" not in str(e):
                raise


class EarlyReversals:
    """References reversed before any request used them: a request arriving later under
    one is refused, as a reversal may overtake its original (shares its book's
    connection and lock)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock
        with lock:
            db.execute(EARLY_REVERSALS)

    def __contains__(self, ref: object) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM early_reversals WHERE ref = ?", (ref,))
            return row.fetchone() is not None

    def add(self, ref: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO early_reversals VALUES (?)", (ref,))


def held_charges(directory: Path) -> dict[str, int]:
    """Every approved, unreversed request that moved money at the simulated card network
    or wallets in ``directory`` (sales, holds, captures, refunds, wallet payments), by
    reference: the amount in minor units."""
    charges: dict[str, int] = {}
    cards, wallets = directory / "cards.sqlite3", directory / "wallets.sqlite3"
    if cards.exists():
        with contextlib.closing(sqlite3.connect(cards)) as c:
            charges.update(c.execute(
                "SELECT ref, amount_minor FROM auths WHERE response_code = '00' AND reversed = 0"
                " AND amount_minor > 0 AND kind IN ('sale', 'preauth', 'refund')"
            ).fetchall())  # fmt: skip
    if wallets.exists():
        with contextlib.closing(sqlite3.connect(wallets)) as c:
            charges.update(c.execute(
                "SELECT ref, amount_minor FROM payments WHERE response_code = '00'"
                " AND reversed = 0 AND amount_minor > 0"
            ).fetchall())  # fmt: skip
    return charges
