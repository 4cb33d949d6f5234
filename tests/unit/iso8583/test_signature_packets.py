"""Field 62 of the e-signature upload (4.11): packets cut from an image and read back,
the profile's bounds, and the PNG header read as bytes."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.signature import (
    MAX_IMAGE_BYTES,
    MAX_PACKET_DATA,
    MAX_PACKETS,
    PNG_MAGIC,
    Packet,
    PngHeader,
    cut,
    png_header,
    within_bounds,
)


@given(st.binary(min_size=1, max_size=MAX_IMAGE_BYTES), st.integers(1, MAX_PACKET_DATA))
def test_cut_packets_read_back_to_the_image(image: bytes, size: int) -> None:
    if -(-len(image) // size) > MAX_PACKETS:
        with pytest.raises(FormatError):
            cut(image, size)
        return
    packets = cut(image, size)
    read = [Packet.parse(p.build()) for p in packets]
    assert read == packets
    assert [p.number for p in read] == list(range(1, len(read) + 1))
    assert {p.count for p in read} == {len(read)}
    assert all(1 <= len(p.data) <= MAX_PACKET_DATA for p in read)
    assert b"".join(p.data for p in read) == image


def test_the_largest_image_is_eight_full_packets() -> None:
    packets = cut(b"x" * MAX_IMAGE_BYTES)
    assert [(p.number, p.count, len(p.data)) for p in packets] == [(n, 8, 500) for n in range(1, 9)]
    with pytest.raises(FormatError):
        cut(b"x" * (MAX_IMAGE_BYTES + 1))
    with pytest.raises(FormatError):
        cut(b"")


@pytest.mark.parametrize(
    "value",
    [
        b"",  # nothing
        b"\x01\x01",  # no image bytes
        b"\x00\x01x",  # packet 0
        b"\x02\x01x",  # packet 2 of 1
        b"\x01\x00x",  # count 0
        b"\x01\x09x",  # 9 packets
        b"\x01\x01" + b"x" * 501,  # 501 bytes
    ],
)
def test_malformed_packets_are_format_errors_of_field_62(value: bytes) -> None:
    with pytest.raises(FormatError) as e:
        Packet.parse(value)
    assert e.value.field == 62


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_fail_cleanly(value: bytes) -> None:
    try:
        p = Packet.parse(value)
    except FormatError as e:
        field = e.field
    else:
        assert p.build() == value
        return
    assert field == 62


def _ihdr(width: int, height: int, depth: int, colour: int, *, crc_ok: bool = True) -> bytes:
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    crc = zlib.crc32(body) ^ (0 if crc_ok else 1)
    return PNG_MAGIC + struct.pack(">I", 13) + body + struct.pack(">I", crc)


def test_png_header() -> None:
    assert png_header(_ihdr(384, 160, 1, 0)) == PngHeader(384, 160, 1, 0, 0)
    assert png_header(_ihdr(384, 160, 1, 0, crc_ok=False)) is None
    assert png_header(b"GIF89a" + bytes(40)) is None
    assert png_header(PNG_MAGIC) is None


@pytest.mark.parametrize(
    ("header", "size", "ok"),
    [
        (PngHeader(384, 160, 1, 0, 0), 4000, True),
        (PngHeader(1, 1, 1, 3, 0), 60, True),  # a two-colour palette
        (PngHeader(385, 160, 1, 0, 0), 900, False),
        (PngHeader(384, 161, 1, 0, 0), 900, False),
        (PngHeader(384, 160, 2, 0, 0), 900, False),  # 2 bits a pixel
        (PngHeader(384, 160, 8, 0, 0), 900, False),
        (PngHeader(384, 160, 8, 2, 0), 900, False),  # truecolour
        (PngHeader(384, 160, 1, 0, 0), 4001, False),
        (PngHeader(0, 160, 1, 0, 0), 900, False),
    ],
)
def test_within_bounds(header: PngHeader, size: int, ok: bool) -> None:
    assert within_bounds(header, size) is ok
