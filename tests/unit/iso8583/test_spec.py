"""The field table as data: every field of section 2, laid out as the profile says."""

from __future__ import annotations

from tillpoint.iso8583.spec import (
    BINARY_FIELDS,
    FIELD_NAMES,
    FIELD_NUMBERS,
    MAX_BODY_BYTES,
    SPEC,
    TYPES,
    encoded_max,
)

# field: (type, LL/LLL or fixed, max length) as in the profile's table
PROFILE = {
    2: ("n", "LL", 19), 3: ("n", "", 6), 4: ("n", "", 12), 11: ("n", "", 6),
    12: ("n", "", 6), 13: ("n", "", 4), 14: ("n", "", 4), 15: ("n", "", 4),
    22: ("n", "", 3), 23: ("n", "", 3), 25: ("n", "", 2), 26: ("n", "", 2),
    32: ("n", "LL", 11), 35: ("z", "LL", 37), 37: ("an", "", 12), 38: ("an", "", 6),
    39: ("an", "", 2), 41: ("ans", "", 8), 42: ("ans", "", 15), 44: ("an", "LL", 25),
    48: ("n", "LLL", 322), 49: ("an", "", 3), 52: ("b", "", 8), 53: ("n", "", 16),
    54: ("an", "LLL", 20), 55: ("b", "LLL", 255), 57: ("ans", "LLL", 64), 59: ("ans", "LLL", 600),
    60: ("n", "LLL", 17), 61: ("n", "LLL", 29), 62: ("b", "LLL", 512),
    63: ("ans", "LLL", 163), 64: ("b", "", 8),
}  # fmt: skip


def test_every_field_of_section_2_as_the_profile_says() -> None:
    assert set(FIELD_NUMBERS) == set(PROFILE) == set(TYPES)
    for number, (kind, length, max_len) in PROFILE.items():
        fs = SPEC[str(number)]
        assert TYPES[number] == kind, number
        assert fs["max_len"] == max_len, number
        assert fs["len_type"] == {"": 0, "LL": 1, "LLL": 2}[length], number
        if length:
            assert fs["len_enc"] == "bcd", number
        numeric = kind in ("n", "z")
        assert fs["len_count"] == ("nibbles" if numeric else "bytes"), number
        assert fs["data_enc"] == ("ascii" if kind in ("an", "ans") else "b"), number
        if numeric:
            left_aligned = bool(length) or number == 22
            pad = "right_pad" if left_aligned else "left_pad"
            assert fs[pad] == "0" and ("left_pad" in fs) != left_aligned, number
        assert FIELD_NAMES[number]
    assert {n for n, (kind, _, _) in PROFILE.items() if kind == "b"} == BINARY_FIELDS


def test_mti_bitmap_and_no_header() -> None:
    assert SPEC["t"]["data_enc"] == "b"  # 2 bytes BCD
    assert SPEC["p"]["data_enc"] == "b" and SPEC["p"]["max_len"] == 8
    assert SPEC["h"]["max_len"] == 0  # TPDU and header are framing
    assert "1" not in SPEC  # primary bitmap only


def test_largest_body() -> None:
    assert encoded_max(2) == 1 + 10
    assert encoded_max(22) == 2
    assert encoded_max(48) == 2 + 161
    assert encoded_max(62) == 2 + 512
    assert encoded_max(59) == 2 + 600
    assert MAX_BODY_BYTES == 1988
