"""Money: an integer count of minor units and an ISO 4217 currency. Never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from babel.numbers import (
    format_currency,
    format_decimal,
    get_currency_precision,
    list_currencies,
)

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_, get_locale

DEFAULT_CURRENCY = "CNY"
# ISO 4217 numeric codes of the currencies a terminal may name in field 49.
NUMERIC_CODES = {"156": "CNY", "344": "HKD", "446": "MOP", "840": "USD", "978": "EUR"}


@cache
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies())


def check_currency(currency: str) -> str:
    if currency not in _known_currencies():
        raise InvalidInput(
            "money.unknown_currency", N_("Unknown currency {currency!r}"), currency=currency
        )
    return currency


def minor_digits(currency: str) -> int:
    """How many decimal places the currency's minor unit has (CNY 2, JPY 0)."""
    return int(get_currency_precision(check_currency(currency)))


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount_minor: int
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        # bool is an int subclass and float is a classic mistake: refuse both outright.
        if type(self.amount_minor) is not int:
            raise TypeError(
                f"Money needs an int count of minor units, not {type(self.amount_minor).__name__}"
            )
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | int | Decimal, currency: str = DEFAULT_CURRENCY) -> Money:
        """Parse a major-unit amount such as ``"12.34"`` exactly; refuse extra decimals."""
        if isinstance(text, float):
            raise TypeError("Money.parse refuses float; pass a str or Decimal")
        try:
            value = Decimal(str(text).strip().replace(",", ""))
        except InvalidOperation:
            raise InvalidInput(
                "money.malformed", N_("{text!r} is not an amount"), text=str(text)
            ) from None
        if not value.is_finite():
            raise InvalidInput("money.malformed", N_("{text!r} is not an amount"), text=str(text))
        scaled = value.scaleb(minor_digits(currency))
        if scaled != scaled.to_integral_value():
            raise InvalidInput(
                "money.too_precise",
                N_("{text!r} has more decimals than {currency} allows"),
                text=str(text),
                currency=currency,
            )
        return cls(int(scaled), currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-minor_digits(self.currency))

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidInput(
                "money.currency_mismatch",
                N_("Cannot combine {a} with {b}"),
                a=self.currency,
                b=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount_minor >= other.amount_minor

    def times_rate(self, rate_percent: Decimal) -> Money:
        """This amount times a percentage, rounded half-up to the minor unit, once."""
        if not isinstance(rate_percent, Decimal):
            raise TypeError("rates are Decimal")
        exact = Decimal(self.amount_minor) * rate_percent / Decimal(100)
        return Money(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), self.currency)

    def plain(self) -> str:
        """``12.34``: the amount in major units, no symbol, for files and JSON."""
        return f"{self.to_decimal():.{minor_digits(self.currency)}f}"

    def display(self) -> str:
        """``CNY 1,234.56``: the ISO code, a space, the amount grouped by thousands, the
        same in every language. The virtual terminal and every slip show money this way:
        plain ASCII that any receipt printer prints, and unlike ``¥`` (also the yen's
        sign) it cannot be misread."""
        digits = minor_digits(self.currency)
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        number = format_decimal(self.to_decimal(), format=pattern, locale="en")
        return f"{self.currency} {number}"

    def format(self, locale: str | None = None) -> str:
        """``¥12.34`` / ``CN¥12.34``: for people, in their locale."""
        return str(format_currency(self.to_decimal(), self.currency, locale=locale or get_locale()))

    def __str__(self) -> str:
        return f"{self.plain()} {self.currency}"
