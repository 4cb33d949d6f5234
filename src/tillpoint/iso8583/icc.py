"""Field 55 of a chip card's request and of its answer (spec 4.10), over the BER-TLV
codec (``tlv.py``), and field 23, the PAN sequence number.

A request read from the chip (22 = ``05x`` inserted, ``07x`` tapped) carries in 55 the
tags of ``REQUEST_TAGS``, each of its length; ``request_tags`` checks them all (tags it
does not know are let through) and gives tag to value. The answer to a chip request
carries 55 with tag 91, the issuer authentication data: ARPC (4 bytes) || CSU (4 bytes).

Errors are ``FormatError`` of field 55 (or 23); they name tags and lengths, never a
value.
"""

from __future__ import annotations

from collections.abc import Iterable

from tillpoint.core.i18n import N_
from tillpoint.iso8583 import tlv
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.fields import ENTRY_CHIP, ENTRY_CONTACTLESS

CHIP_MODES = frozenset({ENTRY_CHIP, ENTRY_CONTACTLESS})
ISSUER_AUTHENTICATION = "91"
ISSUER_AUTHENTICATION_BYTES = 8  # ARPC (4) || CSU (4), as cryptogram version 18 has it

#: What a chip request's 55 carries: tag to (least, most) bytes of its value, in the
#: order the profile lists them (which is the order a terminal writes them in).
REQUEST_TAGS: dict[str, tuple[int, int]] = {
    "9F26": (8, 8),  # ARQC
    "9F27": (1, 1),  # cryptogram information
    "9F10": (1, 32),  # issuer application data (7 for the test cards)
    "9F37": (4, 4),  # unpredictable number
    "9F36": (2, 2),  # application transaction counter (ATC)
    "95": (5, 5),  # terminal verification results (TVR)
    "9A": (3, 3),  # transaction date YYMMDD
    "9C": (1, 1),  # transaction type
    "9F02": (6, 6),  # amount, authorised (BCD fen)
    "9F03": (6, 6),  # amount, other
    "5F2A": (2, 2),  # transaction currency
    "82": (2, 2),  # application interchange profile (AIP)
    "9F1A": (2, 2),  # terminal country
    "84": (5, 16),  # dedicated file name (the AID)
    "9F33": (3, 3),  # terminal capabilities
    "9F34": (3, 3),  # CVM results
    "9F35": (1, 1),  # terminal type
    "9F1E": (8, 8),  # IFD serial number (ASCII)
}
#: Numeric tags: BCD digits only.
BCD_TAGS = frozenset({"9A", "9C", "9F02", "9F03", "5F2A", "9F1A"})

_MISSING = N_("Field {field}: tag {tag} is missing")
_LENGTH = N_("Field {field}: tag {tag} has {length} bytes, not {want}")
_NOT_BCD = N_("Field {field}: tag {tag} is not BCD digits")
_NEEDED = N_("Field {field} is required for a card read from its chip")
_PSN = N_("Field {field}: a PAN sequence number is 000-099")


_BCD = bytes(hi << 4 | lo for hi in range(10) for lo in range(10))  # every BCD byte


def _is_bcd(value: bytes) -> bool:
    return not value.translate(None, _BCD)  # nothing left once the BCD bytes are gone


def request_tags(data: bytes | None) -> dict[str, bytes]:
    """The tags of a chip request's 55, checked: each of ``REQUEST_TAGS`` present once
    and of its length, the numeric ones in BCD."""
    if data is None:
        raise FormatError(_NEEDED, field=tlv.FIELD)
    tags = tlv.to_dict(tlv.decode(data))
    for tag, (least, most) in REQUEST_TAGS.items():
        value = tags.get(tag)
        if value is None:
            raise FormatError(_MISSING, field=tlv.FIELD, tag=tag)
        if not least <= len(value) <= most:
            want = str(least) if least == most else f"{least}-{most}"
            raise FormatError(_LENGTH, field=tlv.FIELD, tag=tag, length=len(value), want=want)
        if tag in BCD_TAGS and not _is_bcd(value):
            raise FormatError(_NOT_BCD, field=tlv.FIELD, tag=tag)
    return tags


def amount_minor(tags: dict[str, bytes]) -> int:
    """9F02, the amount the card was asked to authorise, in minor units."""
    return int(tags["9F02"].hex())


def psn(field23: str | None) -> str:
    """The two-digit PAN sequence number of field 23 (n3); ``00`` when the request has
    none, as EMV takes an absent one."""
    if field23 is None:
        return "00"
    if not (len(field23) == 3 and field23.isascii() and field23.isdigit()) or field23[0] != "0":
        raise FormatError(_PSN, field=23)
    return field23[1:]


def build(items: Iterable[tuple[str, bytes]]) -> bytes:
    """Field 55 from (tag, value) pairs, in order."""
    return tlv.encode(items)


def issuer_data(arpc: bytes, csu: bytes) -> bytes:
    """The answer's 55: tag 91 with ARPC || CSU."""
    return tlv.encode([(ISSUER_AUTHENTICATION, arpc + csu)])


def issuer_authentication(data: bytes | None) -> bytes | None:
    """Tag 91's value in an answer's 55 (None: no 55, or no 91 in it)."""
    if data is None:
        return None
    return tlv.to_dict(tlv.decode(data)).get(ISSUER_AUTHENTICATION)
