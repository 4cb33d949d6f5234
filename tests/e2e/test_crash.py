"""`kill -9` of the host under load, with an independent tally of what the terminals
were told and the networks' own books (bench/crash.py runs a hundred rounds): nothing
approved is lost or doubled, nothing is left charged at a network without a payment on
our books, and the ledger balances. On SQLite, and on PostgreSQL when the tests run
there.

Four rounds kill `serve` with all its host processes at once; three more kill ONE of two
host processes while the other serves on (three and two on PostgreSQL): the terminals on the other see no error at
all, those of the killed one connect again and reverse what got no answer, and `serve`
starts the killed one again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.crash import run


def test_kill_minus_nine_again_and_again_under_load(db_url: str, tmp_path: Path) -> None:
    # Four on the embedded default (bench/crash.py runs a hundred: each round here
    # restarts `serve`, seconds of CPU); on PostgreSQL, whose server the kills never
    # reach, three: what the database changes is the recovery's reads and writes, not
    # their count.
    kills = 4 if db_url.startswith("sqlite") else 3
    result = asyncio.run(run(tmp_path, db_url, kills=kills, terminals=8, seed=14))
    assert len(result.tally.approved) > 0
    assert result.lost == []
    assert result.doubled == []
    assert result.stranded == []
    assert result.unbacked == []
    assert result.ledger_problems == 0


def test_kill_minus_nine_of_one_host_process_under_load(db_url: str, tmp_path: Path) -> None:
    kills = 3 if db_url.startswith("sqlite") else 2  # one of each process on PostgreSQL
    result = asyncio.run(
        run(tmp_path, db_url, kills=kills, terminals=8, seed=15, host_workers=2, kill="one")
    )
    assert len(result.tally.approved) > 0
    assert result.on_killed > 0 and result.on_survivors > 0  # both sides were tested
    # Each terminal of a killed process had a sale on its way or about to go: reversed.
    assert result.tally.unanswered >= result.on_killed
    assert result.survivor_errors == []
    assert result.not_reconnected == []
    assert result.lost == []
    assert result.doubled == []
    assert result.stranded == []
    assert result.unbacked == []
    assert result.ledger_problems == 0
