"""Length prefix, TPDU and header (section 1)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.iso8583 import framing
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.spec import MAX_BODY_BYTES

BODY = bytes.fromhex("0820") + bytes(8)  # the smallest body: MTI and an empty bitmap


def test_request_frame_exact_bytes() -> None:
    tpdu = framing.request_tpdu()
    head = framing.header(version="010203")
    assert tpdu == bytes.fromhex("6000010000")
    assert head == bytes.fromhex("603100010203")
    wire = framing.build_frame(tpdu, head, BODY)
    assert wire == bytes.fromhex("0015") + tpdu + head + BODY
    frame = framing.parse_frame(wire[2:])
    assert frame == framing.Frame(tpdu, head, BODY)
    assert frame.destination == b"\x00\x01" and frame.source == b"\x00\x00"
    assert not frame.test_terminal and frame.processing_requirement == 0
    assert frame.payload() == wire[2:]


def test_reply_swaps_addresses_and_sets_the_sign_on_requirement() -> None:
    tpdu = framing.request_tpdu(b"\x00\x01", b"\x12\x34")
    assert framing.reply_tpdu(tpdu) == bytes.fromhex("6012340001")
    head = framing.header(test=True, version="020100")
    assert framing.reply_header(head) == head
    again = framing.reply_header(head, must_sign_on=True)
    assert again == bytes.fromhex("603113020100")  # test status kept, requirement 3
    assert framing.sign_on_again_header(head) == again
    assert framing.requirement(again) == framing.MUST_SIGN_ON
    info = framing.parse_header(again)
    assert info == framing.HeaderInfo(1, 3, "020100")
    assert info.to_bytes() == again


def test_length_prefix_limits() -> None:
    assert framing.parse_length(b"\x00\x15") == framing.MIN_PAYLOAD_BYTES == 21
    assert framing.parse_length((2048).to_bytes(2, "big")) == framing.MAX_FRAME_BYTES
    for bad in (b"\x08\x01", b"\xff\xff", b"\x00\x14", b"\x00\x00", b"\x00", b""):
        with pytest.raises(FormatError) as e:
            framing.parse_length(bad)
        assert e.value.part == "length" and e.value.position == 0
    with pytest.raises(FormatError):
        framing.frame_bytes(bytes(framing.MAX_FRAME_BYTES + 1))


def test_the_limit_holds_the_largest_legal_message() -> None:
    largest = framing.TPDU_BYTES + framing.HEADER_BYTES + MAX_BODY_BYTES
    assert largest == 1999
    assert largest <= framing.MAX_FRAME_BYTES


@pytest.mark.parametrize(
    ("payload", "position"),
    [
        (bytes.fromhex("6100010000" "603100010000") + BODY, 0),  # TPDU id
        (bytes.fromhex("6000010000" "613100010000") + BODY, 5),  # application class
        (bytes.fromhex("6000010000" "603200010000") + BODY, 6),  # profile version
        (bytes.fromhex("6000010000" "603120010000") + BODY, 7),  # terminal status 2
        (bytes.fromhex("6000010000" "6031000A0000") + BODY, 8),  # version not BCD
        (bytes.fromhex("6000010000" "603100010000") + BODY[:-1], 20),  # too short
        (bytes(framing.MAX_FRAME_BYTES + 1), 0),
    ],
)  # fmt: skip
def test_parse_frame_refuses(payload: bytes, position: int) -> None:
    with pytest.raises(FormatError) as e:
        framing.parse_frame(payload)
    assert e.value.position == position and e.value.field is None


def test_builders_refuse_bad_parts() -> None:
    bads: list[Callable[[], object]] = [
        lambda: framing.header(requirement=16),
        lambda: framing.header(version="12345"),
        lambda: framing.header(version="12345A"),
        lambda: framing.header(status=2),
        lambda: framing.request_tpdu(b"\x00"),
        lambda: framing.reply_tpdu(b"\x60\x00"),
        lambda: framing.reply_header(b"\x60\x31\x00"),
        lambda: framing.build_frame(b"\x61\x00\x01\x00\x00", framing.header(), BODY),
    ]
    for bad in bads:
        with pytest.raises(FormatError):
            bad()


@settings(max_examples=200)
@given(
    st.binary(min_size=2, max_size=2),
    st.binary(min_size=2, max_size=2),
    st.sampled_from([0, 1]),
    st.integers(0, 15),
    st.text("0123456789", min_size=6, max_size=6),
    st.binary(min_size=10, max_size=framing.MAX_FRAME_BYTES - 11),
)
def test_frame_round_trip(
    dest: bytes, source: bytes, status: int, requirement: int, version: str, body: bytes
) -> None:
    tpdu = framing.request_tpdu(dest, source)
    head = framing.header(status=status, requirement=requirement, version=version)
    wire = framing.build_frame(tpdu, head, body)
    size = framing.parse_length(wire[:2])
    assert size == len(wire) - 2
    frame = framing.parse_frame(wire[2 : 2 + size])
    assert (frame.tpdu, frame.header, frame.body) == (tpdu, head, body)
    assert framing.parse_header(frame.header).to_bytes() == head
    assert framing.reply_tpdu(framing.reply_tpdu(tpdu)) == tpdu
    assert framing.reply_tpdu(tpdu)[1:] == source + dest


@settings(max_examples=400)
@given(st.binary(max_size=120))
def test_random_payloads_raise_only_format_errors(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        framing.parse_frame(data)
    with contextlib.suppress(FormatError):
        framing.parse_length(data[:2])
    with contextlib.suppress(FormatError):
        framing.parse_header(data[:6])


@settings(max_examples=300)
@given(st.integers(0, 20), st.integers(1, 255))
def test_mutated_frames_raise_only_format_errors(at: int, xor: int) -> None:
    payload = bytearray(framing.request_tpdu() + framing.header() + BODY)
    payload[at] ^= xor
    error: FormatError | None = None
    try:
        frame = framing.parse_frame(bytes(payload))
    except FormatError as e:
        error = e
    if error is not None:
        assert error.position is not None and 0 <= error.position < 11
    else:
        assert frame.payload() == payload
