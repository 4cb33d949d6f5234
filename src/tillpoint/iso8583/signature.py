"""The e-signature upload's packets (spec 4.11): field 62 of an 0820 whose 60.3 is
``800`` is the packet number (1 byte, from 1), the packet count (1 byte) and at most
500 bytes of the signature's PNG, which is at most 384 x 160 pixels of 1 bit each and
4,000 bytes, so at most 8 packets.

This module holds the wire's bounds and the packets' layout, shared by the terminal
(which cuts its PNG into packets) and the host (which reads them back): no image
library, only the PNG's header as bytes (``png_header``). Deciding whether the bytes
make an image is the host's (payments/signatures.py).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from tillpoint.core.i18n import N_
from tillpoint.iso8583.errors import FormatError

TXN_TYPE = "07"  # 60.1 of the upload's 0820 (60.3 is ``fields.SIGNATURE``, 800)
MAX_WIDTH_PX = 384
MAX_HEIGHT_PX = 160
MAX_IMAGE_BYTES = 4000
MAX_PACKET_DATA = 500
MAX_PACKETS = 8
HEAD = 2  # packet number + packet count
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_IHDR = struct.Struct(">I4sIIBBBBBI")  # length, type, width, height, depth, colour, ..., CRC
# Colour types whose pixels may be 1 bit: greyscale (0) and an indexed palette (3).
GREYSCALE, INDEXED = 0, 3


@dataclass(frozen=True)
class Packet:
    """One packet of field 62: ``number`` of ``count``, and its part of the image."""

    number: int
    count: int
    data: bytes

    @classmethod
    def parse(cls, value: bytes) -> Packet:
        """Field 62 to a packet; ``FormatError`` (field 62) when the numbering or the
        length is outside the profile: number 1..count, count 1..8, 1..500 bytes."""
        if len(value) <= HEAD:
            raise FormatError(N_("Field {field}: a signature packet has no image bytes"), field=62)
        number, count, data = value[0], value[1], value[HEAD:]
        if not 1 <= count <= MAX_PACKETS:
            raise FormatError(
                N_("Field {field}: a signature is cut into 1 to {most} packets"),
                field=62,
                position=1,
                most=MAX_PACKETS,
            )
        if not 1 <= number <= count:
            raise FormatError(
                N_("Field {field}: a packet's number is from 1 to the packet count"),
                field=62,
                position=0,
            )
        if len(data) > MAX_PACKET_DATA:
            raise FormatError(
                N_("Field {field}: a packet holds at most {most} bytes of the image"),
                field=62,
                position=HEAD,
                most=MAX_PACKET_DATA,
            )
        return cls(number, count, data)

    def build(self) -> bytes:
        if not (1 <= self.number <= self.count <= MAX_PACKETS) or not (
            1 <= len(self.data) <= MAX_PACKET_DATA
        ):
            raise FormatError(N_("Field {field}: the packet is outside the profile"), field=62)
        return bytes((self.number, self.count)) + self.data


def cut(png: bytes, size: int = MAX_PACKET_DATA) -> list[Packet]:
    """The packets of an image: ``size`` bytes each (the last one the rest). The image
    must fit the profile's 4,000 bytes and so at most 8 packets."""
    if not png or len(png) > MAX_IMAGE_BYTES or not 1 <= size <= MAX_PACKET_DATA:
        raise FormatError(
            N_("Field {field}: a signature image is 1 to {most} bytes"),
            field=62,
            most=MAX_IMAGE_BYTES,
        )
    parts = [png[i : i + size] for i in range(0, len(png), size)]
    if len(parts) > MAX_PACKETS:
        raise FormatError(
            N_("Field {field}: a signature is cut into 1 to {most} packets"),
            field=62,
            most=MAX_PACKETS,
        )
    return [Packet(n, len(parts), part) for n, part in enumerate(parts, 1)]


class PngHeader(NamedTuple):
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int


def png_header(data: bytes) -> PngHeader | None:
    """The PNG's header chunk (IHDR), which must come first, checked by its CRC; None
    when the bytes do not start as a PNG does."""
    if not data.startswith(PNG_MAGIC) or len(data) < len(PNG_MAGIC) + _IHDR.size:
        return None
    length, kind, width, height, depth, colour, _c, _f, interlace, crc = _IHDR.unpack_from(
        data, len(PNG_MAGIC)
    )
    body = data[len(PNG_MAGIC) + 4 : len(PNG_MAGIC) + 8 + 13]
    if length != 13 or kind != b"IHDR" or zlib.crc32(body) != crc:
        return None
    return PngHeader(width, height, depth, colour, interlace)


def within_bounds(header: PngHeader, size: int) -> bool:
    """What the profile asks of the image besides being a PNG: 1 bit per pixel (grey or
    a two-colour palette), at most 384 x 160 pixels and 4,000 bytes."""
    return (
        header.bit_depth == 1
        and header.colour_type in (GREYSCALE, INDEXED)
        and 1 <= header.width <= MAX_WIDTH_PX
        and 1 <= header.height <= MAX_HEIGHT_PX
        and size <= MAX_IMAGE_BYTES
    )
