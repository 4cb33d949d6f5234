"""The networks' clearing files: what ClearingJournal writes, rows() reads back
exactly; anything else is refused with the line it is on."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tillpoint.core.errors import InvalidInput
from tillpoint.networks.clearing import Acceptor, ClearingJournal

DAY = date(2026, 12, 3)


def journal(tmp_path: Path) -> ClearingJournal:
    return ClearingJournal(tmp_path, lambda: DAY)


def test_recorded_lines_read_back(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record("CUP", "000000000001", 1234, "CNY", Acceptor("898310054110001", "5411", "debit"))
    j.record("WXP", "420000000002", -500, "CNY", Acceptor("898310054110001", "", "wechat"))
    j.record("CUP", "000000000003", 0, "CNY")  # moves nothing: not written
    j.record("CUP", "000000000004", 700, "CNY")  # names no acceptor
    j.close()
    assert j.path(DAY).read_bytes().count(b"\r\n") == 4  # the header and three lines
    assert list(j.rows(DAY)) == [
        ("CUP", "000000000001", 1234, Acceptor("898310054110001", "5411", "debit")),
        ("WXP", "420000000002", -500, Acceptor("898310054110001", "", "wechat")),
        ("CUP", "000000000004", 700, None),  # names nobody
    ]


def test_each_acceptor_is_keyed_once(tmp_path: Path) -> None:
    """Reconciliation keys whom a line names once per distinct acceptor, not per line."""
    j = journal(tmp_path)
    for n in range(1, 6):
        j.record(
            "CUP", f"{n:012d}", 100, "CNY", Acceptor("m1", "5411", "debit" if n % 2 else "credit")
        )
    j.close()
    asked: list[Acceptor] = []

    def key(a: Acceptor) -> str:
        asked.append(a)
        return a.fee_class

    assert [k for *_, k in j.keyed_rows(DAY, key)] == [
        "debit",
        "credit",
        "debit",
        "credit",
        "debit",
    ]
    assert asked == [Acceptor("m1", "5411", "debit"), Acceptor("m1", "5411", "credit")]


def test_a_file_of_the_first_format_is_read_without_acceptors(tmp_path: Path) -> None:
    """Files written before the lines named whom they clear for: four columns."""
    j = journal(tmp_path)
    j.path(DAY).write_text("org,ref,amount_minor,currency\nCUP,000000000001,100,CNY\n")
    assert list(j.rows(DAY)) == [("CUP", "000000000001", 100, None)]


def test_a_day_without_a_file_has_no_lines(tmp_path: Path) -> None:
    assert list(journal(tmp_path).rows(DAY)) == []


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("ref,org,amount_minor,currency\n", 1),  # not our header
        ("", 1),
        ("org,ref,amount_minor,currency\nCUP,000000000001,12.34,CNY\n", 2),
        ("org,ref,amount_minor,currency\nCUP,000000000001,100,CNY\nCUP,1,CNY\n", 3),
        ("org,ref,amount_minor,currency\nCUP,000000000001,100,CNY,extra\n", 2),
        ("org,ref,amount_minor,currency\n\nCUP,000000000001,100,CNY\n", 2),
        ('org,ref,amount_minor,currency\nCUP,000000000001,"1,00",CNY\n', 2),
        # the format that names the acceptor: seven fields a line, no fewer
        ("org,ref,amount_minor,currency,mid,mcc,fee_class\nCUP,000000000001,100,CNY\n", 2),
        ("org,ref,amount_minor,currency,mid,mcc,fee_class\nCUP,1,1,CNY,m,5411,debit,x\n", 2),
        ("org,ref,amount_minor,currency,mid,mcc,fee_class\nCUP,1,x,CNY,m,5411,debit\n", 2),
    ],
)
def test_a_malformed_file_names_its_line(tmp_path: Path, text: str, line: int) -> None:
    j = journal(tmp_path)
    j.path(DAY).write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        list(j.rows(DAY))
    assert f"line {line} " in refused.value.localized()
