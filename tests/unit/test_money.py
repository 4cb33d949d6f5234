from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.errors import InvalidInput
from tillpoint.core.money import Money

amounts = st.integers(min_value=-(10**15), max_value=10**15)


def test_parse_exact_minor_units() -> None:
    assert Money.parse("12.34") == Money(1234, "CNY")
    assert Money.parse("1,000.5") == Money(100050)
    assert Money.parse("7", "JPY") == Money(7, "JPY")


@pytest.mark.parametrize("text", ["12.345", "abc", "", "NaN", "Infinity"])
def test_parse_refuses_malformed_or_too_precise(text: str) -> None:
    with pytest.raises(InvalidInput):
        Money.parse(text)


def test_refuses_float_bool_and_unknown_currency() -> None:
    with pytest.raises(TypeError):
        Money(12.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True)
    with pytest.raises(TypeError):
        Money.parse(1.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Money(1, "XYZ")


def test_refuses_mixing_currencies() -> None:
    with pytest.raises(InvalidInput):
        Money(1, "CNY") + Money(1, "USD")
    with pytest.raises(InvalidInput):
        _ = Money(1, "CNY") < Money(2, "HKD")


@given(amounts, amounts)
def test_arithmetic_is_exact(a: int, b: int) -> None:
    assert (Money(a) + Money(b)).amount_minor == a + b
    assert (Money(a) - Money(b)) + Money(b) == Money(a)
    assert -Money(a) == Money(-a)


@given(amounts)
def test_plain_round_trips(a: int) -> None:
    m = Money(a)
    assert Money.parse(m.plain()) == m
    assert m.to_decimal() == Decimal(a) / 100


def test_times_rate_rounds_half_up_once() -> None:
    # 0.38% of 1.32 = 0.005016 yuan = 0.5016 fen -> 1 fen; of 1.31 = 0.4978 fen -> 0 fen.
    assert Money(132).times_rate(Decimal("0.38")) == Money(1)
    assert Money(131).times_rate(Decimal("0.38")) == Money(0)
    # Exactly half a fen rounds up: 0.5% of 1.00 = 0.5 fen.
    assert Money(100).times_rate(Decimal("0.5")) == Money(1)


def test_format_for_people() -> None:
    assert Money(123456).format("en") == "CN¥1,234.56"
    assert Money(123456).format("zh_CN") == "¥1,234.56"


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(123_456), "CNY 1,234.56"),
        (Money(-123_456), "CNY -1,234.56"),
        (Money(5), "CNY 0.05"),
        (Money(0), "CNY 0.00"),
        (Money(99_999_999_999), "CNY 999,999,999.99"),
        (Money(1_234, "JPY"), "JPY 1,234"),
    ],
)
def test_display_is_one_way_in_every_language(money: Money, shown: str) -> None:
    from tillpoint.core.i18n import set_locale

    for locale in ("zh_CN", "en"):
        set_locale(locale)
        assert money.display() == shown
