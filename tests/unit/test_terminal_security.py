"""The throttle rule of failed proofs (terminals/security.py), as plain data."""

from datetime import UTC, datetime, timedelta

from tillpoint.terminals.security import source_address, throttled_until

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def at(*minutes: float) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in minutes]


def test_five_within_ten_minutes_hold_ten_minutes_from_the_fifth() -> None:
    assert throttled_until(at(0, 1, 2, 3)) is None
    assert throttled_until(at(0, 1, 2, 3, 9.5)) == T0 + timedelta(minutes=19.5)
    assert throttled_until(at(0, 0, 0, 0, 10)) == T0 + timedelta(minutes=20)  # exactly ten


def test_failures_spread_wider_than_the_window_hold_nothing() -> None:
    assert throttled_until(at(0, 3, 6, 9, 10.5)) is None
    assert throttled_until(at(0, 3, 6, 9, 10.5, 12)) == T0 + timedelta(minutes=22)


def test_addresses_are_stored_printable_and_bounded() -> None:
    assert source_address("198.51.100.7") == "198.51.100.7"
    assert source_address(None) == "unknown"
    assert source_address("\x00\n") == "unknown"
    assert len(source_address("f" * 500)) == 64
