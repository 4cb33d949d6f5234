"""Slips fit the paper (a CJK character is two columns) and say what happened."""

import pytest
from rich.cells import cell_len

from tillpoint.iso8583.fields import SettlementTotals, Totals
from tillpoint.receipts.slip import KINDS, WIDTH, Receipt, render, render_settlement


def receipt(kind: str, *, scanned: bool = False) -> Receipt:
    return Receipt(kind, "10000001", "898310054110001", "001", "621234*********0012", "CUP",
                   "000001", "000004", "000000000003", "100001", "1125171902", 2026, 123_456,
                   scanned)  # fmt: skip


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("scanned", [False, True])
@pytest.mark.parametrize("reprint", [False, True])
def test_every_slip_fits_the_paper(kind: str, scanned: bool, reprint: bool) -> None:
    lines = render(receipt(kind, scanned=scanned), reprint=reprint)
    assert all(cell_len(line) <= WIDTH for line in lines), lines
    slip = "\n".join(lines)
    assert KINDS[kind][0] in slip and "2026/11/25 17:19:02" in slip
    assert ("DUPLICATED" in slip) is reprint
    assert ("CARDHOLDER SIGNATURE" in slip) is not scanned  # a payment code needs none


def test_amount_sign_follows_the_money() -> None:
    assert "CNY 1,234.56" in "\n".join(render(receipt("sale")))
    assert "CNY -1,234.56" in "\n".join(render(receipt("refund")))


def test_settlement_slip() -> None:
    totals = SettlementTotals(Totals(9_999_999_999, 999, 1_000, 1), Totals())
    lines = render_settlement("10000001", "898310054110001", "000001", totals,
                              {"domestic": "2", "foreign": "1"})  # fmt: skip
    assert all(cell_len(line) <= WIDTH for line in lines), lines
    slip = "\n".join(lines)
    assert "不平 NOT BALANCED" in slip and "99,999,999.99" in slip and "平 BALANCED" in slip


def test_a_slip_survives_the_state_file() -> None:
    r = receipt("completion")
    assert Receipt.from_dict(r.to_dict()) == r
