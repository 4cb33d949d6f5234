"""The networks' clearing files: what ClearingJournal writes, rows() reads back
exactly; anything else is refused with the line it is on."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tillpoint.core.errors import InvalidInput
from tillpoint.networks.clearing import ClearingJournal

DAY = date(2026, 12, 3)


def journal(tmp_path: Path) -> ClearingJournal:
    return ClearingJournal(tmp_path, lambda: DAY)


def test_recorded_lines_read_back(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.record("CUP", "000000000001", 1234, "CNY")
    j.record("WXP", "420000000002", -500, "CNY")
    j.record("CUP", "000000000003", 0, "CNY")  # moves nothing: not written
    j.close()
    assert j.path(DAY).read_bytes().count(b"\r\n") == 3  # the header and two lines
    assert list(j.rows(DAY)) == [("CUP", "000000000001", 1234), ("WXP", "420000000002", -500)]


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
    ],
)
def test_a_malformed_file_names_its_line(tmp_path: Path, text: str, line: int) -> None:
    j = journal(tmp_path)
    j.path(DAY).write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        list(j.rows(DAY))
    assert f"line {line} " in refused.value.localized()
