"""Identifiers of the acquiring world, and their formats.

- MID (field 42): ``898`` + 4-digit region + 4-digit MCC + 4-digit sequence = 15 digits.
- TID (field 41): 8 characters; Tillpoint allocates 8 digits.
"""

from __future__ import annotations

import re

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_

MID_PREFIX = "898"
_MID = re.compile(r"^898[0-9]{12}$")
_TID = re.compile(r"^[0-9A-Za-z]{8}$")
_REGION = re.compile(r"^[0-9]{4}$")


def make_mid(region_code: str, mcc: str, sequence: int) -> str:
    if not 1 <= sequence <= 9999:
        raise InvalidInput(
            "merchant.mid_sequence", N_("MID sequence {n} is outside 1-9999"), n=sequence
        )
    mid = f"{MID_PREFIX}{region_code}{mcc}{sequence:04d}"
    check_mid(mid)
    return mid


def check_mid(mid: str) -> str:
    if not _MID.fullmatch(mid):
        raise InvalidInput(
            "merchant.malformed_mid",
            N_("{mid!r} is not a merchant number (15 digits starting 898)"),
            mid=mid,
        )
    return mid


def looks_like_mid(text: str) -> bool:
    return bool(_MID.fullmatch(text))


def check_tid(tid: str) -> str:
    if not _TID.fullmatch(tid):
        raise InvalidInput(
            "terminal.malformed_tid", N_("{tid!r} is not a terminal number (8 characters)"), tid=tid
        )
    return tid


def check_region(region_code: str) -> str:
    if not _REGION.fullmatch(region_code) or region_code == "0000":
        raise InvalidInput(
            "merchant.malformed_region",
            N_("{region!r} is not a region code (4 digits, e.g. 3100 for Shanghai)"),
            region=region_code,
        )
    return region_code


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check digit of card and bank card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_digits(text: str) -> bool:
    """Only 0-9, at least one: ``str.isdigit()`` also takes "²" and "١٢٣", which
    ``int()`` refuses or reads as numbers nobody typed."""
    return text.isascii() and text.isdigit()


def is_pan(text: str) -> bool:
    """A card number: 12 to 19 digits (fewer, and a mask of the first six and the last
    four would show all of it)."""
    return 12 <= len(text) <= 19 and is_digits(text)
