"""Typed views of the profile's composite fields (sections 2 and 4).

Each view has ``parse`` (the field's value as ``Message`` holds it, to a typed value,
checked) and ``build`` (back, checked). Errors are ``FormatError`` with ``field`` the
field number and ``position`` the offset inside the field's value (a digit or character
index; a byte index for field 62) where the faulty sub-field starts. Messages name the
sub-field by number, never its content: the profile's own numbers (60.1-60.5, 61.1-61.3)
and, where it has none, these: 22.1 mode, 22.2 PIN capability; 35.1 PAN, 35.2 expiry,
35.3 service code, 35.4 discretionary data; 44.1 issuer, 44.2 acquirer; 48.1-48.5 the
domestic debit amount, debit count, credit amount, credit count and flag, 48.6-48.10 the
same for foreign cards (48.1 is also the n4 upload count); 54.1-54.5 in the order below;
60.6 and 61.4 the digits after the defined sub-fields; 62.1-62.6 PIK, KCV, MAK, KCV, TDK,
KCV; 63.1 the operator code or card organisation; 59.01-59.06 the value of field 59's
entry of that tag, 59.tag an entry's tag and length (or a tag that repeats).

Fields and their layouts:

- 22: entry mode n2 + PIN capability n1 (``EntryMode``);
- 35: PAN, separator, YYMM expiry, service code n3, discretionary data (``Track2``);
- 44: issuer ID an11 + acquirer ID an11 (``AdditionalResponse``, ``field44``);
- 48: settlement totals, 62 digits (``SettlementTotals`` of two ``Totals``), or in the
  end-of-upload 0320 the n4 count (``upload_count``/``build_upload_count``);
- 54: account type an2, amount type an2, currency an3, sign C/D, amount n12 (``Balance``);
- 59: entries of tag an2 + length n3 + value: where the terminal is (``Place``);
- 60: 60.1 n2, 60.2 batch n6, 60.3 n3, optional 60.4 n1 and 60.5 n1 (``Field60``);
- 61: original batch n6, original STAN n6, optional original date MMDD (``Field61``);
- 62: PIK 16 + KCV 4 + MAK 16 + KCV 4 + TDK 16 + KCV 4 = 60 bytes (``KeyBlock``);
- 63: operator code an3 in requests, card organisation an3 in answers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tillpoint.core.geo import Position
from tillpoint.core.i18n import N_
from tillpoint.core.ids import is_digits, is_pan
from tillpoint.iso8583.errors import FormatError

# 60.1 transaction types (section 4)
TXN_MANAGEMENT = "00"  # sign-on, sign-off, echo, settlement, batch upload
TXN_BALANCE = "01"
TXN_PREAUTH = "10"
TXN_PREAUTH_VOID = "11"
TXN_COMPLETION = "20"
TXN_COMPLETION_VOID = "21"
TXN_SALE = "22"
TXN_VOID = "23"
TXN_REFUND = "25"

# 60.3 network management codes
FINANCIAL = "000"
SIGN_ON_KEYS = "004"  # double-length keys with a TDK
SIGN_OFF = "002"
ECHO = "301"
SETTLE = "201"
UPLOAD_END = "202"
CHECKOUT_POLL = "360"  # cashier link: does a checkout wait for this terminal? (4.13)
SIGNATURE = "800"  # e-signature upload packet (4.11)
#: Network management messages that carry a MAC both ways, as financial ones do.
MACED_NETWORK_CODES = frozenset({CHECKOUT_POLL, SIGNATURE})

# Field 22, the first two digits
ENTRY_MANUAL = "01"
ENTRY_MAGSTRIPE = "02"
ENTRY_SCANNED = "03"  # barcode / QR: wallet payments
ENTRY_CHIP = "05"
ENTRY_CONTACTLESS = "07"
ENTRY_MODES = frozenset(
    {ENTRY_MANUAL, ENTRY_MAGSTRIPE, ENTRY_SCANNED, ENTRY_CHIP, ENTRY_CONTACTLESS}
)

# Field 48 flags (one per half): request 0; answer 1 balanced, 2 not balanced, 3 error
FLAG_REQUEST = "0"
FLAG_BALANCED = "1"
FLAG_NOT_BALANCED = "2"
FLAG_ERROR = "3"

#: Field 63 in answers: the card organisation.
CARD_ORGANISATIONS = frozenset({"CUP", "VIS", "MCC", "JCB", "AMX", "ALP", "WXP", "UPQ"})

KEY_BYTES = 16  # a double-length 3DES key
KCV_BYTES = 4
KEY_BLOCK_BYTES = 3 * (KEY_BYTES + KCV_BYTES)

_AN = re.compile(r"[0-9A-Za-z ]*")
T = TypeVar("T")


def _bad(number: int, position: int, subfield: str) -> FormatError:
    return FormatError(
        N_("Field {field}, offset {position}: sub-field {subfield} is malformed"),
        field=number,
        position=position,
        subfield=subfield,
    )


def _digits(value: object, n: int, number: int, position: int, subfield: str) -> str:
    """``value`` if it is exactly ``n`` decimal digits."""
    if not (isinstance(value, str) and len(value) == n and is_digits(value)):
        raise _bad(number, position, subfield)
    return value


def _optional_digit(value: object, number: int, position: int, subfield: str) -> str:
    if value == "":
        return ""
    return _digits(value, 1, number, position, subfield)


def _an(value: object, n: int, number: int, position: int, subfield: str) -> str:
    """``value`` if it is exactly ``n`` characters of letters, digits and spaces."""
    if not (isinstance(value, str) and len(value) == n and _AN.fullmatch(value)):
        raise _bad(number, position, subfield)
    return value


def _all_digits(value: object, number: int) -> str:
    if not isinstance(value, str) or not (is_digits(value)):
        raise _whole(number)
    return value


def _whole(number: int) -> FormatError:
    return FormatError(N_("Field {field} is malformed"), field=number, position=0)


def _length(number: int, value: object, lengths: str) -> FormatError:
    """The value's length is wrong; ``lengths`` says which are right (e.g. ``11-17``)."""
    size = len(value) if isinstance(value, str | bytes) else "-"
    return FormatError(
        N_("Field {field} has the wrong length ({size}; expected {lengths})"),
        field=number,
        position=0,
        size=size,
        lengths=lengths,
    )


def _amount(value: int, digits: int, number: int, position: int, subfield: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**digits:
        raise _bad(number, position, subfield)
    return f"{value:0{digits}d}"


def _mmdd(value: str, number: int, position: int, subfield: str) -> str:
    _digits(value, 4, number, position, subfield)
    if not (1 <= int(value[:2]) <= 12 and 1 <= int(value[2:]) <= 31):
        raise _bad(number, position, subfield)
    return value


# --- 22 -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryMode:
    """Field 22: two digits of how the card was read, one of PIN capability."""

    mode: str  # 01 manual, 02 magstripe, 03 scanned code, 05 chip, 07 contactless
    pin_capable: bool  # third digit 1: a PIN can be entered; 2: it cannot

    @classmethod
    def parse(cls, value: str) -> EntryMode:
        if not (isinstance(value, str) and len(value) == 3):
            raise _length(22, value, "3")
        if value[:2] not in ENTRY_MODES:
            raise _bad(22, 0, "22.1")
        if value[2] not in "12":
            raise _bad(22, 2, "22.2")
        return cls(value[:2], value[2] == "1")

    def build(self) -> str:
        if self.mode not in ENTRY_MODES:
            raise _bad(22, 0, "22.1")
        return self.mode + ("1" if self.pin_capable else "2")


# --- 35 -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Track2:
    """Field 35: PAN (12-19 digits), separator, expiry YYMM, service code n3, and
    discretionary data. ``parse`` takes the separator as ``D`` (as decoded) or ``=``;
    ``build`` writes ``D``. ``repr`` shows no card data."""

    pan: str
    expiry: str
    service_code: str
    discretionary: str = ""

    @classmethod
    def parse(cls, value: str) -> Track2:
        text = value.replace("=", "D") if isinstance(value, str) else ""
        if not re.fullmatch(r"[0-9]{12,19}D[0-9]{7,}", text) or len(text) > 37:
            raise _whole(35)
        pan, rest = text.split("D")
        return cls(pan, rest[:4], rest[4:7], rest[7:])

    def build(self) -> str:
        pan = self.pan
        if not (isinstance(pan, str) and is_pan(pan)):
            raise _bad(35, 0, "35.1")
        start = len(pan) + 1
        _digits(self.expiry, 4, 35, start, "35.2")
        _digits(self.service_code, 3, 35, start + 4, "35.3")
        value = f"{pan}D{self.expiry}{self.service_code}{self.discretionary}"
        if not (self.discretionary == "" or is_digits(self.discretionary)) or len(value) > 37:
            raise _bad(35, start + 7, "35.4")
        return value

    def __repr__(self) -> str:
        return "Track2(<masked>)"


# --- 44 -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdditionalResponse:
    """Field 44: issuer ID an11 + acquirer ID an11, each left-aligned, space-padded.
    ``parse`` strips the padding."""

    issuer_id: str
    acquirer_id: str

    @classmethod
    def parse(cls, value: str) -> AdditionalResponse:
        if not (isinstance(value, str) and len(value) == 22):
            raise _length(44, value, "22")
        _an(value[:11], 11, 44, 0, "44.1")
        _an(value[11:], 11, 44, 11, "44.2")
        return cls(value[:11].rstrip(" "), value[11:].rstrip(" "))

    def build(self) -> str:
        if not (isinstance(self.issuer_id, str) and len(self.issuer_id) <= 11):
            raise _bad(44, 0, "44.1")
        if not (isinstance(self.acquirer_id, str) and len(self.acquirer_id) <= 11):
            raise _bad(44, 11, "44.2")
        value = f"{self.issuer_id:<11}{self.acquirer_id:<11}"
        _an(value[:11], 11, 44, 0, "44.1")
        _an(value[11:], 11, 44, 11, "44.2")
        return value


def field44(issuer_id: str, acquirer_id: str) -> str:
    """Issuer ID an11 + acquirer ID an11, each padded with spaces (at most 11 each)."""
    return AdditionalResponse(issuer_id, acquirer_id).build()


# --- 48 -----------------------------------------------------------------------------------


TOTALS_DIGITS = 31


def _totals_ids(offset: int) -> tuple[str, ...]:
    """Sub-field ids of one half of 48: 48.1-48.5 domestic, 48.6-48.10 foreign."""
    first = 1 if offset == 0 else 6
    return tuple(f"48.{first + i}" for i in range(5))


@dataclass(frozen=True)
class Totals:
    """One half of field 48 (domestic or foreign cards): debits (sales, completions) and
    credits (refunds), amounts in minor units, and the balance flag."""

    debit_minor: int = 0
    debit_count: int = 0
    credit_minor: int = 0
    credit_count: int = 0
    flag: str = FLAG_REQUEST  # request 0; answer 1 balanced, 2 not balanced, 3 error

    def build(self, *, offset: int = 0) -> str:
        ids = _totals_ids(offset)
        if self.flag not in (FLAG_REQUEST, FLAG_BALANCED, FLAG_NOT_BALANCED, FLAG_ERROR):
            raise _bad(48, offset + 30, ids[4])
        return (
            _amount(self.debit_minor, 12, 48, offset, ids[0])
            + _amount(self.debit_count, 3, 48, offset + 12, ids[1])
            + _amount(self.credit_minor, 12, 48, offset + 15, ids[2])
            + _amount(self.credit_count, 3, 48, offset + 27, ids[3])
            + self.flag
        )

    @classmethod
    def parse(cls, value: str, *, offset: int = 0) -> Totals:
        if not (isinstance(value, str) and len(value) == TOTALS_DIGITS and is_digits(value)):
            raise _bad(48, offset, _totals_ids(offset)[0])
        if value[30] not in "0123":
            raise _bad(48, offset + 30, _totals_ids(offset)[4])
        return cls(
            int(value[:12]), int(value[12:15]), int(value[15:27]), int(value[27:30]), value[30]
        )


@dataclass(frozen=True)
class SettlementTotals:
    """Field 48 of 0500/0510: domestic totals, then foreign totals (62 digits)."""

    domestic: Totals
    foreign: Totals

    @classmethod
    def parse(cls, value: str) -> SettlementTotals:
        _all_digits(value, 48)
        if len(value) != 2 * TOTALS_DIGITS:
            raise _length(48, value, "62")
        return cls(
            Totals.parse(value[:TOTALS_DIGITS]),
            Totals.parse(value[TOTALS_DIGITS:], offset=TOTALS_DIGITS),
        )

    def build(self) -> str:
        return self.domestic.build() + self.foreign.build(offset=TOTALS_DIGITS)


def upload_count(value: str) -> int:
    """The end-of-upload 0320's field 48: how many transactions were uploaded (n4)."""
    return int(_digits(value, 4, 48, 0, "48.1"))


def build_upload_count(count: int) -> str:
    return _amount(count, 4, 48, 0, "48.1")


# --- 54 -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    """Field 54: account type an2, amount type an2, currency an3, sign (C credit balance,
    D debit balance) and amount n12. ``amount_minor`` is negative for ``D``; a parsed
    ``D`` zero reads back as 0 and is built as ``C``."""

    amount_minor: int
    currency_code: str = "156"
    account_type: str = "10"
    amount_type: str = "02"

    def build(self) -> str:
        kinds = (
            _an(self.account_type, 2, 54, 0, "54.1")
            + _an(self.amount_type, 2, 54, 2, "54.2")
            + _an(self.currency_code, 3, 54, 4, "54.3")
        )
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise _bad(54, 8, "54.5")
        sign = "C" if self.amount_minor >= 0 else "D"
        return kinds + sign + _amount(abs(self.amount_minor), 12, 54, 8, "54.5")

    @classmethod
    def parse(cls, value: str) -> Balance:
        if not (isinstance(value, str) and len(value) == 20):
            raise _length(54, value, "20")
        account = _an(value[:2], 2, 54, 0, "54.1")
        amount_type = _an(value[2:4], 2, 54, 2, "54.2")
        currency = _an(value[4:7], 3, 54, 4, "54.3")
        if value[7] not in "CD":
            raise _bad(54, 7, "54.4")
        amount = int(_digits(value[8:], 12, 54, 8, "54.5"))
        return cls(amount if value[7] == "C" else -amount, currency, account, amount_type)


# --- 59 -----------------------------------------------------------------------------------

PLACE_MAX_BYTES = 600
# Field 59's tags (section 4.12)
TAG_DEVICE_TYPE = "01"
TAG_SERIAL = "02"
TAG_POSITION = "04"
TAG_CELL = "05"
TAG_IP = "06"
PLACE_TAGS = (TAG_DEVICE_TYPE, TAG_SERIAL, TAG_POSITION, TAG_CELL, TAG_IP)
DEVICE_COUNTERTOP = "01"
DEVICE_MOBILE = "02"
DEVICE_SMART_POS = "03"
DEVICE_TYPES = frozenset({DEVICE_COUNTERTOP, DEVICE_MOBILE, DEVICE_SMART_POS})
#: Tag 01's values as people read them (translated where shown).
DEVICE_TYPE_NAMES = {
    DEVICE_COUNTERTOP: N_("countertop"),
    DEVICE_MOBILE: N_("mobile"),
    DEVICE_SMART_POS: N_("smart POS"),
}
SERIAL_MAX = 40
_ENTRY_HEAD = 5  # tag an2 + length n3
_TAG = re.compile(r"[0-9A-Za-z]{2}")
_ANS = re.compile(r"[\x20-\x7e]*")
_SERIAL = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,38}[\x21-\x7e])?")  # SERIAL_MAX
_CELL = re.compile(r"([0-9]{3}),([0-9]{2,3}),([0-9]{1,8}),([0-9]{1,11})")
MAX_LAC = 2**24 - 1  # a 5G tracking area code is 24 bits (2G-4G LAC/TAC: 16)
MAX_CELL_ID = 2**36 - 1  # a 5G cell identity is 36 bits (4G: 28)
IP_MAX = 45  # the longest IPv6 text, with an IPv4 tail

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Cell:
    """Tag 05: the mobile cell the terminal is attached to, ``MCC,MNC,LAC,CELL`` in
    decimal (``460,00,6334,12345``). The parts are kept as written (MNC ``00``)."""

    mcc: str
    mnc: str
    lac: str
    cell: str

    @classmethod
    def parse(cls, text: str) -> Cell:
        match = _CELL.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError("a cell is MCC,MNC,LAC,CELL in decimal")
        mcc, mnc, lac, cell = match.groups()
        if int(lac) > MAX_LAC or int(cell) > MAX_CELL_ID:
            raise ValueError("the cell's LAC or identity is out of range")
        return cls(mcc, mnc, lac, cell)

    def text(self) -> str:
        return f"{self.mcc},{self.mnc},{self.lac},{self.cell}"


def _device_type(value: str) -> str:
    if value not in DEVICE_TYPES:
        raise ValueError("unknown device type")
    return value


def _serial(value: str) -> str:
    if not (isinstance(value, str) and _SERIAL.fullmatch(value)):
        raise ValueError("bad serial number")
    return value


def _ip(value: str) -> IpAddress:
    """Dotted IPv4 or IPv6 text, ASCII, no zone (``%eth0``)."""
    if not (isinstance(value, str) and len(value) <= IP_MAX and value.isascii()):
        raise ValueError("bad IP address")
    if "%" in value:
        raise ValueError("an IP address with a zone")
    return ipaddress.ip_address(value)


def _other(value: str) -> str:
    if not (isinstance(value, str) and 0 < len(value) <= 999 and _ANS.fullmatch(value)):
        raise ValueError("bad value")
    return value


@dataclass(frozen=True)
class Place:
    """Field 59 (section 4.12): where the terminal is, as it says. Entries of tag an2,
    length n3 (the value's bytes) and value, filling the field exactly, at most 600
    bytes, at least one entry, each tag at most once, no empty value:

    - ``01`` device type: ``01`` countertop, ``02`` mobile, ``03`` smart POS;
    - ``02`` serial number: 1-40 printable characters, no space at either end;
    - ``04`` GPS position, ``+31.230416/+121.473701``: each number signed, with a
      decimal point and 1-6 decimals, latitude within ±90, longitude within ±180
      (``Position``, exact micro-degrees);
    - ``05`` cell, ``MCC,MNC,LAC,CELL`` (``Cell``);
    - ``06`` the terminal's own IP address, IPv4 or IPv6 (no zone).

    Other tags (well-formed: an2 tag, printable value) are kept verbatim and in their
    order in ``other``, for profiles that define more; they mean nothing here. ``build``
    writes the known entries in tag order, then the others: ``parse(build(p)) == p``.
    """

    device_type: str | None = None
    serial_no: str | None = None
    position: Position | None = None
    cell: Cell | None = None
    ip: IpAddress | None = None
    other: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> Place:
        if not isinstance(value, str) or not 0 < len(value) <= PLACE_MAX_BYTES:
            raise _length(59, value, f"1-{PLACE_MAX_BYTES}")
        if not _ANS.fullmatch(value):
            raise _whole(59)
        entries: dict[str, tuple[int, str]] = {}  # tag: (offset of the value, value)
        i = 0
        while i < len(value):
            head = value[i : i + _ENTRY_HEAD]
            tag, size = head[:2], head[2:]
            if not (len(head) == _ENTRY_HEAD and _TAG.fullmatch(tag) and is_digits(size)):
                raise _bad(59, i, "59.tag")
            start, end = i + _ENTRY_HEAD, i + _ENTRY_HEAD + int(size)
            if tag in entries or start == end or end > len(value):
                raise _bad(59, i, "59.tag")
            entries[tag] = (start, value[start:end])
            i = end

        def known(tag: str, check: Callable[[str], T]) -> T | None:
            if tag not in entries:
                return None
            start, text = entries[tag]
            try:
                return check(text)
            except ValueError:
                raise _bad(59, start, f"59.{tag}") from None

        return cls(
            device_type=known(TAG_DEVICE_TYPE, _device_type),
            serial_no=known(TAG_SERIAL, _serial),
            position=known(TAG_POSITION, lambda v: Position.parse(v, strict=True)),
            cell=known(TAG_CELL, Cell.parse),
            ip=known(TAG_IP, _ip),
            other=tuple((t, v) for t, (_, v) in entries.items() if t not in PLACE_TAGS),
        )

    def build(self) -> str:
        out = ""

        def entry(tag: str, text: str | None, check: Callable[[str], object]) -> None:
            nonlocal out
            if text is None:
                return
            try:
                check(text)
            except (ValueError, TypeError):
                raise _bad(59, len(out), f"59.{tag}") from None
            out += f"{tag}{len(text):03d}{text}"

        p, c, ip = self.position, self.cell, self.ip
        if p is not None and not isinstance(p, Position):
            raise _bad(59, 0, f"59.{TAG_POSITION}")
        if c is not None and not isinstance(c, Cell):
            raise _bad(59, 0, f"59.{TAG_CELL}")
        if ip is not None and not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise _bad(59, 0, f"59.{TAG_IP}")
        entry(TAG_DEVICE_TYPE, self.device_type, _device_type)
        entry(TAG_SERIAL, self.serial_no, _serial)
        entry(TAG_POSITION, None if p is None else p.text(), str)
        entry(TAG_CELL, None if c is None else c.text(), Cell.parse)
        entry(TAG_IP, None if ip is None else str(ip), _ip)
        tags: set[str] = set()
        for tag, text in self.other:
            well_formed = isinstance(tag, str) and _TAG.fullmatch(tag) is not None
            if not well_formed or tag in PLACE_TAGS or tag in tags:
                raise _bad(59, len(out), "59.tag")
            tags.add(tag)
            entry(tag, text, _other)
        if not 0 < len(out) <= PLACE_MAX_BYTES:
            raise _length(59, out, f"1-{PLACE_MAX_BYTES}")
        return out


# --- 60 and 61 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field60:
    """60.1 transaction type n2, 60.2 batch n6, 60.3 network code n3, optional 60.4 and
    60.5 (terminal read capability and IC condition, n1 each).

    Field 60 may hold up to 17 digits; this profile defines the first 13. Digits after
    60.5 (other UnionPay sub-fields) are kept verbatim in ``reserved``, not interpreted.
    """

    txn_type: str
    batch: str
    network_code: str
    read_capability: str = ""
    ic_condition: str = ""
    reserved: str = ""

    @classmethod
    def parse(cls, value: str) -> Field60:
        _all_digits(value, 60)
        if not 11 <= len(value) <= 17:
            raise _length(60, value, "11-17")
        return cls(value[:2], value[2:8], value[8:11], value[11:12], value[12:13], value[13:])

    def build(self) -> str:
        value = (
            _digits(self.txn_type, 2, 60, 0, "60.1")
            + _digits(self.batch, 6, 60, 2, "60.2")
            + _digits(self.network_code, 3, 60, 8, "60.3")
            + _optional_digit(self.read_capability, 60, 11, "60.4")
            + _optional_digit(self.ic_condition, 60, 12, "60.5")
        )
        if self.ic_condition and not self.read_capability:
            raise _bad(60, 11, "60.4")
        if self.reserved:
            if len(value) != 13 or not (len(self.reserved) <= 4 and is_digits(self.reserved)):
                raise _bad(60, 13, "60.6")
            value += self.reserved
        return value


@dataclass(frozen=True)
class Field61:
    """61.1 original batch n6, 61.2 original STAN n6, optional 61.3 original date MMDD.

    Field 61 may hold up to 29 digits; this profile defines the first 16. Digits after
    61.3 are kept verbatim in ``reserved``, not interpreted.
    """

    batch: str
    stan: str
    date: str = ""
    reserved: str = ""

    @classmethod
    def parse(cls, value: str) -> Field61:
        _all_digits(value, 61)
        if not (len(value) == 12 or 16 <= len(value) <= 29):
            raise _length(61, value, "12, 16-29")
        if len(value) > 12:
            _mmdd(value[12:16], 61, 12, "61.3")
        return cls(value[:6], value[6:12], value[12:16], value[16:])

    def build(self) -> str:
        value = _digits(self.batch, 6, 61, 0, "61.1") + _digits(self.stan, 6, 61, 6, "61.2")
        if self.date:
            value += _mmdd(self.date, 61, 12, "61.3")
        if self.reserved:
            if not (self.date and len(self.reserved) <= 13 and is_digits(self.reserved)):
                raise _bad(61, 16, "61.4")
            value += self.reserved
        return value


# --- 62 -----------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class KeyBlock:
    """Field 62 of a sign-on answer: PIK, MAK and TDK, each encrypted under the TMK and
    followed by its 4-byte check value. ``repr`` shows no key material."""

    pik: bytes
    pik_kcv: bytes
    mak: bytes
    mak_kcv: bytes
    tdk: bytes
    tdk_kcv: bytes

    @classmethod
    def parse(cls, block: bytes) -> KeyBlock:
        if not (isinstance(block, bytes) and len(block) == KEY_BLOCK_BYTES):
            raise _length(62, block, "60")
        (pik, pik_kcv), (mak, mak_kcv), (tdk, tdk_kcv) = split_key_block(block)
        return cls(pik, pik_kcv, mak, mak_kcv, tdk, tdk_kcv)

    def build(self) -> bytes:
        out = b""
        parts = (
            (self.pik, KEY_BYTES, "62.1"),
            (self.pik_kcv, KCV_BYTES, "62.2"),
            (self.mak, KEY_BYTES, "62.3"),
            (self.mak_kcv, KCV_BYTES, "62.4"),
            (self.tdk, KEY_BYTES, "62.5"),
            (self.tdk_kcv, KCV_BYTES, "62.6"),
        )
        for value, size, subfield in parts:
            if not (isinstance(value, bytes) and len(value) == size):
                raise _bad(62, len(out), subfield)
            out += value
        return out

    def __repr__(self) -> str:
        return "KeyBlock(<masked>)"


def split_key_block(block: bytes) -> list[tuple[bytes, bytes]]:
    """Field 62 of a sign-on answer: (encrypted key, KCV) for PIK, MAK, TDK in order."""
    if not (isinstance(block, bytes) and len(block) == KEY_BLOCK_BYTES):
        raise _length(62, block, "60")
    step = KEY_BYTES + KCV_BYTES
    return [
        (block[i : i + KEY_BYTES], block[i + KEY_BYTES : i + step])
        for i in range(0, KEY_BLOCK_BYTES, step)
    ]


# --- 63 -----------------------------------------------------------------------------------


def parse_operator_code(value: str) -> str:
    """Field 63 of a request: the operator code, an3 (e.g. ``001``)."""
    return _an(value, 3, 63, 0, "63.1")


def build_operator_code(code: str) -> str:
    return _an(code, 3, 63, 0, "63.1")


def parse_card_organisation(value: str) -> str:
    """Field 63 of an answer: the card organisation (``CUP``, ``VIS``, ...), the first
    three characters; anything after them is ignored."""
    if not (isinstance(value, str) and value[:3] in CARD_ORGANISATIONS):
        raise _bad(63, 0, "63.1")
    return value[:3]


def build_card_organisation(organisation: str) -> str:
    if organisation not in CARD_ORGANISATIONS:
        raise _bad(63, 0, "63.1")
    return organisation


def operator_account(tid: str) -> str:
    """The account number an operator's password block is formed with (a Tillpoint
    extension of the profile, see docs/protocol.md): format 0 takes the 12 digits left
    of the last one, which here are ``0000`` + the TID."""
    return f"0000{tid}0"
