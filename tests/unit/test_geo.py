"""Exact positions: degrees as text to micro-degrees and back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.geo import (
    MAX_LATITUDE_E6,
    MAX_LONGITUDE_E6,
    Position,
    degrees,
    distance_m,
    latitude_e6,
    longitude_e6,
)


def test_degrees_to_micro_degrees() -> None:
    assert latitude_e6("31.2304") == 31_230_400
    assert latitude_e6("-33.8688") == -33_868_800
    assert latitude_e6("+90") == MAX_LATITUDE_E6
    assert longitude_e6("-180.000000") == -MAX_LONGITUDE_E6
    assert longitude_e6("0.000001") == 1
    assert str(degrees(31_230_400)) == "31.230400"
    assert degrees(-1) == Decimal("-0.000001")


@pytest.mark.parametrize(
    "text", ["", "abc", "31.", ".5", "1e2", "90.000001", "31.1234567", "3 1", "٣١.٢", "0x10", "nan"]
)
def test_latitudes_refused(text: str) -> None:
    with pytest.raises(ValueError, match="latitude"):
        latitude_e6(text)


def test_strict_is_field_59s_form() -> None:
    assert Position.parse("+31.230416/+121.473701", strict=True) == Position(
        31_230_416, 121_473_701
    )
    for text in ("31.230416/+121.473701", "+31/+121.4", "+31.2/121.4", "+31.2+121.4"):
        with pytest.raises(ValueError, match=r"latitude|longitude|position"):
            Position.parse(text, strict=True)
    assert Position.parse("31.2304/121.4737") == Position(31_230_400, 121_473_700)


def test_of_decimals_and_text_never_float() -> None:
    assert Position.of(Decimal("31.2304"), Decimal("121.4737")) == Position(31_230_400, 121_473_700)
    assert Position.of(Decimal("31.230400000"), "121.4737").latitude_e6 == 31_230_400
    with pytest.raises(ValueError, match="never float"):
        Position.of(31.2304, 121.4737)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        Position.of(Decimal("NaN"), "0")
    with pytest.raises(ValueError, match="out of range"):
        Position(MAX_LATITUDE_E6 + 1, 0)
    with pytest.raises(ValueError, match="out of range"):
        Position(True, 0)  # type: ignore[arg-type]


@given(
    st.integers(-MAX_LATITUDE_E6, MAX_LATITUDE_E6),
    st.integers(-MAX_LONGITUDE_E6, MAX_LONGITUDE_E6),
)
def test_text_round_trip(lat: int, lon: int) -> None:
    p = Position(lat, lon)
    assert Position.parse(p.text(), strict=True) == p
    assert Position.of(p.latitude, p.longitude) == p


def test_distances_between_cities() -> None:
    shanghai, beijing = Position.of("31.2304", "121.4737"), Position.of("39.9042", "116.4074")
    assert 1_060_000 < distance_m(shanghai, beijing) < 1_075_000  # about 1,067 km
    assert distance_m(shanghai, shanghai) == 0
    assert distance_m(shanghai, beijing) == distance_m(beijing, shanghai)
    # across the antimeridian, and pole to pole (half the circumference)
    assert distance_m(Position.of("0", "179.5"), Position.of("0", "-179.5")) < 112_000
    assert 20_010_000 < distance_m(Position.of("90", "0"), Position.of("-90", "0")) < 20_020_000
