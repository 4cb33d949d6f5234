"""What wraps a message on the wire: length prefix, TPDU and header (section 1).

LEN(2, big-endian) | TPDU(5) | HEADER(6) | MTI | BITMAP | FIELDS
"""

from __future__ import annotations

from dataclasses import dataclass

from tillpoint.iso8583.errors import FormatError

LENGTH_BYTES = 2
TPDU_BYTES = 5
HEADER_BYTES = 6
MAX_FRAME_BYTES = 2048  # the largest legal message is about 1.6 KB (fields 55, 62, 63)
TPDU_ID = 0x60
HEADER_APP = 0x60
HEADER_VERSION = 0x31
MUST_SIGN_ON = 3  # processing requirement: the terminal must sign on again


@dataclass(frozen=True)
class Frame:
    tpdu: bytes
    header: bytes
    body: bytes  # from the MTI on

    @property
    def destination(self) -> bytes:
        return self.tpdu[1:3]

    @property
    def source(self) -> bytes:
        return self.tpdu[3:5]

    @property
    def test_terminal(self) -> bool:
        return self.header[2] >> 4 == 1

    def payload(self) -> bytes:
        return self.tpdu + self.header + self.body


def parse_frame(payload: bytes) -> Frame:
    """What follows the length prefix, split and checked."""
    if len(payload) > MAX_FRAME_BYTES:
        raise FormatError("the message is longer than the limit", position=0)
    if len(payload) < TPDU_BYTES + HEADER_BYTES + 10:
        raise FormatError("the message is too short", position=len(payload))
    tpdu, header = payload[:TPDU_BYTES], payload[TPDU_BYTES : TPDU_BYTES + HEADER_BYTES]
    if tpdu[0] != TPDU_ID:
        raise FormatError("the TPDU does not start with 0x60", position=0)
    if header[0] != HEADER_APP:
        raise FormatError("the header does not start with 0x60", position=TPDU_BYTES)
    return Frame(tpdu, header, payload[TPDU_BYTES + HEADER_BYTES :])


def frame_bytes(payload: bytes) -> bytes:
    """The length prefix and the payload."""
    if len(payload) > MAX_FRAME_BYTES:
        raise FormatError("the message is longer than the limit", position=0)
    return len(payload).to_bytes(LENGTH_BYTES, "big") + payload


def request_tpdu(destination: bytes = b"\x00\x01", source: bytes = b"\x00\x00") -> bytes:
    return bytes([TPDU_ID]) + destination + source


def reply_tpdu(tpdu: bytes) -> bytes:
    """The host answers with destination and source swapped."""
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


def header(*, test: bool = False, requirement: int = 0, version: str = "010000") -> bytes:
    if not (0 <= requirement <= 15 and len(version) == 6 and version.isdigit()):
        raise FormatError("a header needs a nibble requirement and 6 version digits")
    return bytes([HEADER_APP, HEADER_VERSION, (int(test) << 4) | requirement]) + bytes.fromhex(
        version
    )


def reply_header(request_header: bytes, *, must_sign_on: bool = False) -> bytes:
    """The request's header with the processing requirement set for the answer."""
    status = request_header[2] & 0xF0
    requirement = MUST_SIGN_ON if must_sign_on else 0
    return request_header[:2] + bytes([status | requirement]) + request_header[3:]


def requirement(header_bytes: bytes) -> int:
    return header_bytes[2] & 0x0F
