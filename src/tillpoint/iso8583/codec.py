"""Encode and decode the message from the MTI on; the MAC block (MAB) of section 3.

Pure functions over bytes: no sockets, no keys, no crypto. The layout of every field is
the pyiso8583 spec in ``spec.py``; around pyiso8583 this module checks what it does not:

- the MTI is 4 BCD digits and the bitmap announces only fields the profile defines (no
  secondary bitmap), before pyiso8583 reads any field;
- every ``n`` field holds decimal digits only (pyiso8583 reads BCD as hex), track 2 only
  digits and its ``D`` separator, ``an`` letters, digits and spaces, ``ans`` printable
  ASCII (0x20-0x7E);
- every error becomes a ``FormatError`` naming the field and the byte position, raised
  with no chained exception (pyiso8583's errors hold the partially decoded message, card
  data included).

Well-formed messages take a direct path over the same spec, about four times faster;
whatever it does not take as plainly valid goes through pyiso8583, which names the fault
(see "the direct path" below).

``Message`` holds ``b`` fields (52, 55, 62, 64) as bytes and every other field as text,
exactly as the digits or characters appear in the profile. Track 2 (35) is text whose
separator is ``D``, the nibble on the wire; ``encode`` also accepts ``=`` for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import iso8583
from iso8583.decoder import DecodeError
from iso8583.encoder import EncodeError

from tillpoint.core.i18n import N_
from tillpoint.core.ids import is_digits
from tillpoint.iso8583.errors import CUT_SHORT, MALFORMED, FormatError
from tillpoint.iso8583.fields import MACED_NETWORK_CODES
from tillpoint.iso8583.spec import (
    BITMAP_BYTES,
    MAC_BYTES,
    MAC_FIELD,
    MASKED_FIELDS,
    MTI_BYTES,
    SPEC,
    TYPES,
    FieldType,
)

__all__ = [
    "MAC_BYTES",
    "MAC_FIELD",
    "REQUEST_MTIS",
    "FieldValue",
    "Message",
    "decode",
    "decoded_mac_block",
    "encode",
    "encode_for_mac",
    "encode_with_mac",
    "fill_mac",
    "mac_block",
    "mac_required",
    "maced_network_message",
    "response_mti",
]

FieldValue = str | bytes

#: Messages that never carry a MAC (section 3): the sign-on's answer and sign-off/echo,
#: both ways. The sign-on request carries one, under the terminal's TMK (section 4.1).
UNMACED_MTIS = frozenset({"0810", "0820", "0830"})

#: Every request a terminal may send (section 4); only these are answered.
REQUEST_MTIS = frozenset({"0100", "0200", "0220", "0320", "0400", "0500", "0800", "0820"})

_CHARSETS: dict[FieldType, re.Pattern[str]] = {
    "n": re.compile(r"[0-9]*"),
    "z": re.compile(r"[0-9D]*"),  # as pyiso8583 shows the nibbles; D is the separator
    "an": re.compile(r"[0-9A-Za-z ]*"),
    "ans": re.compile(r"[\x20-\x7e]*"),
}
_MTI = re.compile(r"[0-9]{4}")
_TID = re.compile(r"[\x20-\x7e]{8}")
_FIRST_FIELD = MTI_BYTES + BITMAP_BYTES
# Anything that could be a fragment of a card number or a key, should a future
# pyiso8583 ever quote data in its messages: long digit runs and long hex runs.
_LOOKS_LIKE_DATA = re.compile(r"\d{5,}|\b[0-9A-Fa-f]{8,}\b")


@dataclass(frozen=True, repr=False)
class Message:
    """An MTI (4 digits) and fields by number: ``b`` fields as bytes, the rest as str."""

    mti: str
    fields: dict[int, FieldValue] = dataclass_field(default_factory=dict)

    def get(self, number: int) -> FieldValue | None:
        return self.fields.get(number)

    def text(self, number: int) -> str | None:
        """A text field's value, or None when absent."""
        value = self.fields.get(number)
        if value is None:
            return None
        if not isinstance(value, str):
            raise FormatError(
                N_("Field {field} does not hold {kind} data"), field=number, kind="text"
            )
        return value

    def binary(self, number: int) -> bytes | None:
        """A ``b`` field's value, or None when absent."""
        value = self.fields.get(number)
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise FormatError(N_("Field {field} does not hold {kind} data"), field=number, kind="b")
        return value

    def with_fields(self, changes: Mapping[int, FieldValue | None]) -> Message:
        """A copy with fields set (or removed, for a None value)."""
        fields = dict(self.fields)
        for number, value in changes.items():
            if value is None:
                fields.pop(number, None)
            else:
                fields[number] = value
        return Message(self.mti, dict(sorted(fields.items())))

    def safe(self) -> dict[str, str]:
        """The fields as a log may show them: card data, PIN block, keys and MAC masked."""
        shown: dict[str, str] = {"mti": self.mti}
        for number, value in sorted(self.fields.items()):
            if number in MASKED_FIELDS:
                shown[str(number)] = f"<{len(value)}>"
            else:
                shown[str(number)] = value if isinstance(value, str) else value.hex().upper()
        return shown

    def __repr__(self) -> str:
        # Masked, so that a stray log line or assertion message shows no card data.
        return f"Message({self.safe()!r})"


# --- encoding -----------------------------------------------------------------------------


def encode(message: Message) -> bytes:
    """The bytes from the MTI on (field 64 as given, if present)."""
    direct = _direct_encode(message.mti, message.fields)
    if direct is not None:
        return direct
    return _library_encode(message)


def _library_encode(message: Message) -> bytes:
    """``encode`` through pyiso8583, which also names what is wrong with a message."""
    if not (isinstance(message.mti, str) and _MTI.fullmatch(message.mti)):
        raise FormatError(MALFORMED, part="MTI")
    doc: dict[str, str] = {"t": message.mti}
    for number, value in message.fields.items():
        doc[str(number)] = _encodable(number, value)
    try:
        raw, _ = iso8583.encode(doc, SPEC)
    except EncodeError as e:
        problem = (_field_number(e.field), _redact(e.msg))
    else:
        return bytes(raw)
    # Raised outside the except block: pyiso8583's error holds the message being encoded.
    failed, detail = problem
    raise FormatError(N_("Field {field} cannot be encoded: {detail}"), field=failed, detail=detail)


def _encodable(number: object, value: object) -> str:
    """A field value as pyiso8583 wants it: hex for ``b`` fields, the text otherwise."""
    if type(number) is not int or number not in TYPES:
        shown = number if isinstance(number, int) else None
        raise FormatError(N_("Field {field} is not in the profile"), field=shown)
    kind = TYPES[number]
    if kind == "b" and isinstance(value, bytes):
        return value.hex().upper()
    if kind != "b" and isinstance(value, str):
        text = value.replace("=", "D") if kind == "z" else value
        if _CHARSETS[kind].fullmatch(text):
            return text
    raise FormatError(N_("Field {field} does not hold {kind} data"), field=number, kind=kind)


# --- decoding -----------------------------------------------------------------------------


def decode(body: bytes) -> Message:
    """The message that starts at the MTI. Anything off raises ``FormatError``."""
    message = _direct_decode(bytes(body))
    if message is None:
        message, _ = _decode(body)
    return message


def _decode(body: bytes) -> tuple[Message, dict[int, int]]:
    """The message and where each field starts (its length prefix, or its data if fixed)."""
    data = bytes(body)
    mti = _check_head(data)
    error: FormatError | None = None
    try:
        doc, enc = iso8583.decode(data, SPEC)
    except DecodeError as e:
        error = _decode_error(e, mti)
    except (ValueError, TypeError, IndexError, KeyError):  # pragma: no cover
        # pyiso8583's own checks catch everything malformed we know of; should anything
        # slip through, untrusted bytes still never escape as another exception type.
        error = FormatError(CUT_SHORT, part="message", position=0, mti=mti)
    if error is not None:
        # Raised outside the except block, so no pyiso8583 error (which holds the
        # partially decoded message, card data included) is chained to it.
        raise error
    tid = _readable_tid(doc.get("41"))
    fields: dict[int, FieldValue] = {}
    starts: dict[int, int] = {}
    position = _FIRST_FIELD
    for number in sorted(int(key) for key in doc if is_digits(key)):
        key = str(number)
        starts[number] = position
        length, content = enc[key]["len"], enc[key]["data"]
        kind = TYPES[number]
        value = doc[key]
        if kind == "b":
            fields[number] = bytes(content)
        elif _CHARSETS[kind].fullmatch(value):
            fields[number] = value
        else:
            raise FormatError(
                N_("Field {field}, byte {position}: not valid {kind} data"),
                field=number,
                position=position + len(length),
                kind=kind,
                mti=mti,
                tid=tid,
            )
        position += len(length) + len(content)
    return Message(mti, fields), starts


def _check_head(data: bytes) -> str:
    """The MTI, once it and the bitmap are checked: primary bitmap, profile fields only."""
    if len(data) < MTI_BYTES:
        raise FormatError(CUT_SHORT, part="MTI", position=len(data))
    mti = data[:MTI_BYTES].hex()
    if not _MTI.fullmatch(mti):
        raise FormatError(CUT_SHORT, part="MTI", position=0)
    if len(data) < _FIRST_FIELD:
        raise FormatError(CUT_SHORT, part="bitmap", position=len(data), mti=mti)
    bitmap = int.from_bytes(data[MTI_BYTES:_FIRST_FIELD], "big")
    if bitmap >> 63:
        raise FormatError(
            N_("Byte {position}: a secondary bitmap (bit 1) is not allowed"),
            part="bitmap",
            position=MTI_BYTES,
            mti=mti,
        )
    for number in range(2, 65):
        if bitmap >> (64 - number) & 1 and number not in TYPES:
            raise FormatError(
                N_("Byte {position}: the bitmap announces field {field}, not in the profile"),
                field=number,
                position=MTI_BYTES + (number - 1) // 8,
                mti=mti,
            )
    return mti


def _decode_error(e: DecodeError, mti: str) -> FormatError:
    number = _field_number(e.field)
    partial: dict[str, Any] = e.doc_dec
    # Field 41 is readable only if decoding failed after it (fields decode in order).
    tid = _readable_tid(partial.get("41")) if number is not None and number > 41 else None
    return FormatError(
        N_("Field {field}, byte {position}: {detail}"),
        field=number,
        position=int(e.pos),
        part=None if number is not None else "message",
        detail=_redact(e.msg),
        mti=mti,
        tid=tid,
    )


def _field_number(key: object) -> int | None:
    return int(key) if isinstance(key, str) and is_digits(key) else None


def _readable_tid(value: object) -> str | None:
    return value if isinstance(value, str) and _TID.fullmatch(value) else None


def _redact(detail: object) -> str:
    return _LOOKS_LIKE_DATA.sub("...", str(detail))


# --- the MAC block ------------------------------------------------------------------------


def mac_block(body: bytes) -> bytes:
    """The MAB of an encoded message that carries field 64 (section 3): the bytes from the
    MTI to the end of the last field before 64, bitmap (with bit 64 set) included.

    The whole body is decoded first, so a malformed message raises ``FormatError``.
    """
    _, starts = _decode(body)
    if MAC_FIELD not in starts:
        raise FormatError(
            N_("Byte {position}: the message carries no MAC (bitmap bit 64 is not set)"),
            field=MAC_FIELD,
            position=_FIRST_FIELD - 1,
        )
    return bytes(body[: starts[MAC_FIELD]])


def decoded_mac_block(body: bytes, message: Message) -> bytes | None:
    """``mac_block`` of a body already decoded to ``message`` (None if it carries no
    MAC), without decoding it again: field 64 is fixed-length and the last field a
    primary bitmap can announce, and ``decode`` refuses bytes after the last field, so
    the MAB is the body without its last 8 bytes."""
    if MAC_FIELD not in message.fields:
        return None
    return bytes(body[:-MAC_BYTES])


def encode_for_mac(message: Message) -> bytes:
    """The message encoded with field 64 as 8 zero bytes: a placeholder.

    ``mac_block`` of the result is what the MAC is computed over; ``fill_mac`` then
    puts the MAC in place of the placeholder.
    """
    fields = dict(message.fields)
    fields[MAC_FIELD] = bytes(MAC_BYTES)
    return encode(Message(message.mti, fields))


def fill_mac(body: bytes, mac: bytes) -> bytes:
    """``body`` (which carries field 64) with its field 64 replaced by ``mac``."""
    _check_mac(mac)
    return mac_block(body) + mac


def encode_with_mac(message: Message, mac: Callable[[bytes], bytes]) -> bytes:
    """The message encoded with field 64 = ``mac(MAB)``; any field 64 given is replaced."""
    body = encode_for_mac(message)
    # Field 64 is fixed-length and the last field of a primary bitmap, so the MAB is the
    # body without its last 8 bytes (``mac_block`` would find the same, decoding it).
    mab = body[:-MAC_BYTES]
    value = mac(mab)
    _check_mac(value)
    return mab + value


def _check_mac(mac: object) -> None:
    if not (isinstance(mac, bytes) and len(mac) == MAC_BYTES):
        raise FormatError(N_("A MAC (field {field}) is 8 bytes"), field=MAC_FIELD)


def response_mti(mti: str | None) -> str | None:
    """The MTI that answers a request (``0200`` → ``0210``), or None when ``mti`` is
    not a request of the profile: only requests are answered, so nothing else can
    make an answer (9990 + 10 has five digits; 0210 + 10 would be a request)."""
    if mti not in REQUEST_MTIS:
        return None
    return mti[:2] + str(int(mti[2]) + 1) + mti[3]


def maced_network_message(message: Message) -> bool:
    """An 0820/0830 of e-signature upload (4.11) or the cashier link (4.13): network
    management messages that, unlike sign-off and echo, carry a MAC both ways."""
    if message.mti not in ("0820", "0830"):
        return False
    f60 = message.fields.get(60)
    return isinstance(f60, str) and f60[8:11] in MACED_NETWORK_CODES


def mac_required(message: Message) -> bool:
    """Whether the message must carry field 64 (section 3): every request and response
    except 0810, 0820/0830 (but those of 4.11 and 4.13) and a response with code ``A0``."""
    if message.mti in UNMACED_MTIS and not maced_network_message(message):
        return False
    is_response = _MTI.fullmatch(message.mti) is not None and int(message.mti[2]) % 2 == 1
    return not (is_response and message.fields.get(39) == "A0")


# --- the direct path ------------------------------------------------------------------------
#
# pyiso8583 reads and writes any ISO 8583 dialect from its spec, and this module checks
# around it what it leaves out; for the few fields of one profile that generality costs
# most of a host's per-message codec time (about 45 us to decode a sale and as much to
# encode its answer, against about 10 us here). So well-formed messages take a direct
# path driven by the same SPEC, and anything it does not take as plainly valid (a
# malformed message, a value off its charset) goes the pyiso8583 way, which finds and
# names the fault. Property tests hold the two to the same bytes and the same messages:
# the direct path either agrees with pyiso8583 or declines.


@dataclass(frozen=True)
class _Layout:
    number: int
    bit: int  # the field's bit in the 64-bit primary bitmap
    prefix: int  # bytes of BCD length prefix: 0 for a fixed field
    units: int  # the fixed length, or the most a variable field holds
    nibbles: bool  # counted in digits (BCD) rather than bytes
    kind: FieldType
    left_pad: bool  # an odd digit count pads the first nibble (else the last)
    charset: re.Pattern[str] | None


def _layouts() -> tuple[_Layout, ...]:
    found = []
    for number in sorted(TYPES):
        fs = SPEC[str(number)]
        kind = TYPES[number]
        found.append(
            _Layout(
                number, 1 << (64 - number), int(fs["len_type"]), int(fs["max_len"]),
                fs["len_count"] == "nibbles", kind, "left_pad" in fs,
                None if kind == "b" else _CHARSETS[kind],
            )
        )  # fmt: skip
    return tuple(found)


_LAYOUTS = _layouts()
_LAYOUT_OF = {layout.number: layout for layout in _LAYOUTS}
_PROFILE_BITS = sum(layout.bit for layout in _LAYOUTS)


def _direct_decode(data: bytes) -> Message | None:
    """The message, when every part of ``data`` is plainly valid; else None."""
    if len(data) < _FIRST_FIELD:
        return None
    mti = data[:MTI_BYTES].hex()
    bitmap = int.from_bytes(data[MTI_BYTES:_FIRST_FIELD], "big")
    if not _MTI.fullmatch(mti) or bitmap & ~_PROFILE_BITS:
        return None
    fields: dict[int, FieldValue] = {}
    position = _FIRST_FIELD
    for layout in _LAYOUTS:
        if not bitmap & layout.bit:
            continue
        units = layout.units
        if layout.prefix:
            length = data[position : position + layout.prefix].hex()
            if len(length) != 2 * layout.prefix or not length.isdigit():
                return None
            units = int(length)
            if units > layout.units:
                return None
            position += layout.prefix
        size = (units + 1) // 2 if layout.nibbles else units
        content = data[position : position + size]
        if len(content) != size:
            return None
        position += size
        value = _direct_value(layout, content, units)
        if value is None:
            return None
        fields[layout.number] = value
    return Message(mti, fields) if position == len(data) else None


def _direct_value(layout: _Layout, content: bytes, units: int) -> FieldValue | None:
    """A field's value from its bytes, when plainly valid; else None."""
    if layout.charset is None:
        return content
    if layout.nibbles:
        text = content.hex().upper()
        if units & 1:
            pad, text = (text[0], text[1:]) if layout.left_pad else (text[-1], text[:-1])
            if pad != "0":
                return None
    elif content.isascii():
        text = content.decode("ascii")
    else:
        return None
    return text if layout.charset.fullmatch(text) else None


def _direct_encode(mti: object, fields: Mapping[Any, object]) -> bytes | None:
    """The encoded message, when every value is plainly valid; else None."""
    if not (type(mti) is str and _MTI.fullmatch(mti)):
        return None
    bitmap = 0
    parts = []
    for number in sorted(fields, key=_sort_key):
        layout = _LAYOUT_OF.get(number) if type(number) is int else None
        if layout is None:
            return None
        encoded = _direct_content(layout, fields[number])
        if encoded is None:
            return None
        content, units = encoded
        if layout.prefix:
            if units > layout.units:
                return None
            parts.append(_bcd(units, layout.prefix))
        elif units != layout.units:
            return None
        parts.append(content)
        bitmap |= layout.bit
    return bytes.fromhex(mti) + bitmap.to_bytes(BITMAP_BYTES, "big") + b"".join(parts)


def _direct_content(layout: _Layout, value: object) -> tuple[bytes, int] | None:
    """A field's bytes and length (in its units), when plainly valid; else None."""
    if layout.charset is None:
        return (value, len(value)) if type(value) is bytes else None
    if type(value) is not str:
        return None
    text = value.replace("=", "D") if layout.kind == "z" else value
    if not (text.isascii() and layout.charset.fullmatch(text)):
        return None
    if not layout.nibbles:
        return text.encode("ascii"), len(text)
    if len(text) & 1:
        return bytes.fromhex("0" + text if layout.left_pad else text + "0"), len(text)
    return bytes.fromhex(text), len(text)


def _sort_key(number: object) -> int:
    return number if type(number) is int else -1


def _bcd(value: int, size: int) -> bytes:
    """``value`` as ``size`` bytes of BCD: a length prefix."""
    return bytes.fromhex(f"{value:0{2 * size}d}")
