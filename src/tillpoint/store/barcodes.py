"""Barcodes: what a code typed or scanned is, checked before it is stored or looked up.

Plain functions over strings, no database (docs/store.md, "Barcodes").

- **EAN-13**, **EAN-8** and **UPC-A** (12 digits) are recognised by their length and
  stored only with a correct check digit (GS1's modulus 10, computed by python-stdnum).
  A 13-digit code starting with ``0`` is the UPC-A code with a leading zero, as many
  scanners send it: it is stored, and looked up, as the 12-digit UPC-A.
- A **merchant's own code** is 1 to 32 letters, digits, ``-``, ``_`` or ``.``, with no
  check digit. A code of only digits whose length is 8, 12 or 13 is always taken for a
  GTIN: a wrong check digit is refused, never kept as an own code.
- **In-store scale codes** (the labels a shop's scale prints for weighed goods, 店内码)
  start with ``2`` and carry a PLU and a weight or a price:

  =========  ===========================================  =====================
  length     layout                                       the value is
  =========  ===========================================  =====================
  13         ``2 F PPPPP VVVVV C``                        F 0-4: price in fen;
                                                          F 5-9: weight in grams
  18         ``2 F PPPPP AAAAA WWWWW C``                   A price in fen and
                                                          W weight in grams
  =========  ===========================================  =====================

  ``F`` is the flag digit, ``PPPPP`` the product's PLU (1-99999), ``C`` the check digit
  over the digits before it (the EAN rule). A scale code names the product by its PLU;
  the code itself is not stored. A merchant may still store a fixed 13-digit code
  starting with ``2`` as an ordinary EAN-13 (restricted circulation numbers): a stored
  code is always found before a code is read as a scale's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from stdnum import ean

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.store.models import BarcodeKind

MAX_CODE_CHARS = 32  # product_barcodes.code
MAX_PLU_IN_CODE = 99_999  # five digits in a scale code
_OWN = re.compile(r"[A-Za-z0-9._-]{1,32}")
GTIN_LENGTHS = {8: BarcodeKind.EAN8, 12: BarcodeKind.UPCA, 13: BarcodeKind.EAN13}


def check_digit(digits: str) -> str:
    """The GS1 modulus-10 check digit of ``digits`` (any length): what EAN-8, UPC-A,
    EAN-13 and the scales' 18-digit codes end with."""
    return str(ean.calc_check_digit(digits))


def with_check_digit(digits: str) -> str:
    return digits + check_digit(digits)


def _is_digits(code: str) -> bool:
    return code.isascii() and code.isdigit()


@dataclass(frozen=True, slots=True)
class Barcode:
    code: str  # as stored: a UPC-A sent with its leading zero is kept as 12 digits
    kind: BarcodeKind


def normalise(code: str) -> str:
    """A scanned or typed code as it is stored and looked up: surrounding blanks gone,
    letters in capitals, a 13-digit code with a leading zero as its 12-digit UPC-A."""
    code = code.strip().upper()
    if len(code) == 13 and code.startswith("0") and _is_digits(code):
        return code[1:]
    return code


def parse(code: str) -> Barcode:
    """A code a merchant gives a product: a GTIN with a correct check digit, or an own
    code; anything else is refused with the reason."""
    text = normalise(code)
    if not text:
        raise InvalidInput("barcode.empty", N_("A barcode is empty"), field="barcode")
    if _is_digits(text) and len(text) in GTIN_LENGTHS:
        kind = GTIN_LENGTHS[len(text)]
        if not ean.is_valid(text):
            raise InvalidInput(
                "barcode.check_digit",
                N_("Barcode {code} has a wrong check digit (it should end in {digit})"),
                code=text,
                digit=check_digit(text[:-1]),
                field="barcode",
            )
        return Barcode(text, kind)
    if not _OWN.fullmatch(text):
        raise InvalidInput(
            "barcode.malformed",
            N_(
                "Barcode {code!r} is neither an EAN-13, EAN-8 or UPC-A nor an own code "
                "(1-32 letters, digits, '-', '_' or '.')"
            ),
            code=text[:40],
            field="barcode",
        )
    return Barcode(text, BarcodeKind.OWN)


class Embedded(StrEnum):
    PRICE = "price"  # the line's amount, in fen
    WEIGHT = "weight"  # the quantity, in grams (thousandths of a kg)
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class ScaleCode:
    """What an in-store scale's label says: the PLU of the product, and the price (fen)
    or the weight (grams, which are thousandths of a kilogram) or both."""

    plu: int
    embedded: Embedded
    amount_minor: int | None
    weight_milli: int | None


def scale_code(code: str) -> ScaleCode | None:
    """The scale's reading of ``code``, or None when it is not a scale code (not 13 or
    18 digits starting with 2, a wrong check digit, no PLU)."""
    if not (_is_digits(code) and code.startswith("2") and len(code) in (13, 18)):
        return None
    if check_digit(code[:-1]) != code[-1]:
        return None
    flag, plu = int(code[1]), int(code[2:7])
    if plu == 0:
        return None
    if len(code) == 18:
        return ScaleCode(plu, Embedded.BOTH, int(code[7:12]), int(code[12:17]))
    value = int(code[7:12])
    if flag <= 4:
        return ScaleCode(plu, Embedded.PRICE, value, None)
    return ScaleCode(plu, Embedded.WEIGHT, None, value)


def make_scale_code(
    plu: int, *, amount_minor: int | None = None, weight_milli: int | None = None, flag: int = 0
) -> str:
    """The code a scale would print (tests, demo data, the benchmark): 13 digits with a
    price (flag 0-4) or a weight (flag 5-9), or 18 digits with both."""
    if not 1 <= plu <= MAX_PLU_IN_CODE:
        raise ValueError("a scale code's PLU is 1-99999")
    if amount_minor is not None and weight_milli is not None:
        return with_check_digit(f"2{flag}{plu:05d}{amount_minor:05d}{weight_milli:05d}")
    if amount_minor is not None:
        if not 0 <= flag <= 4:
            raise ValueError("a price code's flag is 0-4")
        return with_check_digit(f"2{flag}{plu:05d}{amount_minor:05d}")
    if weight_milli is None or not 5 <= flag <= 9:
        raise ValueError("a weight code needs a weight and a flag of 5-9")
    return with_check_digit(f"2{flag}{plu:05d}{weight_milli:05d}")


def lookup_forms(code: str) -> str:
    """The stored form to look a scanned code up by (``normalise``), bounded."""
    return normalise(code[: MAX_CODE_CHARS + 8])
