"""Encode and decode the part of a message from the MTI on; compute the MAC block.

Pure functions over bytes: no sockets, no keys. ``Message`` holds ``b`` fields (52, 55,
62, 64) as bytes and every other field as text, so callers never see hex strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import iso8583
from iso8583.decoder import DecodeError
from iso8583.encoder import EncodeError

from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.spec import BINARY_FIELDS, FIELD_NUMBERS, SENSITIVE_FIELDS, SPEC

MAC_FIELD = 64
MAC_BYTES = 8
MTI_BYTES = 2
BITMAP_BYTES = 8
FieldValue = str | bytes


@dataclass(frozen=True)
class Message:
    mti: str
    fields: dict[int, FieldValue] = field(default_factory=dict)

    def get(self, number: int) -> FieldValue | None:
        return self.fields.get(number)

    def text(self, number: int) -> str | None:
        value = self.fields.get(number)
        if value is None:
            return None
        if not isinstance(value, str):
            raise FormatError("expected a text field", field=number)
        return value

    def binary(self, number: int) -> bytes | None:
        value = self.fields.get(number)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise FormatError("expected a binary field", field=number)
        return value

    def safe(self) -> dict[str, str]:
        """The fields as a log may show them: card data and PIN blocks masked."""
        shown: dict[str, str] = {"mti": self.mti}
        for number, value in sorted(self.fields.items()):
            if number in SENSITIVE_FIELDS or number == MAC_FIELD:
                shown[str(number)] = f"<{len(value)}>"
            else:
                shown[str(number)] = value if isinstance(value, str) else value.hex().upper()
        return shown


def _field_number(key: str | None) -> int | None:
    return int(key) if key and key.isdigit() else None


def _check_bitmap(body: bytes) -> None:
    """Every field the bitmap announces must be one the profile defines."""
    if len(body) < MTI_BYTES + BITMAP_BYTES:
        raise FormatError("the message ends inside the bitmap", position=len(body))
    bitmap = int.from_bytes(body[MTI_BYTES : MTI_BYTES + BITMAP_BYTES], "big")
    if bitmap >> 63:
        raise FormatError("a secondary bitmap is not allowed", position=MTI_BYTES)
    for number in range(2, 65):
        if bitmap >> (64 - number) & 1 and number not in FIELD_NUMBERS:
            raise FormatError("the profile has no such field", field=number, position=MTI_BYTES)


def decode(body: bytes) -> Message:
    """The message that starts at the MTI. Anything off raises ``FormatError``."""
    _check_bitmap(body)
    try:
        doc, _ = iso8583.decode(bytearray(body), SPEC)
    except DecodeError as e:
        number = _field_number(e.field)
        where = "MTI" if e.field == "t" else "bitmap" if e.field in ("p", "1") else "field"
        partial = e.doc_dec
        raise FormatError(
            f"cannot decode the {where}",
            field=number,
            position=e.pos,
            mti=partial.get("t"),
            tid=partial.get("41") if number is None or number > 41 else None,
        ) from None
    except (ValueError, TypeError, IndexError, KeyError, UnicodeError):
        # The library's own checks should catch everything; untrusted bytes never
        # escape as anything but a FormatError even if one slips through.
        raise FormatError("cannot decode the message") from None
    if not doc["t"].isdigit():
        raise FormatError("the MTI is not 4 digits", position=0)
    fields: dict[int, FieldValue] = {}
    for key, value in doc.items():
        number = _field_number(key)
        if number is None:
            continue
        fields[number] = bytes.fromhex(value) if number in BINARY_FIELDS else value
    return Message(doc["t"], fields)


def encode(message: Message) -> bytes:
    """The bytes from the MTI on, field 64 included as given."""
    doc: dict[str, Any] = {"t": message.mti}
    for number, value in message.fields.items():
        if number in BINARY_FIELDS:
            if not isinstance(value, bytes):
                raise FormatError("a binary field needs bytes", field=number)
            doc[str(number)] = value.hex().upper()
        else:
            if not isinstance(value, str):
                raise FormatError("a text field needs str", field=number)
            doc[str(number)] = value
    try:
        raw, _ = iso8583.encode(doc, SPEC)
    except EncodeError as e:
        raise FormatError("cannot encode the field", field=_field_number(e.field)) from None
    return bytes(raw)


def mac_block(body: bytes) -> bytes:
    """The MAB of a message whose field 64 is present: everything before the MAC."""
    if len(body) < MTI_BYTES + BITMAP_BYTES + MAC_BYTES or not body[MTI_BYTES + 7] & 0x01:
        raise FormatError("the message carries no MAC", field=MAC_FIELD)
    return body[:-MAC_BYTES]


def encode_with_mac(message: Message, mac: Callable[[bytes], bytes]) -> bytes:
    """Encode with field 64 computed by ``mac`` over the MAB (bitmap bit 64 set)."""
    fields = dict(message.fields)
    fields[MAC_FIELD] = bytes(MAC_BYTES)
    body = encode(Message(message.mti, fields))
    mab = body[:-MAC_BYTES]
    value = mac(mab)
    if len(value) != MAC_BYTES:
        raise FormatError("a MAC is 8 bytes", field=MAC_FIELD)
    return mab + value
