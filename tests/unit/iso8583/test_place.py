"""Field 59, where the terminal is (section 4.12): parse, build, refusals, properties."""

from __future__ import annotations

import ipaddress
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.geo import MAX_LATITUDE_E6, MAX_LONGITUDE_E6, Position
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.codec import Message, decode, encode
from tillpoint.iso8583.errors import FormatError


def entry(tag: str, value: str) -> str:
    return f"{tag}{len(value):03d}{value}"


def refused(value: str) -> FormatError:
    with pytest.raises(FormatError) as e:
        f.Place.parse(value)
    assert e.value.field == 59
    return e.value


def test_every_tag_of_the_profile() -> None:
    text = (
        entry("01", "01")
        + entry("02", "DEMO00001")
        + entry("04", "+31.230416/+121.473701")
        + entry("05", "460,00,6334,12345")
        + entry("06", "10.0.0.17")
    )
    place = f.Place.parse(text)
    assert place == f.Place(
        device_type=f.DEVICE_COUNTERTOP,
        serial_no="DEMO00001",
        position=Position(31_230_416, 121_473_701),
        cell=f.Cell("460", "00", "6334", "12345"),
        ip=ipaddress.ip_address("10.0.0.17"),
    )
    assert place.build() == text
    assert str(place.position.latitude) == "31.230416"  # type: ignore[union-attr]


def test_any_order_some_tags_and_ipv6() -> None:
    text = entry("06", "2001:db8::1") + entry("04", "-33.8688/+151.2093")
    place = f.Place.parse(text)
    assert place.ip == ipaddress.IPv6Address("2001:db8::1")
    assert place.position == Position(-33_868_800, 151_209_300)
    assert place.device_type is None and place.serial_no is None and place.cell is None
    # build writes the canonical form, in tag order
    assert place.build() == entry("04", "-33.868800/+151.209300") + entry("06", "2001:db8::1")


def test_unknown_tags_are_kept_verbatim() -> None:
    text = entry("01", "03") + entry("09", "anything, printable") + entry("A1", "x")
    place = f.Place.parse(text)
    assert place.other == (("09", "anything, printable"), ("A1", "x"))
    assert f.Place.parse(place.build()) == place


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("", 0),  # empty: a terminal with nothing to say leaves 59 out
        ("01", 0),  # cut short in the head
        ("010020", 0),  # the length says 2, one byte follows
        ("01002010100201", 7),  # tag 01 twice
        ("0100201" + "0200", 7),  # a head cut short
        ("01000", 0),  # an empty value
        ("010X201", 0),  # a length that is not digits
        ("!!00201", 0),  # a tag that is not an2
        (entry("01", "04"), 5),  # no such device type
        (entry("01", "1"), 5),
        (entry("02", " SN1"), 5),  # serial with a space at its end
        (entry("02", "S" * 41), 5),  # serial too long
        (entry("04", "31.230416/+121.473701"), 5),  # no sign
        (entry("04", "+31.230416/121.473701"), 5),
        (entry("04", "+91.000000/+121.473701"), 5),  # out of range
        (entry("04", "+90.000001/+0.0"), 5),
        (entry("04", "+31.2/+180.000001"), 5),
        (entry("04", "+31.1234567/+121.4"), 5),  # seven decimals
        (entry("04", "+31/+121"), 5),  # no decimals
        (entry("04", "+3a.1/+121.4"), 5),
        (entry("04", "+31.1,+121.4"), 5),
        (entry("05", "460,00,6334"), 5),  # three parts
        (entry("05", "46,00,6334,1"), 5),
        (entry("05", "460,00,16777216,1"), 5),  # LAC above 24 bits
        (entry("05", "460,00,1,68719476736"), 5),  # cell above 36 bits
        (entry("06", "10.0.0.256"), 5),
        (entry("06", "fe80::1%eth0"), 5),  # a zone
        (entry("06", "localhost"), 5),
        (entry("01", "01") + entry("04", "+31.2/+121.4") + entry("04", "+31.2/+121.4"), 7 + 17),
    ],
)
def test_malformed(value: str, position: int) -> None:
    assert refused(value).position == position


def test_too_long_and_not_ans() -> None:
    refused(entry("09", "x" * 596))  # 601 bytes
    assert f.Place.parse(entry("09", "x" * 595)).other[0][1] == "x" * 595  # 600: fits
    refused(entry("02", "序列号"))
    refused(entry("02", "SN\x001"))


def test_errors_quote_nothing_of_the_field() -> None:
    e = refused(entry("02", "SECRET-ISH-SERIAL-" + "9" * 30))
    assert "SECRET" not in str(e) and "999" not in str(e)


def test_build_refuses_what_it_cannot_write() -> None:
    for bad in (
        f.Place(),  # nothing to say
        f.Place(device_type="09"),
        f.Place(serial_no=""),
        f.Place(cell=f.Cell("460", "00", "x", "1")),
        f.Place(ip="10.0.0.1"),  # type: ignore[arg-type]
        f.Place(ip=ipaddress.IPv6Address("fe80::1%eth0")),
        f.Place(other=(("01", "01"),)),  # a known tag among the others
        f.Place(other=(("09", "a"), ("09", "b"))),
        f.Place(other=(("09", ""),)),
        f.Place(other=(("09", "x" * 600),)),
    ):
        with pytest.raises(FormatError):
            bad.build()


def test_field_59_on_the_wire() -> None:
    place = f.Place(f.DEVICE_COUNTERTOP, "DEMO00001", Position(31_230_400, 121_473_700))
    body = encode(Message("0200", {11: "000001", 41: "10000001", 59: place.build()}))
    assert f.Place.parse(decode(body).text(59) or "") == place
    with pytest.raises(FormatError) as e:
        encode(Message("0200", {11: "000001", 59: "x" * 601}))
    assert e.value.field == 59


# --- properties ---------------------------------------------------------------------------

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60)
serials = st.from_regex(r"[\x21-\x7e]([\x20-\x7e]{0,38}[\x21-\x7e])?", fullmatch=True)
positions = st.builds(
    Position,
    st.integers(-MAX_LATITUDE_E6, MAX_LATITUDE_E6),
    st.integers(-MAX_LONGITUDE_E6, MAX_LONGITUDE_E6),
)
cells = st.builds(
    f.Cell,
    st.text(string.digits, min_size=3, max_size=3),
    st.text(string.digits, min_size=2, max_size=3),
    st.integers(0, f.MAX_LAC).map(str),
    st.integers(0, f.MAX_CELL_ID).map(str),
)
ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
others = st.dictionaries(
    st.text(string.ascii_letters + string.digits, min_size=2, max_size=2).filter(
        lambda t: t not in f.PLACE_TAGS
    ),
    printable,
    max_size=3,
).map(lambda d: tuple(d.items()))
places = st.builds(
    f.Place,
    st.none() | st.sampled_from(sorted(f.DEVICE_TYPES)),
    st.none() | serials,
    st.none() | positions,
    st.none() | cells,
    st.none() | ips,
    others,
).filter(lambda p: p != f.Place())


@given(places)
def test_build_parse_round_trip(place: f.Place) -> None:
    text = place.build()
    assert f.Place.parse(text) == place
    assert f.Place.parse(text).build() == text


def _place_or_format_error(text: str) -> f.Place | None:
    """The place, or None when ``FormatError`` (of field 59) says why not."""
    try:
        return f.Place.parse(text)
    except FormatError as e:
        if e.field != 59:
            raise
        return None


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=700))
def test_any_text_is_a_place_or_a_format_error(text: str) -> None:
    place = _place_or_format_error(text)
    if place is not None:
        assert f.Place.parse(place.build()) == place


@given(st.binary(max_size=700))
def test_any_bytes_are_a_place_or_a_format_error(data: bytes) -> None:
    _place_or_format_error(data.decode("latin-1"))


@given(places, st.data())
def test_a_cut_or_changed_length_never_crashes(place: f.Place, data: st.DataObject) -> None:
    text = place.build()
    cut = data.draw(st.integers(0, len(text) - 1))
    for mangled in (text[:cut], text[:cut] + "9" + text[cut + 1 :]):
        _place_or_format_error(mangled)
