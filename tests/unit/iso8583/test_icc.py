"""Field 55 of a chip request and its answer, and field 23 (spec 4.10)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.iso8583 import icc, tlv
from tillpoint.iso8583.errors import FormatError
from tillpoint.terminal import chip

PAN = "6212340000000000012"


def a_read(**kw: object) -> bytes:
    args: dict[str, object] = {
        "kind": "sale", "amount_minor": 12_34, "pin": True, "ifd_serial": "10000001",
        "today": date(2026, 12, 4), "unpredictable": bytes.fromhex("12345678"),
    }  # fmt: skip
    args.update(kw)
    return chip.read(PAN, 1, **args).icc  # type: ignore[arg-type]


def test_a_read_carries_every_tag_of_4_10_in_its_order() -> None:
    items = tlv.decode(a_read())
    assert [t for t, _ in items] == ["9F26", "9F27", *list(icc.REQUEST_TAGS)[2:]]
    tags = icc.request_tags(a_read())
    assert tags["9F10"] == bytes.fromhex("06011203A00000")
    assert tags["9F02"] == bytes.fromhex("000000001234") and icc.amount_minor(tags) == 12_34
    assert tags["9A"] == bytes.fromhex("261204") and tags["9C"] == b"\x00"
    assert tags["9F1E"] == b"10000001" and tags["84"] == bytes.fromhex("A000000333010101")
    assert icc.request_tags(a_read(kind="balance", amount_minor=0))["9C"] == b"\x30"
    assert icc.request_tags(a_read(kind="preauth"))["9C"] == b"\x03"


def _without(data: bytes, tag: str) -> bytes:
    return tlv.encode([(t, v) for t, v in tlv.decode(data) if t != tag])


def _with(data: bytes, tag: str, value: bytes) -> bytes:
    return tlv.encode([(t, value if t == tag else v) for t, v in tlv.decode(data)])


@pytest.mark.parametrize("tag", list(icc.REQUEST_TAGS))
def test_every_tag_is_required(tag: str) -> None:
    with pytest.raises(FormatError) as missing:
        icc.request_tags(_without(a_read(), tag))
    assert missing.value.field == 55 and tag in str(missing.value)


@pytest.mark.parametrize(
    ("tag", "value"),
    [("9F26", bytes(7)), ("9F36", bytes(3)), ("9F02", bytes(5)), ("95", bytes(4)),
     ("9F10", b""), ("9F10", bytes(33)), ("84", bytes(4)), ("9F1E", b"1234567")],
)  # fmt: skip
def test_wrong_lengths(tag: str, value: bytes) -> None:
    with pytest.raises(FormatError, match=tag):
        icc.request_tags(_with(a_read(), tag, value))


@pytest.mark.parametrize("tag", sorted(icc.BCD_TAGS))
def test_numeric_tags_are_bcd(tag: str) -> None:
    value = icc.request_tags(a_read())[tag]
    with pytest.raises(FormatError, match="BCD"):
        icc.request_tags(_with(a_read(), tag, b"\xaa" + value[1:]))


def test_missing_repeated_or_broken_55() -> None:
    with pytest.raises(FormatError, match="chip"):
        icc.request_tags(None)
    with pytest.raises(FormatError, match="repeats"):
        icc.request_tags(a_read() + tlv.encode([("9F36", b"\x00\x02")]))
    with pytest.raises(FormatError):
        icc.request_tags(a_read()[:-1])  # cut short
    # Tags the profile does not name are let through.
    assert "9F41" in icc.request_tags(a_read() + tlv.encode([("9F41", b"\x00\x01")]))


def test_field_23() -> None:
    assert icc.psn("001") == "01"
    assert icc.psn(None) == "00"  # none: as EMV takes it
    for bad in ("101", "01", "0a1"):
        with pytest.raises(FormatError):
            icc.psn(bad)


def test_the_answers_55() -> None:
    data = icc.issuer_data(bytes.fromhex("F618B50B"), bytes(4))
    assert data.hex().upper() == "9108F618B50B00000000"
    assert icc.issuer_authentication(data) == bytes.fromhex("F618B50B00000000")
    assert icc.issuer_authentication(None) is None
    assert icc.issuer_authentication(tlv.encode([("8A", b"00")])) is None


@given(st.binary(max_size=300))
def test_any_bytes_are_tags_or_a_format_error(data: bytes) -> None:
    error: FormatError | None = None
    try:
        tags = icc.request_tags(data)
    except FormatError as e:
        error = e
    if error is not None:
        assert error.field == 55
    else:
        assert set(icc.REQUEST_TAGS) <= set(tags)
