"""What wraps a message on the wire (section 1): length prefix, TPDU and header.

    LEN (2, big-endian) | TPDU (5) | HEADER (6) | MTI | BITMAP | FIELDS

- The length counts everything after it (the *payload*).
- TPDU: ``0x60``, destination (2 bytes), source (2 bytes). Terminals send destination
  ``0x0001``; the host answers with the two addresses swapped (``reply_tpdu``).
- Header: ``0x60`` (application class), ``0x31`` (profile version), one byte whose high
  nibble is the terminal status (0 normal, 1 test) and whose low nibble is the
  processing requirement (0; in an answer 3 = sign on again), then 3 bytes of software
  version in BCD.

TPDU and header travel as bytes (a host echoes them, changed only where the profile
says); ``parse_header`` gives their typed view. ``parse_frame`` checks both.
"""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.core.i18n import N_
from tillpoint.core.ids import is_digits
from tillpoint.iso8583.errors import CUT_SHORT, MALFORMED, FormatError
from tillpoint.iso8583.spec import BITMAP_BYTES, MTI_BYTES

LENGTH_BYTES = 2
TPDU_BYTES = 5
HEADER_BYTES = 6
TPDU_ID = 0x60
HEADER_APP = 0x60  # application class
HEADER_VERSION = 0x31  # profile version
TERMINAL_DESTINATION = b"\x00\x01"  # where terminals send
STATUS_NORMAL = 0
STATUS_TEST = 1
MUST_SIGN_ON = 3  # processing requirement in an answer: the terminal must sign on again

#: The smallest payload that can be a message: TPDU, header, MTI and bitmap.
MIN_PAYLOAD_BYTES = TPDU_BYTES + HEADER_BYTES + MTI_BYTES + BITMAP_BYTES
#: The largest payload (the value of the length prefix) a host or terminal accepts.
#: The largest legal message, every field at its maximum, is TPDU + header +
#: ``spec.MAX_BODY_BYTES`` = 1,999 bytes (a test keeps this true); 2,048 leaves room and
#: lets a reader refuse a longer frame from its 2-byte prefix alone, before reading (or
#: buffering) the rest: a peer can never make either side hold more than 2 KB.
MAX_FRAME_BYTES = 2048


@dataclass(frozen=True)
class Frame:
    """One payload split in three: TPDU, header and the message from the MTI on."""

    tpdu: bytes
    header: bytes
    body: bytes

    @property
    def destination(self) -> bytes:
        return self.tpdu[1:3]

    @property
    def source(self) -> bytes:
        return self.tpdu[3:5]

    @property
    def test_terminal(self) -> bool:
        return self.header[2] >> 4 == STATUS_TEST

    @property
    def processing_requirement(self) -> int:
        return self.header[2] & 0x0F

    def payload(self) -> bytes:
        """The frame as sent after the length prefix."""
        return self.tpdu + self.header + self.body


@dataclass(frozen=True)
class HeaderInfo:
    """The 6-byte header, read."""

    terminal_status: int  # 0 normal, 1 test
    processing_requirement: int  # 0; 3 in an answer: sign on again
    software_version: str  # 6 digits

    def to_bytes(self) -> bytes:
        return header(
            status=self.terminal_status,
            requirement=self.processing_requirement,
            version=self.software_version,
        )


# --- length prefix --------------------------------------------------------------------------


def parse_length(prefix: bytes) -> int:
    """The payload length a 2-byte prefix announces, checked against the limits."""
    if len(prefix) != LENGTH_BYTES:
        raise FormatError(CUT_SHORT, part="length", position=0)
    size = int.from_bytes(prefix, "big")
    if not MIN_PAYLOAD_BYTES <= size <= MAX_FRAME_BYTES:
        raise _size_error(size, position=0)
    return size


def frame_bytes(payload: bytes) -> bytes:
    """The length prefix and the payload: what goes on the wire."""
    if len(payload) > MAX_FRAME_BYTES:
        raise _size_error(len(payload), position=None)
    return len(payload).to_bytes(LENGTH_BYTES, "big") + payload


def build_frame(tpdu: bytes, header_bytes: bytes, body: bytes) -> bytes:
    """TPDU, header and body, checked, behind their length prefix."""
    _check_tpdu(tpdu)
    parse_header(header_bytes)
    return frame_bytes(tpdu + header_bytes + body)


def _size_error(size: int, *, position: int | None) -> FormatError:
    return FormatError(
        N_("A frame holds {minimum} to {limit} bytes, not {size}"),
        part="length",
        position=position,
        size=size,
        minimum=MIN_PAYLOAD_BYTES,
        limit=MAX_FRAME_BYTES,
    )


# --- parsing --------------------------------------------------------------------------------


def parse_frame(payload: bytes) -> Frame:
    """What follows the length prefix, split and checked (the body is not decoded)."""
    data = bytes(payload)
    if len(data) > MAX_FRAME_BYTES:
        raise _size_error(len(data), position=0)
    if len(data) < MIN_PAYLOAD_BYTES:
        raise FormatError(CUT_SHORT, part="frame", position=len(data))
    tpdu = data[:TPDU_BYTES]
    head = data[TPDU_BYTES : TPDU_BYTES + HEADER_BYTES]
    _check_tpdu(tpdu)
    _read_header(head, offset=TPDU_BYTES)
    return Frame(tpdu, head, data[TPDU_BYTES + HEADER_BYTES :])


def _check_tpdu(tpdu: bytes) -> None:
    if len(tpdu) != TPDU_BYTES or tpdu[0] != TPDU_ID:
        raise FormatError(CUT_SHORT, part="TPDU", position=0)


def parse_header(header_bytes: bytes) -> HeaderInfo:
    """The 6-byte header, checked: 0x60, 0x31, status 0 or 1, 6 BCD version digits.

    Any processing requirement nibble is accepted (what it means is the caller's to
    judge: 0 in requests, 0 or 3 in this profile's answers).
    """
    return _read_header(header_bytes, offset=0)


def _read_header(head: bytes, *, offset: int) -> HeaderInfo:
    """``parse_header``, with positions counted from ``offset`` (the header's own)."""
    if len(head) != HEADER_BYTES:
        raise FormatError(CUT_SHORT, part="header", position=offset)
    status = head[2] >> 4
    version = head[3:].hex()
    checks = (
        head[0] == HEADER_APP,  # byte 0: application class
        head[1] == HEADER_VERSION,  # byte 1: profile version
        status in (STATUS_NORMAL, STATUS_TEST),  # byte 2: status nibble
        is_digits(version),  # bytes 3-5: software version, BCD
    )
    for at, ok in enumerate(checks):
        if not ok:
            raise FormatError(CUT_SHORT, part="header", position=offset + at)
    return HeaderInfo(status, head[2] & 0x0F, version)


def requirement(header_bytes: bytes) -> int:
    """The processing requirement nibble of a header."""
    return parse_header(header_bytes).processing_requirement


# --- building -------------------------------------------------------------------------------


def request_tpdu(destination: bytes = TERMINAL_DESTINATION, source: bytes = b"\x00\x00") -> bytes:
    """A terminal's TPDU."""
    if len(destination) != 2 or len(source) != 2:
        raise FormatError(MALFORMED, part="TPDU")
    return bytes([TPDU_ID]) + destination + source


def reply_tpdu(tpdu: bytes) -> bytes:
    """The answer's TPDU: the request's with destination and source swapped."""
    _check_tpdu(tpdu)
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


def header(
    *, test: bool = False, requirement: int = 0, version: str = "010000", status: int | None = None
) -> bytes:
    """A header: status 1 when ``test`` (or ``status`` given), the requirement nibble and
    6 digits of software version."""
    terminal_status = (STATUS_TEST if test else STATUS_NORMAL) if status is None else status
    if not (
        terminal_status in (STATUS_NORMAL, STATUS_TEST)
        and 0 <= requirement <= 0x0F
        and len(version) == 6
        and version.isascii()
        and is_digits(version)
    ):
        raise FormatError(MALFORMED, part="header")
    status_byte = terminal_status << 4 | requirement
    return bytes([HEADER_APP, HEADER_VERSION, status_byte]) + bytes.fromhex(version)


def reply_header(request_header: bytes, *, must_sign_on: bool = False) -> bytes:
    """The answer's header: the request's (status, version) with the processing
    requirement set to 3 when the terminal must sign on again, else 0."""
    parse_header(request_header)
    status = request_header[2] & 0xF0
    requirement = MUST_SIGN_ON if must_sign_on else 0
    return request_header[:2] + bytes([status | requirement]) + request_header[3:]


def sign_on_again_header(request_header: bytes) -> bytes:
    """The answer's header telling the terminal to sign on again (requirement 3)."""
    return reply_header(request_header, must_sign_on=True)
