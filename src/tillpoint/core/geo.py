"""Positions on the earth, exact: latitude and longitude in whole micro-degrees.

A terminal reports its GPS position with six decimals (field 59, tag 04:
``+31.230416/+121.473701``), so a millionth of a degree (about 11 cm) is exact for it,
and a shop's registered position is kept the same way. Integers, never floats: a
position read back is the position written, on every database. ``Position.latitude``
and ``longitude`` give the degrees as ``Decimal``.

Parsing raises ``ValueError`` (never quoting more than the text it was given); each
caller turns it into its own error (a ``FormatError`` in field 59, an ``InvalidInput``
for a shop).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal

MICRO = 1_000_000  # micro-degrees in a degree
MAX_LATITUDE_E6 = 90 * MICRO
MAX_LONGITUDE_E6 = 180 * MICRO
DECIMALS = 6

# Degrees as text: an optional sign, 1-3 digits, and up to six decimals.
_DEGREES = re.compile(r"([+-]?)([0-9]{1,3})(?:\.([0-9]{1,6}))?")
# Field 59's form: sign required, a decimal point with 1-6 decimals.
_SIGNED = re.compile(r"([+-])([0-9]{1,3})\.([0-9]{1,6})")


def _micro(text: str, limit_e6: int, what: str, *, strict: bool) -> int:
    match = (_SIGNED if strict else _DEGREES).fullmatch(text)
    if match is None:
        raise ValueError(f"the {what} is not degrees with at most {DECIMALS} decimals")
    sign, whole, fraction = match.groups()
    value = int(whole) * MICRO + int((fraction or "").ljust(DECIMALS, "0"))
    if value > limit_e6:
        raise ValueError(f"the {what} is out of range")
    return -value if sign == "-" else value


def latitude_e6(text: str, *, strict: bool = False) -> int:
    """Micro-degrees of a latitude written in degrees (``31.2304``, ``-33.8688``),
    -90 to +90. ``strict``: field 59's form, with a sign and a decimal point."""
    return _micro(text, MAX_LATITUDE_E6, "latitude", strict=strict)


def longitude_e6(text: str, *, strict: bool = False) -> int:
    """Micro-degrees of a longitude written in degrees, -180 to +180."""
    return _micro(text, MAX_LONGITUDE_E6, "longitude", strict=strict)


def degrees(value_e6: int) -> Decimal:
    """Micro-degrees as degrees with six decimals (``31230400`` is ``31.230400``)."""
    return Decimal(value_e6).scaleb(-DECIMALS)


def _signed(value_e6: int) -> str:
    sign = "-" if value_e6 < 0 else "+"
    whole, fraction = divmod(abs(value_e6), MICRO)
    return f"{sign}{whole}.{fraction:06d}"


@dataclass(frozen=True)
class Position:
    """A point: latitude -90..+90 and longitude -180..+180 degrees, in micro-degrees."""

    latitude_e6: int
    longitude_e6: int

    def __post_init__(self) -> None:
        for value, limit, what in (
            (self.latitude_e6, MAX_LATITUDE_E6, "latitude"),
            (self.longitude_e6, MAX_LONGITUDE_E6, "longitude"),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > limit:
                raise ValueError(f"the {what} is out of range")

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> Position:
        """``LAT/LON`` in degrees (``31.2304/121.4737``); ``strict``: field 59's form,
        each with a sign and a decimal point (``+31.230416/+121.473701``)."""
        latitude, slash, longitude = text.partition("/")
        if not slash:
            raise ValueError("a position is LATITUDE/LONGITUDE")
        return cls(latitude_e6(latitude, strict=strict), longitude_e6(longitude, strict=strict))

    @classmethod
    def of(cls, latitude: str | Decimal, longitude: str | Decimal) -> Position:
        """A position from degrees as text or ``Decimal`` (at most six decimals)."""
        return cls(latitude_e6(_text(latitude)), longitude_e6(_text(longitude)))

    @property
    def latitude(self) -> Decimal:
        return degrees(self.latitude_e6)

    @property
    def longitude(self) -> Decimal:
        return degrees(self.longitude_e6)

    def text(self) -> str:
        """Field 59's form: ``+31.230400/+121.473700``."""
        return f"{_signed(self.latitude_e6)}/{_signed(self.longitude_e6)}"

    def __str__(self) -> str:
        return self.text()


def _text(value: str | Decimal) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("degrees are a finite number")
        return f"{value.normalize():f}"
    if not isinstance(value, str):
        raise ValueError("degrees are given as text or Decimal, never float")
    return value.strip()


EARTH_RADIUS_M = 6_371_008  # the mean radius (IUGG)


def distance_m(a: Position, b: Position) -> int:
    """The great-circle distance between two positions, in whole metres (haversine on
    the mean radius: within 0.5% of the true distance on the ellipsoid, plenty for
    telling a shop from a terminal hundreds of kilometres away). Floating point is fine
    here: a distance is a measurement, never money, and it is rounded to the metre."""
    lat1, lat2 = math.radians(a.latitude_e6 / MICRO), math.radians(b.latitude_e6 / MICRO)
    dlat = lat2 - lat1
    dlon = math.radians((b.longitude_e6 - a.longitude_e6) / MICRO)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h))))
