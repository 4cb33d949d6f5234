"""What the simulated networks hold as done, read from their own books: for holding
against the acquirer's books (tests, the crash benchmark, an operator's check)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


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
