"""The profile's fields as data (a pyiso8583 spec), section 2 of the terminal profile.

- ``n`` fields are BCD, counted in digits: fixed ones right-aligned with a leading 0
  nibble when odd (field 22 is the exception: left-aligned); variable ones (2, 32, 35,
  48, 60, 61) left-aligned with a trailing 0 nibble.
- LL lengths are 1 BCD byte, LLL lengths 2 BCD bytes.
- ``b`` fields (52, 55, 62, 64) are raw bytes; the rest ASCII.
"""

from __future__ import annotations

from typing import Any

BINARY_FIELDS = frozenset({52, 55, 62, 64})
SENSITIVE_FIELDS = frozenset({2, 14, 35, 36, 52, 55})  # never logged or quoted


def _n(digits: int, *, left_aligned: bool = False, desc: str = "") -> dict[str, Any]:
    pad = {"right_pad": "0"} if left_aligned else {"left_pad": "0"}
    return {
        "data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": digits,
        "len_count": "nibbles", "desc": desc, **pad,
    }  # fmt: skip


def _nvar(max_digits: int, length_bytes: int, desc: str = "") -> dict[str, Any]:
    return {
        "data_enc": "b", "len_enc": "bcd", "len_type": length_bytes, "max_len": max_digits,
        "len_count": "nibbles", "right_pad": "0", "desc": desc,
    }  # fmt: skip


def _a(length: int, desc: str = "") -> dict[str, Any]:
    return {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": length, "desc": desc}


def _avar(max_bytes: int, length_bytes: int, desc: str = "") -> dict[str, Any]:
    return {
        "data_enc": "ascii", "len_enc": "bcd", "len_type": length_bytes, "max_len": max_bytes,
        "desc": desc,
    }  # fmt: skip


def _b(length: int, desc: str = "") -> dict[str, Any]:
    return {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": length, "desc": desc}


def _bvar(max_bytes: int, desc: str = "") -> dict[str, Any]:
    return {"data_enc": "b", "len_enc": "bcd", "len_type": 2, "max_len": max_bytes, "desc": desc}


SPEC: dict[str, dict[str, Any]] = {
    "h": {"data_enc": "ascii", "len_enc": "ascii", "len_type": 0, "max_len": 0, "desc": "Header"},
    "t": {**_n(4, desc="Message type"), "left_pad": ""},
    "p": _b(8, "Bitmap, primary"),
    "1": _b(8, "Bitmap, secondary (never used)"),
    "2": _nvar(19, 1, "Primary account number"),
    "3": _n(6, desc="Processing code"),
    "4": _n(12, desc="Amount, minor units"),
    "11": _n(6, desc="System trace audit number"),
    "12": _n(6, desc="Local time hhmmss"),
    "13": _n(4, desc="Local date MMDD"),
    "14": _n(4, desc="Card expiry YYMM"),
    "15": _n(4, desc="Settlement date MMDD"),
    "22": _n(3, left_aligned=True, desc="POS entry mode"),
    "23": _n(3, desc="Card sequence number"),
    "25": _n(2, desc="POS condition code"),
    "26": _n(2, desc="PIN capture code"),
    "32": _nvar(11, 1, "Acquiring institution ID"),
    "35": _nvar(37, 1, "Track 2"),
    "37": _a(12, "Retrieval reference number"),
    "38": _a(6, "Authorization code"),
    "39": _a(2, "Response code"),
    "41": _a(8, "Terminal ID"),
    "42": _a(15, "Merchant ID"),
    "44": _avar(25, 1, "Additional response data"),
    "48": _nvar(322, 2, "Settlement totals"),
    "49": _a(3, "Currency code"),
    "52": _b(8, "PIN block"),
    "53": _n(16, desc="Security control information"),
    "54": _avar(20, 2, "Balance"),
    "55": _bvar(255, "ICC data"),
    "57": _avar(64, 2, "Wallet payment code"),
    "60": _nvar(17, 2, "Reserved private: type, batch, network code"),
    "61": _nvar(29, 2, "Original message data"),
    "62": _bvar(512, "Reserved private: working keys"),
    "63": _avar(163, 2, "Reserved private: operator / card organisation"),
    "64": _b(8, "MAC"),
}

FIELD_NUMBERS = tuple(sorted(int(k) for k in SPEC if k.isdigit() and k != "1"))
