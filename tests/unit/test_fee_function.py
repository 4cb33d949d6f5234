"""The one fee function: property-tested as the issue asks."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.errors import InvalidInput
from tillpoint.core.money import Money
from tillpoint.merchants.fees import Rate, fee, parse_rate

amounts = st.integers(min_value=0, max_value=10**12)
percents = st.decimals(min_value=0, max_value=10, places=4)
caps = st.none() | st.integers(min_value=0, max_value=10**7).map(Money)


@given(amounts, percents, caps)
def test_never_negative_never_above_cap_or_amount(a: int, p: Decimal, cap: Money | None) -> None:
    charged = fee(Money(a), Rate(p, cap))
    assert 0 <= charged.amount_minor <= a
    if cap is not None:
        assert charged <= cap


@given(amounts, amounts, percents, caps)
def test_monotonic_in_amount(a: int, b: int, p: Decimal, cap: Money | None) -> None:
    lo, hi = sorted((a, b))
    assert fee(Money(lo), Rate(p, cap)) <= fee(Money(hi), Rate(p, cap))


@given(amounts, percents)
def test_rounds_half_up_once_to_the_fen(a: int, p: Decimal) -> None:
    exact = Decimal(a) * p / 100
    charged = fee(Money(a), Rate(p)).amount_minor
    assert abs(Decimal(charged) - exact) <= Decimal("0.5")
    if exact - int(exact) == Decimal("0.5"):
        assert charged == int(exact) + 1


def test_examples_from_the_fee_rules() -> None:
    debit = parse_rate("0.50%:20.00")
    assert fee(Money.parse("100.00"), debit) == Money(50)
    assert fee(Money.parse("100.01"), debit) == Money(50)  # 0.50005 -> 0.50
    assert fee(Money.parse("3999.00"), debit) == Money(2_000)  # 19.995 -> 20.00, at the cap
    assert fee(Money.parse("10000.00"), debit) == Money(2_000)  # capped at 20.00
    assert fee(Money.parse("0.99"), parse_rate("0.38")) == Money(0)  # 0.376 fen -> 0


@pytest.mark.parametrize("text", ["abc", "-0.1", "10.01", "0.12345", "0.5:-1.00", "0.5:1.001"])
def test_malformed_rates_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_rate(text)


def test_negative_amount_refused() -> None:
    with pytest.raises(InvalidInput):
        fee(Money(-1), Rate(Decimal("0.5")))
