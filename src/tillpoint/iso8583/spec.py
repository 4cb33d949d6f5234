"""The profile's fields as data: the field table of docs/protocol.md.

``SPEC`` is a pyiso8583 specification (one entry per field of section 2, plus the MTI
``t``, the primary bitmap ``p`` and an empty header ``h``: the TPDU and the 6-byte
header are framing, see ``framing.py``). It says how each field is laid out:

- ``n`` fields are BCD (pyiso8583 ``data_enc="b"``) counted in digits
  (``len_count="nibbles"``). Fixed ones are right-aligned with a leading 0 nibble when the
  digit count is odd (``left_pad="0"``), except field 22 which is left-aligned
  (``right_pad="0"``: ``021`` is ``02 10``). Variable ones (2, 32, 35, 48, 60, 61) are
  left-aligned with a trailing 0 nibble (``right_pad="0"``).
- ``z`` (track 2, field 35) is laid out like a variable ``n`` field; its separator ``=``
  is the nibble ``D``, which pyiso8583's hex view shows as the letter ``D``.
- ``an``/``ans`` fields are ASCII; ``b`` fields raw bytes; both counted in bytes.
- LL lengths are 1 BCD byte (``len_type=1``), LLL lengths 2 BCD bytes (``len_type=2``).

pyiso8583 expresses every field of the profile exactly; what it does not check (that
BCD nibbles are decimal digits, the character sets of ``an``/``ans``/``z``, the absence
of a secondary bitmap) ``codec.py`` checks around it, driven by ``TYPES``.
"""

from __future__ import annotations

from typing import Any, Literal

FieldType = Literal["n", "z", "an", "ans", "b"]
FieldSpec = dict[str, Any]

LL = 1  # pyiso8583 len_type of a 1-byte BCD length
LLL = 2  # pyiso8583 len_type of a 2-byte BCD length


def _n(digits: int, desc: str) -> FieldSpec:
    """Fixed numeric, BCD, right-aligned (leading 0 nibble when odd)."""
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": digits,
        "len_count": "nibbles", "left_pad": "0", "desc": desc,
    }  # fmt: skip


def _n_left(digits: int, desc: str) -> FieldSpec:
    """Fixed numeric, BCD, left-aligned (trailing 0 nibble when odd): field 22 only."""
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": digits,
        "len_count": "nibbles", "right_pad": "0", "desc": desc,
    }  # fmt: skip


def _nvar(max_digits: int, len_type: int, desc: str) -> FieldSpec:
    """Variable numeric (or track 2), BCD left-aligned, length counted in digits."""
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": len_type, "max_len": max_digits,
        "len_count": "nibbles", "right_pad": "0", "desc": desc,
    }  # fmt: skip


def _a(length: int, desc: str) -> FieldSpec:
    """Fixed ``an``/``ans``: ASCII bytes."""
    return {
        "data_enc": "ascii", "len_enc": "bcd", "len_type": 0, "max_len": length,
        "len_count": "bytes", "desc": desc,
    }  # fmt: skip


def _avar(max_bytes: int, len_type: int, desc: str) -> FieldSpec:
    """Variable ``an``/``ans``: BCD length counted in bytes, ASCII bytes."""
    return {
        "data_enc": "ascii", "len_enc": "bcd", "len_type": len_type, "max_len": max_bytes,
        "len_count": "bytes", "desc": desc,
    }  # fmt: skip


def _b(length: int, desc: str) -> FieldSpec:
    """Fixed binary."""
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": 0, "max_len": length,
        "len_count": "bytes", "desc": desc,
    }  # fmt: skip


def _bvar(max_bytes: int, desc: str) -> FieldSpec:
    """Variable binary with an LLL length counted in bytes."""
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": LLL, "max_len": max_bytes,
        "len_count": "bytes", "desc": desc,
    }  # fmt: skip


SPEC: dict[str, FieldSpec] = {
    "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": "(no header)"},
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "MTI, 2B BCD"},
    "p": _b(8, "Primary bitmap"),
    "2": _nvar(19, LL, "Primary account number"),
    "3": _n(6, "Processing code"),
    "4": _n(12, "Amount, minor units"),
    "11": _n(6, "System trace audit number"),
    "12": _n(6, "Local time hhmmss"),
    "13": _n(4, "Local date MMDD"),
    "14": _n(4, "Card expiry YYMM"),
    "15": _n(4, "Settlement date MMDD"),
    "22": _n_left(3, "POS entry mode"),
    "23": _n(3, "Card sequence number"),
    "25": _n(2, "POS condition code"),
    "26": _n(2, "PIN capture code"),
    "32": _nvar(11, LL, "Acquiring institution ID"),
    "35": _nvar(37, LL, "Track 2"),
    "37": _a(12, "Retrieval reference number"),
    "38": _a(6, "Authorization code"),
    "39": _a(2, "Response code"),
    "41": _a(8, "Terminal ID"),
    "42": _a(15, "Merchant ID"),
    "44": _avar(25, LL, "Additional response data"),
    "48": _nvar(322, LLL, "Additional data: settlement totals"),
    "49": _a(3, "Currency code"),
    "52": _b(8, "PIN block"),
    "53": _n(16, "Security control information"),
    "54": _avar(20, LLL, "Balance"),
    "55": _bvar(255, "ICC data"),
    "57": _avar(64, LLL, "Wallet payment code"),
    "59": _avar(600, LLL, "Terminal place"),
    "60": _nvar(17, LLL, "Reserved private: type, batch, network code"),
    "61": _nvar(29, LLL, "Original message data"),
    "62": _bvar(512, "Reserved private: working keys"),
    "63": _avar(163, LLL, "Reserved private: operator / card organisation"),
    "64": _b(8, "MAC"),
}

#: The ISO data type of each field, as the profile's table writes it.
TYPES: dict[int, FieldType] = {
    2: "n", 3: "n", 4: "n", 11: "n", 12: "n", 13: "n", 14: "n", 15: "n", 22: "n", 23: "n",
    25: "n", 26: "n", 32: "n", 35: "z", 37: "an", 38: "an", 39: "an", 41: "ans", 42: "ans",
    44: "an", 48: "n", 49: "an", 52: "b", 53: "n", 54: "an", 55: "b", 57: "ans", 59: "ans",
    60: "n", 61: "n", 62: "b", 63: "ans", 64: "b",
}  # fmt: skip

FIELD_NUMBERS: tuple[int, ...] = tuple(sorted(TYPES))
FIELD_NAMES: dict[int, str] = {n: str(SPEC[str(n)]["desc"]) for n in FIELD_NUMBERS}
BINARY_FIELDS = frozenset(n for n, t in TYPES.items() if t == "b")
#: Card data and PIN blocks: never logged, never quoted in an error.
SENSITIVE_FIELDS = frozenset({2, 14, 35, 52, 55})
#: What ``Message.safe()`` and ``repr`` show only as a length.
MASKED_FIELDS = SENSITIVE_FIELDS | {62, 64}

MTI_BYTES = 2
BITMAP_BYTES = 8
MAC_FIELD = 64
MAC_BYTES = 8


def encoded_max(number: int) -> int:
    """The most bytes field ``number`` can take on the wire, length prefix included."""
    fs = SPEC[str(number)]
    units = int(fs["max_len"])
    data = (units + 1) // 2 if fs["len_count"] == "nibbles" else units
    return int(fs["len_type"]) + data


#: The largest body (MTI, bitmap and every field at its maximum) the profile allows.
MAX_BODY_BYTES = MTI_BYTES + BITMAP_BYTES + sum(encoded_max(n) for n in FIELD_NUMBERS)
