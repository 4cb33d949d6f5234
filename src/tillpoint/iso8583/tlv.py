"""BER-TLV for field 55 (EMV tags such as 9F26, 9F27, 9F10, 95, 9A): decode and encode.

- Tags are upper-case hex strings (``"9F26"``): one byte, or, when the first byte's low
  five bits are all set, followed by bytes whose top bit says "another byte follows".
  At most ``MAX_TAG_BYTES`` (3) bytes; ``00`` and ``FF`` are not tags.
- Lengths: one byte up to 127, ``81 xx`` up to 255, ``82 xx xx`` up to 65,535. Decoding
  accepts a longer form than needed (BER allows it); encoding writes the shortest.
- ``00``/``FF`` bytes between objects are padding (EMV allows it): skipped.
- Constructed objects (e.g. tag 70) are kept whole, their value not parsed further.
- Limits: at most ``max_bytes`` of input/output (255, field 55's maximum, by default)
  and ``MAX_OBJECTS`` objects. Every loop advances through the input, so decoding any
  bytes ends after at most ``len(data)`` steps.

Errors are ``FormatError`` with ``field`` 55 and ``position`` the offset inside the TLV
data; they never quote tags or values.
"""

from __future__ import annotations

from collections.abc import Iterable

from tillpoint.core.i18n import N_
from tillpoint.iso8583.errors import FormatError

FIELD = 55
MAX_BYTES = 255  # field 55 is b..255
MAX_OBJECTS = 64
MAX_TAG_BYTES = 3
PADDING = frozenset({0x00, 0xFF})

TlvItem = tuple[str, bytes]

_MALFORMED = N_("Field {field}, byte {position}: the TLV data is malformed")
_TOO_MANY = N_("Field {field}: more than {limit} TLV objects")
_TOO_LONG = N_("Field {field}: more than {limit} bytes of TLV data")
_BAD_OBJECT = N_("Field {field}: TLV object {index} is malformed")


def _error(
    message: str, position: int | None = None, *, limit: int = 0, index: int = 0
) -> FormatError:
    return FormatError(message, field=FIELD, position=position, limit=limit, index=index)


def decode(data: bytes, *, max_bytes: int = MAX_BYTES) -> list[TlvItem]:
    """Tags (upper-case hex) and values, in order; repeated tags are kept."""
    data = bytes(data)
    n = len(data)
    if n > max_bytes:
        raise _error(_TOO_LONG, max_bytes, limit=max_bytes)
    out: list[TlvItem] = []
    i = 0
    while i < n:
        if data[i] in PADDING:
            i += 1
            continue
        if len(out) >= MAX_OBJECTS:
            raise _error(_TOO_MANY, i, limit=MAX_OBJECTS)
        start = i
        i = _tag_end(data, i)
        tag = data[start:i].hex().upper()
        if i >= n:
            raise _error(_MALFORMED, i)
        first = data[i]
        i += 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            size = first - 0x80
            if i + size > n:
                raise _error(_MALFORMED, i - 1)
            length = int.from_bytes(data[i : i + size], "big")
            i += size
        else:
            raise _error(_MALFORMED, i - 1)
        if length > n - i:
            raise _error(_MALFORMED, i)
        out.append((tag, data[i : i + length]))
        i += length
    return out


def _tag_end(data: bytes, start: int) -> int:
    """Where the tag starting at ``start`` ends (exclusive)."""
    i = start + 1
    if data[start] & 0x1F != 0x1F:
        return i
    while True:
        if i >= len(data) or i - start >= MAX_TAG_BYTES:  # cut short, or too long a tag
            raise _error(_MALFORMED, start)
        more = data[i] & 0x80
        i += 1
        if not more:
            return i


def _tag_bytes(tag: object, index: int) -> bytes:
    raw = b""
    if isinstance(tag, str) and len(tag) % 2 == 0:
        try:
            raw = bytes.fromhex(tag)
        except ValueError:
            raw = b""
    # A well-formed tag is exactly what the decoder reads as one tag.
    if raw and len(raw) <= MAX_TAG_BYTES and raw[0] not in PADDING:
        try:
            if _tag_end(raw + b"\x00", 0) == len(raw):
                return raw
        except FormatError:
            pass
    raise _error(_BAD_OBJECT, index=index)


def encode(items: Iterable[TlvItem], *, max_bytes: int = MAX_BYTES) -> bytes:
    """The TLV bytes of ``items`` (tag hex, value), in order, lengths in shortest form."""
    out = bytearray()
    for index, (tag, value) in enumerate(items):
        if index >= MAX_OBJECTS:
            raise _error(_TOO_MANY, limit=MAX_OBJECTS)
        raw = _tag_bytes(tag, index)
        if not isinstance(value, bytes):
            raise _error(_BAD_OBJECT, index=index)
        size = len(value)
        if size < 0x80:
            length = bytes([size])
        elif size <= 0xFF:
            length = bytes([0x81, size])
        elif size <= 0xFFFF:
            length = b"\x82" + size.to_bytes(2, "big")
        else:
            raise _error(_BAD_OBJECT, index=index)
        out += raw + length + value
        if len(out) > max_bytes:
            raise _error(_TOO_LONG, limit=max_bytes)
    return bytes(out)


def to_dict(items: Iterable[TlvItem]) -> dict[str, bytes]:
    """Tag to value, refusing a tag that appears twice."""
    out: dict[str, bytes] = {}
    for index, (tag, value) in enumerate(items):
        if tag in out:
            raise _error(N_("Field {field}: TLV object {index} repeats a tag"), index=index)
        out[tag] = value
    return out
