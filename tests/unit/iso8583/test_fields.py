"""Sub-field layouts (sections 2 and 4): parse, build, validation."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.codec import Message, decode, encode
from tillpoint.iso8583.errors import FormatError


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(string.digits, min_size=n, max_size=n)


def raises(call: Callable[[], object], field: int, position: int | None = None) -> FormatError:
    with pytest.raises(FormatError) as e:
        call()
    assert e.value.field == field
    if position is not None:
        assert e.value.position == position
    return e.value


# --- 60 -----------------------------------------------------------------------------------


def test_field60_examples() -> None:
    sign_on = f.Field60(f.TXN_MANAGEMENT, "000001", f.SIGN_ON_KEYS)
    assert sign_on.build() == "00000001004"
    sale = f.Field60.parse("22000001000")
    assert (sale.txn_type, sale.batch, sale.network_code) == (f.TXN_SALE, "000001", f.FINANCIAL)
    assert (sale.read_capability, sale.ic_condition, sale.reserved) == ("", "", "")
    chip = f.Field60.parse("2200000100051")
    assert (chip.read_capability, chip.ic_condition) == ("5", "1")
    assert f.Field60.parse("220000010005").read_capability == "5"
    assert f.Field60.parse("22000001000510").reserved == "0"


def test_field60_refuses() -> None:
    raises(lambda: f.Field60.parse("22"), 60, 0)
    raises(lambda: f.Field60.parse("2" * 18), 60, 0)
    raises(lambda: f.Field60.parse("2200000100A"), 60, 0)
    raises(lambda: f.Field60("2", "000001", "000").build(), 60, 0)
    raises(lambda: f.Field60("22", "1", "000").build(), 60, 2)
    raises(lambda: f.Field60("22", "000001", "0000").build(), 60, 8)
    raises(lambda: f.Field60("22", "000001", "000", "", "1").build(), 60, 11)
    raises(lambda: f.Field60("22", "000001", "000", "55").build(), 60, 11)
    raises(lambda: f.Field60("22", "000001", "000", "5", "", "1").build(), 60, 13)


@given(
    digits(2),
    digits(6),
    digits(3),
    st.sampled_from(["", "5"]),
    st.sampled_from(["", "1"]),
    st.text(string.digits, max_size=4),
)
def test_field60_round_trip(t: str, batch: str, code: str, cap: str, ic: str, rest: str) -> None:
    ic = ic if cap else ""
    rest = rest if cap and ic else ""
    value = f.Field60(t, batch, code, cap, ic, rest)
    text = value.build()
    assert f.Field60.parse(text) == value
    assert decode(encode(Message("0200", {60: text}))).text(60) == text


# --- 61 -----------------------------------------------------------------------------------


def test_field61() -> None:
    assert f.Field61.parse("000001000012") == f.Field61("000001", "000012")
    refund = f.Field61("000000", "000000", "0315")
    assert refund.build() == "0000000000000315"
    assert f.Field61.parse("0000010000120315") == f.Field61("000001", "000012", "0315")
    raises(lambda: f.Field61.parse("0000010000120"), 61, 0)  # 13 digits
    raises(lambda: f.Field61.parse("0000010000121315"), 61, 12)  # month 13
    raises(lambda: f.Field61.parse("0000010000120300"), 61, 12)  # day 0
    raises(lambda: f.Field61("00001", "000012").build(), 61, 0)
    raises(lambda: f.Field61("000001", "12").build(), 61, 6)
    raises(lambda: f.Field61("000001", "000012", "", "1").build(), 61, 16)


@given(digits(6), digits(6), st.sampled_from(["", "0101", "1231", "0229"]), digits(3))
def test_field61_round_trip(batch: str, stan: str, date: str, rest: str) -> None:
    value = f.Field61(batch, stan, date, rest if date else "")
    assert f.Field61.parse(value.build()) == value


# --- 48 -----------------------------------------------------------------------------------


def test_settlement_totals_layout() -> None:
    totals = f.SettlementTotals(f.Totals(123456, 3, 1000, 1), f.Totals(flag=f.FLAG_REQUEST))
    text = totals.build()
    assert text == (
        "000000123456" "003" "000000001000" "001" "0"
        "000000000000" "000" "000000000000" "000" "0"
    )  # fmt: skip
    assert len(text) == 62
    assert f.SettlementTotals.parse(text) == totals
    answer = text[:30] + "1" + text[31:61] + "2"
    parsed = f.SettlementTotals.parse(answer)
    assert (parsed.domestic.flag, parsed.foreign.flag) == (f.FLAG_BALANCED, f.FLAG_NOT_BALANCED)


def test_settlement_totals_refuse() -> None:
    raises(lambda: f.SettlementTotals.parse("0" * 61), 48, 0)
    raises(lambda: f.SettlementTotals.parse("0" * 30 + "4" + "0" * 31), 48, 30)
    raises(lambda: f.SettlementTotals.parse("0" * 61 + "9"), 48, 61)
    raises(lambda: f.SettlementTotals.parse("x" * 62), 48, 0)
    raises(lambda: f.Totals(debit_minor=10**12).build(), 48, 0)
    raises(lambda: f.Totals(debit_count=1000).build(), 48, 12)
    raises(lambda: f.Totals(credit_minor=-1).build(), 48, 15)
    raises(lambda: f.Totals(credit_count=True).build(), 48, 27)
    raises(lambda: f.SettlementTotals(f.Totals(), f.Totals(flag="5")).build(), 48, 61)


amounts = st.integers(0, 10**12 - 1)
counts = st.integers(0, 999)
flags = st.sampled_from("0123")


@given(
    st.tuples(amounts, counts, amounts, counts, flags),
    st.tuples(amounts, counts, amounts, counts, flags),
)
def test_settlement_totals_round_trip(
    domestic: tuple[int, int, int, int, str], foreign: tuple[int, int, int, int, str]
) -> None:
    value = f.SettlementTotals(f.Totals(*domestic), f.Totals(*foreign))
    text = value.build()
    assert f.SettlementTotals.parse(text) == value
    assert decode(encode(Message("0500", {48: text}))).text(48) == text


def test_upload_count() -> None:
    assert f.build_upload_count(12) == "0012"
    assert f.upload_count("0012") == 12
    raises(lambda: f.upload_count("12"), 48, 0)
    raises(lambda: f.build_upload_count(10_000), 48, 0)


# --- 54 -----------------------------------------------------------------------------------


def test_balance() -> None:
    assert f.Balance(10_000_000).build() == "1002156C000010000000"
    assert f.Balance.parse("1002156C000010000000") == f.Balance(10_000_000)
    overdrawn = f.Balance.parse("1002156D000000000150")
    assert overdrawn.amount_minor == -150
    assert overdrawn.build() == "1002156D000000000150"
    raises(lambda: f.Balance.parse("1002156X000010000000"), 54, 7)
    raises(lambda: f.Balance.parse("10021560000010000000"), 54, 7)
    raises(lambda: f.Balance.parse("1002156C00001000000A"), 54, 8)
    raises(lambda: f.Balance.parse("1\x0102156C000010000000"), 54, 0)
    raises(lambda: f.Balance.parse("1002156C0000100000"), 54, 0)
    raises(lambda: f.Balance(10**12).build(), 54, 8)
    raises(lambda: f.Balance(1, currency_code="15").build(), 54, 4)


@given(
    st.integers(-(10**12) + 1, 10**12 - 1),
    st.text(string.ascii_uppercase + string.digits, min_size=3, max_size=3),
)
def test_balance_round_trip(amount: int, currency: str) -> None:
    value = f.Balance(amount, currency)
    assert f.Balance.parse(value.build()) == value


# --- 44, 22, 35, 62, 63 ---------------------------------------------------------------------


def test_field44() -> None:
    text = f.field44("01020000", "48100000")
    assert text == "01020000   48100000   "
    assert f.AdditionalResponse.parse(text) == f.AdditionalResponse("01020000", "48100000")
    assert f.field44("01020000   ", "48100000") == text  # already padded
    raises(lambda: f.field44("0" * 12, "48100000"), 44, 0)
    raises(lambda: f.field44("01020000", "4810-000"), 44, 11)
    raises(lambda: f.AdditionalResponse.parse(text[:-1]), 44, 0)


def test_entry_mode() -> None:
    assert f.EntryMode.parse("021") == f.EntryMode(f.ENTRY_MAGSTRIPE, True)
    assert f.EntryMode.parse("072") == f.EntryMode(f.ENTRY_CONTACTLESS, False)
    assert f.EntryMode(f.ENTRY_SCANNED, False).build() == "032"
    for mode in sorted(f.ENTRY_MODES):
        for pin in (True, False):
            assert f.EntryMode.parse(f.EntryMode(mode, pin).build()) == f.EntryMode(mode, pin)
    raises(lambda: f.EntryMode.parse("991"), 22, 0)
    raises(lambda: f.EntryMode.parse("020"), 22, 2)
    raises(lambda: f.EntryMode.parse("02"), 22, 0)
    raises(lambda: f.EntryMode("04", True).build(), 22, 0)


def test_track2() -> None:
    track = f.Track2.parse("6212340000000000012=30122010000")
    assert track == f.Track2("6212340000000000012", "3012", "201", "0000")
    assert track.build() == "6212340000000000012D30122010000"
    assert f.Track2.parse(track.build()) == track
    assert "6212" not in repr(track)
    e = raises(lambda: f.Track2.parse("6212340000000000012"), 35, 0)
    assert "6212" not in str(e)
    raises(lambda: f.Track2.parse("62123400D0000000012D3012201"), 35, 0)
    raises(lambda: f.Track2("621234", "3012", "201").build(), 35, 0)
    raises(lambda: f.Track2("6212340000000000012", "301", "201").build(), 35, 20)


def test_key_block() -> None:
    raw = bytes(range(60))
    block = f.KeyBlock.parse(raw)
    assert block.pik == raw[:16] and block.pik_kcv == raw[16:20]
    assert block.mak == raw[20:36] and block.mak_kcv == raw[36:40]
    assert block.tdk == raw[40:56] and block.tdk_kcv == raw[56:60]
    assert block.build() == raw
    assert f.split_key_block(raw) == [
        (raw[:16], raw[16:20]),
        (raw[20:36], raw[36:40]),
        (raw[40:56], raw[56:]),
    ]
    assert "\\x00" not in repr(block)
    raises(lambda: f.KeyBlock.parse(raw[:59]), 62, 0)
    raises(lambda: f.split_key_block(raw + b"\x00"), 62, 0)
    raises(
        lambda: f.KeyBlock(
            raw[:16], raw[16:20], raw[20:35], raw[36:40], raw[40:56], raw[56:]
        ).build(),
        62,
        20,
    )


def test_field63() -> None:
    assert f.parse_operator_code("001") == "001" == f.build_operator_code("001")
    assert f.parse_card_organisation("CUP") == "CUP" == f.build_card_organisation("CUP")
    assert f.parse_card_organisation("VIS and more") == "VIS"
    assert sorted(f.CARD_ORGANISATIONS) == ["ALP", "AMX", "CUP", "JCB", "MCC", "UPQ", "VIS", "WXP"]
    raises(lambda: f.parse_operator_code("0001"), 63, 0)
    raises(lambda: f.parse_operator_code("0-1"), 63, 0)
    raises(lambda: f.parse_card_organisation("XXX"), 63, 0)
    raises(lambda: f.build_card_organisation("cup"), 63, 0)
