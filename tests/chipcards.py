"""Chip data for the tests' hand-built requests: a request whose field 22 says the card
was read from its chip (05x, 07x) gets 23 and a field 55 with a real ARQC, as the
virtual terminal's chip computes it (terminal/chip.py)."""

from __future__ import annotations

import itertools
from datetime import datetime

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.iso8583.codec import Message
from tillpoint.terminal import chip

#: Every ARQC of a test run gets an ATC of its own (the issuer refuses a cryptogram it
#: has seen, and the random unpredictable number makes each one new anyway).
_ATC = itertools.count(1)

# (MTI, processing code, 60.1) of the messages 4.10 reads the chip for
_KINDS = {
    ("0200", "000000", "22"): "sale",
    ("0200", "310000", "01"): "balance",
    ("0100", "030000", "10"): "preauth",
    ("0200", "000000", "20"): "completion",
}


def read_of(message: Message) -> chip.ChipRead | None:
    """The chip read a request of 4.10 read from the chip would carry (None: another)."""
    mode = message.text(22) or ""
    kind = _KINDS.get((message.mti, message.text(3) or "", (message.text(60) or "")[:2]))
    if mode[:2] not in ("05", "07") or kind is None:
        return None
    pan = message.text(2) or (message.text(35) or "").split("D")[0]
    return chip.read(
        pan,
        next(_ATC) % chip.MAX_ATC + 1,
        kind=kind,
        amount_minor=int(message.text(4) or "0"),
        pin=52 in message.fields,
        ifd_serial=message.text(41) or "",
        today=datetime.now(BUSINESS_TZ).date(),
    )


def with_chip(message: Message) -> Message:
    """``message`` with 23 and 55 when it is a chip read of 4.10 without them."""
    if 55 in message.fields:
        return message
    read = read_of(message)
    if read is None:
        return message
    return Message(message.mti, {**message.fields, 23: chip.FIELD_23, 55: read.icc})
