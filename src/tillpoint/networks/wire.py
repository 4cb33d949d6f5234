"""The network link's wire format, shared by the link (networks/link.py, in each host
process) and the networks process (networks/service.py); docs/networks.md describes it.

A frame is a 9-byte header, then its fields::

    length (u32, big-endian: what follows it) | op (u8) | request id (u32) | fields

The fields are UTF-8 text separated by the unit separator (0x1F); numbers in decimal,
bytes in hex, an absent value as an empty field. Every op has a fixed number of fields.
That takes a third of the CPU of JSON for the same messages (docs/networks.md). A
request's answer carries the request's id, so that one connection carries many
requests at once and they are answered in any order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from datetime import date
from enum import IntEnum

from tillpoint.core.errors import InvalidInput
from tillpoint.core.money import Money
from tillpoint.networks.connector import CardOrg, ChipData, NetworkAnswer

# 2: chip data in AUTHORISE and CAPTURE, the issuer's 55 in ANSWER; 3: the fee class in
# AUTHORISE and CAPTURE, the MCC in PAY, the MID and MCC in PRECREATE (what the networks
# clear a payment under)
VERSION = "3"
HEADER = struct.Struct(">IBI")
HEADER_AFTER_LENGTH = HEADER.size - 4  # the op and the request id
MAX_FRAME = 16 * 1024  # what follows the length, at most: every message is far smaller
SEP = "\x1f"
NONCE_BYTES = 16


class Op(IntEnum):
    # opening the link (request id 0)
    HELLO = 1  # host: version, its nonce, the zone PIN key it holds (under the ZMK) or ""
    CHALLENGE = 2  # networks: its nonce, its proof, the zone PIN key under the ZMK, check
    PROOF = 3  # host: its proof; requests may follow at once
    ERROR = 9  # either side: reason (request id 0: about the connection, which ends)
    # the card network; every request's first field is the host's business day
    AUTHORISE = 10
    CARD_REVERSE = 11
    CARD_CANCEL = 12
    CAPTURE = 13
    CARD_REFUND = 14
    # the wallets
    PAY = 20
    PRECREATE = 21
    CLOSE = 22
    WALLET_REVERSE = 23
    WALLET_CANCEL = 24
    WALLET_REFUND = 25
    FIND_ORDER = 26
    ANSWER_ORDER = 27
    # answers from the networks process
    ANSWER = 40  # a NetworkAnswer
    TEXT = 41  # one text (a new QR order's token)
    ORDER = 42  # a QR order (or none), and what was notified when it was answered


ANSWER_FIELDS = 7  # a NetworkAnswer's

#: How many fields each op carries.
FIELDS = {
    Op.HELLO: 4, Op.CHALLENGE: 4, Op.PROOF: 1, Op.ERROR: 1,
    Op.AUTHORISE: 14, Op.CARD_REVERSE: 2, Op.CARD_CANCEL: 3, Op.CAPTURE: 8, Op.CARD_REFUND: 5,
    Op.PAY: 7, Op.PRECREATE: 8, Op.CLOSE: 2, Op.WALLET_REVERSE: 2, Op.WALLET_CANCEL: 3,
    Op.WALLET_REFUND: 5, Op.FIND_ORDER: 3, Op.ANSWER_ORDER: 5,
    Op.ANSWER: ANSWER_FIELDS, Op.TEXT: 1, Op.ORDER: 8 + ANSWER_FIELDS,
}  # fmt: skip


class Malformed(ValueError):
    """A frame that cannot be read. Its message names what is wrong, never a value (a
    field may hold a card number)."""


class FrameTooLong(Malformed):
    """A length beyond ``MAX_FRAME``: the stream cannot be followed any further."""


def frame(op: int, request_id: int, fields: Sequence[str]) -> bytes:
    payload = SEP.join(fields).encode()
    return HEADER.pack(len(payload) + HEADER_AFTER_LENGTH, op, request_id) + payload


class FrameReader:
    """Cuts the frames out of a byte stream, as it arrives in pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, int, bytes]]:
        """Every whole frame so far, as (op, request id, payload)."""
        buf = self._buffer
        buf += data
        start, end = 0, len(buf)
        try:
            while end - start >= HEADER.size:
                length, op, request_id = HEADER.unpack_from(buf, start)
                if not HEADER_AFTER_LENGTH <= length <= MAX_FRAME:
                    raise FrameTooLong(f"a frame of {length} bytes (at most {MAX_FRAME})")
                stop = start + 4 + length
                if stop > end:
                    break
                yield op, request_id, bytes(buf[start + HEADER.size : stop])
                start = stop
        finally:
            del buf[:start]


def fields(op: int, payload: bytes) -> list[str]:
    """The fields of a frame of ``op``, checked for their number."""
    want = FIELDS.get(op)  # type: ignore[call-overload]
    if want is None:
        raise Malformed(f"unknown op {op}")
    try:
        parts = payload.decode().split(SEP)
    except UnicodeDecodeError:
        raise Malformed("fields that are not UTF-8") from None
    if len(parts) != want:
        raise Malformed(f"op {op} has {want} fields, not {len(parts)}")
    return parts


# --- values ---------------------------------------------------------------------------


def number(text: str) -> int:
    if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 19:
        raise Malformed("a number that is not one")
    return int(text)


def money(minor: str, currency: str) -> Money:
    try:
        return Money(number(minor), currency)
    except InvalidInput:
        raise Malformed("an unknown currency") from None


def day(text: str) -> date:
    try:
        return date.fromordinal(number(text))
    except (ValueError, OverflowError):
        raise Malformed("a business day that is not one") from None


def hexbytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise Malformed("bytes that are not hex") from None


def chip_fields(chip: ChipData | None) -> list[str]:
    """A card's chip data: its PAN sequence number and field 55 (hex), or two empty."""
    return ["", ""] if chip is None else [chip.psn, chip.icc.hex()]


def chip(psn: str, icc: str) -> ChipData | None:
    if not icc:
        return None
    if len(psn) != 2 or not psn.isascii() or not psn.isdigit():
        raise Malformed("a PAN sequence number that is not one")
    return ChipData(psn, hexbytes(icc))


def answer_fields(a: NetworkAnswer) -> list[str]:
    b = a.balance
    return [
        a.response_code,
        "" if a.card_org is None else a.card_org.value,
        a.issuer_id,
        a.auth_code or "",
        "" if b is None else str(b.amount_minor),
        "" if b is None else b.currency,
        "" if a.icc is None else a.icc.hex(),
    ]


_ORGS = {o.value: o for o in CardOrg}


def answer(f: Sequence[str]) -> NetworkAnswer:
    rc, org, issuer, auth, balance, currency, icc = f
    if len(rc) != 2 or (org and org not in _ORGS):
        raise Malformed("an answer that is not one")
    return NetworkAnswer(
        rc,
        _ORGS[org] if org else None,
        issuer,
        auth_code=auth or None,
        balance=money(balance, currency) if balance else None,
        icc=hexbytes(icc) if icc else None,
    )
