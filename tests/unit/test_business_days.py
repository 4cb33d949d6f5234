"""T+1 moves past weekends and holidays."""

from datetime import date

from tillpoint.clearing.days import next_business_day


def test_next_business_day() -> None:
    assert next_business_day(date(2026, 11, 25), frozenset()) == date(2026, 11, 26)  # Wed
    assert next_business_day(date(2026, 11, 27), frozenset()) == date(2026, 11, 30)  # Fri
    assert next_business_day(date(2026, 11, 28), frozenset()) == date(2026, 11, 30)  # Sat
    holidays = frozenset({date(2026, 10, d) for d in range(1, 8)})  # National Day week
    assert next_business_day(date(2026, 9, 30), holidays) == date(2026, 10, 8)
