"""`kill -9` of the host under load, ten times in a row, with an independent tally of
what the terminals were told and the networks' own books (bench/crash.py runs a
hundred): nothing approved is lost or doubled, nothing is left charged at a network
without a payment on our books, and the ledger balances. On SQLite, and on PostgreSQL
when the tests run there."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.crash import run


def test_kill_minus_nine_ten_times_under_load(db_url: str, tmp_path: Path) -> None:
    result = asyncio.run(run(tmp_path, db_url, kills=10, terminals=8, seed=14))
    assert len(result.tally.approved) > 0
    assert result.lost == []
    assert result.doubled == []
    assert result.stranded == []
    assert result.unbacked == []
    assert result.ledger_problems == 0
