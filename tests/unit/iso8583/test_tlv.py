"""BER-TLV of field 55."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.iso8583 import tlv
from tillpoint.iso8583.errors import FormatError


def test_known_encoding() -> None:
    items = [("9F26", bytes.fromhex("0102030405060708")), ("95", bytes(5)), ("9A", b"\x24\x01\x31")]
    data = tlv.encode(items)
    assert data == bytes.fromhex("9F26080102030405060708950500000000009A03240131")
    assert tlv.decode(data) == items
    assert tlv.to_dict(tlv.decode(data))["9F26"] == bytes.fromhex("0102030405060708")


def test_long_lengths() -> None:
    assert tlv.encode([("9F10", bytes(127))])[:3] == bytes.fromhex("9F107F")
    assert tlv.encode([("9F10", bytes(128))], max_bytes=1000)[:4] == bytes.fromhex("9F108180")
    two = tlv.encode([("70", bytes(300))], max_bytes=1000)
    assert two[:4] == bytes.fromhex("7082012C")
    assert tlv.decode(two, max_bytes=1000) == [("70", bytes(300))]
    # A longer length form than needed is still read (BER allows it).
    assert tlv.decode(bytes.fromhex("9F278101808282000100")) == [("9F27", b"\x80"), ("82", b"\x00")]


def test_three_byte_tags_and_padding() -> None:
    assert tlv.decode(bytes.fromhex("DF810101AA")) == [("DF8101", b"\xaa")]
    assert tlv.decode(bytes.fromhex("009F270180FF00")) == [("9F27", b"\x80")]


@pytest.mark.parametrize(
    ("data", "position"),
    [
        ("9F", 0),  # ends inside a tag
        ("9F8181810100", 0),  # a tag longer than 3 bytes
        ("9F27", 2),  # no length
        ("9F2780", 2),  # indefinite length
        ("9F2783000001", 2),  # a 3-byte length form
        ("9F2781", 2),  # ends inside a length
        ("9F270280", 3),  # the value runs past the end
    ],
)
def test_decode_refuses(data: str, position: int) -> None:
    with pytest.raises(FormatError) as e:
        tlv.decode(bytes.fromhex(data))
    assert e.value.field == 55 and e.value.position == position


def test_limits() -> None:
    with pytest.raises(FormatError):
        tlv.decode(bytes(256))
    with pytest.raises(FormatError):
        tlv.decode(bytes.fromhex("9500") * 65)
    with pytest.raises(FormatError):
        tlv.encode([("95", b"")] * 65)
    with pytest.raises(FormatError):
        tlv.encode([("9F10", bytes(253))])  # 256 bytes with tag and length
    with pytest.raises(FormatError):
        tlv.to_dict([("95", b""), ("95", b"\x01")])


@pytest.mark.parametrize("tag", ["9F", "9F81", "9F818181", "00", "FF", "X1", "9", "", "1F"])
def test_encode_refuses_malformed_tags(tag: str) -> None:
    with pytest.raises(FormatError) as e:
        tlv.encode([(tag, b"")])
    assert tag not in str(e.value) or tag == ""


def test_errors_never_quote_values() -> None:
    data = bytes.fromhex("5A08") + bytes.fromhex("6250940000000016") + bytes.fromhex("9F2702")
    with pytest.raises(FormatError) as e:
        tlv.decode(data)
    assert "6250940000000016" not in f"{e.value} {e.value.params!r}".upper()


one_byte_tags = st.integers(0x01, 0xFE).filter(lambda b: b & 0x1F != 0x1F).map(lambda b: f"{b:02X}")
two_byte_tags = st.tuples(
    st.integers(0, 0xFF).filter(lambda b: b & 0x1F == 0x1F and b != 0xFF), st.integers(0x00, 0x7F)
).map(lambda t: f"{t[0]:02X}{t[1]:02X}")
three_byte_tags = st.tuples(
    st.sampled_from([0x9F, 0xDF, 0x5F, 0xBF]), st.integers(0x80, 0xFF), st.integers(0x00, 0x7F)
).map(lambda t: f"{t[0]:02X}{t[1]:02X}{t[2]:02X}")
tags = st.one_of(one_byte_tags, two_byte_tags, three_byte_tags)


@settings(max_examples=300)
@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=12))
def test_round_trip(items: list[tuple[str, bytes]]) -> None:
    data = tlv.encode(items, max_bytes=10_000)
    assert tlv.decode(data, max_bytes=10_000) == items
    if len(data) <= tlv.MAX_BYTES:
        assert tlv.decode(tlv.encode(items)) == items


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_garbage_raises_only_format_errors(data: bytes) -> None:
    error: FormatError | None = None
    try:
        items = tlv.decode(data)
    except FormatError as e:
        error = e
    if error is not None:
        assert error.field == 55
        assert error.position is None or 0 <= error.position <= len(data)
    else:
        assert len(items) <= tlv.MAX_OBJECTS
        assert tlv.decode(tlv.encode(items)) == items
