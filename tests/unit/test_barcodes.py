"""Barcodes: GTIN check digits (EAN-13, EAN-8, UPC-A), the merchant's own codes, and the
in-store scale codes of weighed goods (store/barcodes.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.errors import InvalidInput
from tillpoint.store.barcodes import (
    Embedded,
    check_digit,
    make_scale_code,
    normalise,
    parse,
    scale_code,
    with_check_digit,
)
from tillpoint.store.models import BarcodeKind


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("6901234567892", BarcodeKind.EAN13),  # a Chinese (690-699) EAN-13
        ("4006381333931", BarcodeKind.EAN13),
        ("96385074", BarcodeKind.EAN8),
        ("036000291452", BarcodeKind.UPCA),
        ("0036000291452", BarcodeKind.UPCA),  # UPC-A sent as EAN-13 with its leading 0
        (" abc-12.x_9 ", BarcodeKind.OWN),
        ("12345", BarcodeKind.OWN),  # digits of no GTIN length: the merchant's own
    ],
)
def test_valid_codes_and_their_kinds(code: str, kind: BarcodeKind) -> None:
    assert parse(code).kind is kind


def test_codes_are_stored_in_one_form() -> None:
    assert parse("0036000291452").code == "036000291452"
    assert parse(" abc-1 ").code == "ABC-1"
    assert normalise("0036000291452") == normalise("036000291452")


@pytest.mark.parametrize("code", ["6901234567890", "96385075", "036000291453", "4006381333932"])
def test_a_wrong_check_digit_is_refused_with_the_right_one(code: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse(code)
    assert e.value.code == "barcode.check_digit"
    assert e.value.params["digit"] == check_digit(normalise(code)[:-1])


@pytest.mark.parametrize("code", ["", "  ", "a b", "条码", "x" * 33, "12;34"])
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidInput):
        parse(code)


@given(st.text("0123456789", min_size=12, max_size=12))
def test_ean13_round_trip(body: str) -> None:
    code = with_check_digit(body)
    barcode = parse(code)
    if body.startswith("0"):
        assert barcode == parse(code[1:])  # the UPC-A
        assert barcode.kind is BarcodeKind.UPCA
    else:
        assert (barcode.code, barcode.kind) == (code, BarcodeKind.EAN13)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    with pytest.raises(InvalidInput):
        parse(wrong)


@given(st.text("0123456789", min_size=7, max_size=7))
def test_ean8_round_trip(body: str) -> None:
    code = with_check_digit(body)
    assert (parse(code).code, parse(code).kind) == (code, BarcodeKind.EAN8)
    with pytest.raises(InvalidInput):
        parse(code[:-1] + str((int(code[-1]) + 3) % 10))


@given(st.text("0123456789", min_size=11, max_size=11))
def test_upca_round_trip(body: str) -> None:
    code = with_check_digit(body)
    assert (parse(code).code, parse(code).kind) == (code, BarcodeKind.UPCA)
    assert parse("0" + code).code == code  # as a 13-digit EAN
    with pytest.raises(InvalidInput):
        parse(code[:-1] + str((int(code[-1]) + 7) % 10))


def test_scale_codes() -> None:
    price = make_scale_code(123, amount_minor=1_234)
    assert len(price) == 13 and price.startswith("2000123")
    assert scale_code(price) == scale_code(price)
    read = scale_code(price)
    assert read is not None
    assert (read.plu, read.embedded, read.amount_minor, read.weight_milli) == (
        123,
        Embedded.PRICE,
        1_234,
        None,
    )
    weight = scale_code(make_scale_code(45, weight_milli=455, flag=5))
    assert weight is not None and (weight.plu, weight.embedded, weight.weight_milli) == (
        45,
        Embedded.WEIGHT,
        455,
    )
    both = scale_code(make_scale_code(7, amount_minor=1_580, weight_milli=1_234))
    assert both is not None and (both.plu, both.amount_minor, both.weight_milli) == (
        7,
        1_580,
        1_234,
    )


@pytest.mark.parametrize(
    "code",
    [
        "6901234567892",  # no 2 in front
        "2000123012340",  # a wrong check digit
        "2000000012347",  # no PLU
        "20001230123",  # too short
        "2A00123012344",
    ],
)
def test_not_scale_codes(code: str) -> None:
    if code == "2000000012347":
        code = with_check_digit(code[:-1])
    assert scale_code(code) is None


@given(
    st.integers(1, 99_999),
    st.integers(0, 99_999),
    st.integers(0, 9),
)
def test_scale_code_round_trip(plu: int, value: int, flag: int) -> None:
    if flag <= 4:
        code = make_scale_code(plu, amount_minor=value, flag=flag)
        expected = (plu, value, None)
    else:
        code = make_scale_code(plu, weight_milli=value, flag=flag)
        expected = (plu, None, value)
    read = scale_code(code)
    assert read is not None and (read.plu, read.amount_minor, read.weight_milli) == expected
    assert parse(code).kind is BarcodeKind.EAN13  # a valid EAN-13 too, if stored as one
