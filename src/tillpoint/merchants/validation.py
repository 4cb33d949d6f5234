"""Checks on what an applicant sends. Each failure names the field and what is wrong."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from tillpoint.core.errors import InvalidInput
from tillpoint.core.geo import Position
from tillpoint.core.i18n import N_
from tillpoint.core.ids import luhn_ok
from tillpoint.merchants.mcc import BUSINESS_ONLY, MCC_NAMES
from tillpoint.merchants.models import MerchantKind

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MOBILE = re.compile(r"^(\+?86)?1[3-9][0-9]{9}$")
_LANDLINE = re.compile(r"^0[0-9]{2,3}-?[0-9]{7,8}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _bad(field: str, message: str, **params: object) -> InvalidInput:
    return InvalidInput(f"application.{field}", message, field=field, **params)


def text(field: str, value: str, *, min_len: int = 1, max_len: int = 200) -> str:
    cleaned = " ".join(value.split())
    if not min_len <= len(cleaned) <= max_len or _CONTROL.search(cleaned):
        raise _bad(
            field,
            N_("{field} must be {min_len}-{max_len} printable characters"),
            min_len=min_len,
            max_len=max_len,
        )
    return cleaned


def mcc(value: str, kind: MerchantKind) -> str:
    if not re.fullmatch(r"[0-9]{4}", value):
        raise _bad("mcc", N_("MCC {value!r} is malformed: it is 4 digits, e.g. 5411"), value=value)
    if value not in MCC_NAMES:
        raise _bad("mcc", N_("MCC {value} is not a category Tillpoint accepts"), value=value)
    if kind is MerchantKind.PERSONAL and value in BUSINESS_ONLY:
        raise _bad(
            "mcc",
            N_("MCC {value} needs a business licence: not for personal merchants"),
            value=value,
        )
    return value


def bank_account(value: str, kind: MerchantKind) -> str:
    account = value.replace(" ", "").replace("-", "")
    if kind is MerchantKind.PERSONAL:
        # Personal settlement goes to the merchant's own debit card: 16-19 digits, Luhn.
        if not re.fullmatch(r"[0-9]{16,19}", account) or not luhn_ok(account):
            raise _bad(
                "bank_account",
                N_(
                    "Bank account is malformed: a personal merchant's account is a "
                    "16-19 digit bank card number with a valid check digit"
                ),
            )
    elif not re.fullmatch(r"[0-9]{8,30}", account):
        raise _bad(
            "bank_account",
            N_("Bank account is malformed: a business account number is 8-30 digits"),
        )
    return account


def resident_id(value: str) -> str:
    """Mainland resident identity card number: 17 digits and an ISO 7064 MOD 11-2 check."""
    number = value.strip().upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        raise _bad(
            "id_number", N_("Identity number is malformed: 18 characters, digits and a final X")
        )
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise _bad("id_number", N_("Identity number holds an impossible birth date")) from None
    check = "10X98765432"[sum(int(d) * w for d, w in zip(number, _ID_WEIGHTS, strict=False)) % 11]
    if number[17] != check:
        raise _bad("id_number", N_("Identity number fails its check digit"))
    return number


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def credit_code(field: str, value: str) -> str:
    """Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters."""
    code = value.strip().upper()
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        raise _bad(field, N_("{field} is malformed: an 18-character unified social credit code"))
    if code[17] != uscc_check_char(code[:17]):
        raise _bad(field, N_("{field} fails its check character"))
    return code


def tax_number(value: str) -> str:
    """Since 2015 the credit code is the tax number; older 15-20 character ones remain."""
    code = value.strip().upper()
    if len(code) == 18:
        return credit_code("tax_registration_no", code)
    if not re.fullmatch(r"[0-9A-Z]{15,20}", code):
        raise _bad("tax_registration_no", N_("Tax registration number is malformed"))
    return code


def phone(value: str) -> str:
    number = value.replace(" ", "")
    if not (_MOBILE.fullmatch(number) or _LANDLINE.fullmatch(number)):
        raise _bad("contact_phone", N_("Phone number {value!r} is malformed"), value=value)
    return number


def email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > 200 or not _EMAIL.fullmatch(value.strip()):
        raise _bad("contact_email", N_("Email address {value!r} is malformed"), value=value)
    return value.strip()


def position(latitude: str | Decimal | None, longitude: str | Decimal | None) -> Position | None:
    """A shop's position from degrees as text (``31.2304``, ``-33.8688``) or Decimal:
    both or neither (None); at most six decimals; never a float."""
    if latitude in (None, "") and longitude in (None, ""):
        return None
    if latitude in (None, "") or longitude in (None, ""):
        raise InvalidInput(
            "shop.position_half",
            N_("Give both the latitude and the longitude, or neither"),
            field="position",
        )
    try:
        return Position.of(latitude, longitude)
    except ValueError:
        raise InvalidInput(
            "shop.position",
            N_(
                "A position is a latitude from -90 to 90 and a longitude from -180 to 180 "
                "degrees, with at most 6 decimals"
            ),
            field="position",
        ) from None


def city(value: str | None) -> str | None:
    """A shop's city as people write it (``上海 Shanghai``), 1-50 characters; None or
    blank: none."""
    if value is None or not value.strip():
        return None
    return text("city", value, max_len=50)
