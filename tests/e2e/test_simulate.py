"""``tillpoint simulate`` on an SQLite database of its own, as a person runs it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import MASTER_KEY
from tests.e2e.test_cli import PERSONAL, one_line_error

from tillpoint.cli import _common, main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", f"sqlite:///{tmp_path / 'simulated.sqlite'}")
    monkeypatch.setenv("TILLPOINT_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("TILLPOINT_LOCALE", "en")
    monkeypatch.setenv("TILLPOINT_ACTOR", "ops-amy")
    monkeypatch.setenv("COLUMNS", "200")
    for console in (_common.out, _common.err):
        monkeypatch.setattr(console, "width", 200)

    def invoke(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as e:
            main(list(args))
        out = capsys.readouterr()
        return int(e.value.code or 0), out.out, out.err

    return invoke


def test_simulate_books_labelled_traffic_into_a_new_database(run: Run, tmp_path: Path) -> None:
    code, out, err = run("simulate", "--merchants", "4", "--days", "2", "--seed", "3", "--json")
    assert code == 0, err
    booked = json.loads(out)
    assert booked["run"] == 1 and booked["merchants"] == 4 and booked["days"] == 2
    assert booked["payments"] == booked["approved"] + booked["declined"] > 100
    assert sum(booked["response_codes"].values()) == booked["payments"]
    assert set(booked["labels"]) == {"card_testing", "cash_out", "relocation",
                                     "category_mismatch"}  # fmt: skip
    assert all(booked["labelled_payments"][p] > 0 for p, n in booked["labels"].items() if n)
    assert booked["payments_per_s"] > 0
    assert (tmp_path / "simulated.network").is_dir()  # the networks' clearing files

    # The table for people; the same seed again adds a second run of the same traffic.
    code, out, err = run("simulate", "--merchants", "4", "--days", "2", "--seed", "3")
    assert code == 0, err
    assert "Simulation run 2" in out and f"{booked['payments']:,}" in out
    assert "cash-out" in out and "relocated terminal" in out
    code, out, _ = run("ledger", "check")
    assert code == 0, out


def test_simulate_refuses_what_it_should(run: Run) -> None:
    code, _, err = run("simulate", "--start", "2026-13-01")
    assert code == 2
    one_line_error(err, "YYYY-MM-DD")
    code, _, err = run("simulate", "--merchants", "0")
    assert code == 2
    one_line_error(err, "merchants must be 1 to 10000")
    code, _, err = run(*PERSONAL)
    assert code == 0, err
    code, _, err = run("simulate", "--merchants", "1", "--days", "1")
    assert code == 1
    one_line_error(err, "holds merchants that no simulation made (1)")
    code, out, err = run("simulate", "--merchants", "1", "--days", "1", "--force", "--json")
    assert code == 0, err
    assert json.loads(out)["merchants"] == 1
