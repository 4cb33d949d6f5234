"""BER-TLV for field 55 (EMV tags such as 9F26, 9F27, 95, 9A): decode and encode."""

from __future__ import annotations

from tillpoint.iso8583.errors import FormatError

MAX_TAGS = 64  # a field 55 of 255 bytes cannot hold more


def decode(data: bytes) -> list[tuple[str, bytes]]:
    """Tags (upper-case hex) and values in order. Constructed tags are kept whole."""
    out: list[tuple[str, bytes]] = []
    i = 0
    while i < len(data):
        if len(out) >= MAX_TAGS:
            raise FormatError("55 holds too many tags", field=55, position=i)
        start = i
        if data[i] in (0x00, 0xFF):  # padding between objects
            i += 1
            continue
        i += 1
        if data[start] & 0x1F == 0x1F:  # multi-byte tag: continue while bit 8 is set
            while i < len(data) and data[i] & 0x80:
                i += 1
            i += 1
        if i > len(data):
            raise FormatError("55 ends inside a tag", field=55, position=start)
        tag = data[start:i].hex().upper()
        if i >= len(data):
            raise FormatError("55 ends before a length", field=55, position=i)
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            if n not in (1, 2) or i + n > len(data):
                raise FormatError("55 has a bad length", field=55, position=i - 1)
            length = int.from_bytes(data[i : i + n], "big")
            i += n
        if i + length > len(data):
            raise FormatError("55 value runs past the end", field=55, position=i)
        out.append((tag, data[i : i + length]))
        i += length
    return out


def encode(items: list[tuple[str, bytes]]) -> bytes:
    out = bytearray()
    for tag, value in items:
        try:
            out += bytes.fromhex(tag)
        except ValueError:
            raise FormatError("55 has a malformed tag", field=55) from None
        n = len(value)
        if n < 0x80:
            out.append(n)
        elif n <= 0xFF:
            out += bytes([0x81, n])
        elif n <= 0xFFFF:
            out += bytes([0x82]) + n.to_bytes(2, "big")
        else:
            raise FormatError("55 value too long", field=55)
        out += value
    return bytes(out)
