"""A category's figures over 30 days, and a merchant's week of large tickets, kept up as
tickets come (risk/engine.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.risk.engine import WARM_DAYS, _Mix, _Peers


def test_a_groups_tickets_and_sellers_leave_the_window_after_30_days() -> None:
    peers = _Peers()
    peers.add("5812/personal", 1, 100, 1_000)
    peers.add("5812/personal", 2, 110, 3_000)
    peers.add("5812/personal", 2, 110, 2_000)
    assert peers.of("5812/personal", 110) == (6_000, 3, 2)
    assert peers.of("5812/personal", 100 + WARM_DAYS) == (5_000, 2, 1)  # day 100 is out
    assert peers.of("5812/personal", 110 + WARM_DAYS) == (0, 0, 0)
    assert peers.of("5812/business", 110) == (0, 0, 0)


@given(st.lists(st.tuples(st.integers(1, 5), st.integers(0, 90), st.integers(1, 10_000)),
                max_size=60))  # fmt: skip
def test_the_kept_figures_are_the_windows_sums(tickets: list[tuple[int, int, int]]) -> None:
    peers = _Peers()
    tickets = sorted(tickets, key=lambda t: t[1])  # as days pass
    for merchant, day, amount in tickets:
        peers.add("g", merchant, day, amount)
    end = tickets[-1][1] if tickets else 0
    window = [(m, a) for m, d, a in tickets if d > end - WARM_DAYS]
    assert peers.of("g", end) == (
        sum(a for _m, a in window),
        len(window),
        len({m for m, _a in window}),
    )


def test_a_merchants_share_of_large_tickets_is_over_the_last_seven_days() -> None:
    mix = _Mix()
    for _ in range(9):
        mix.add(10, large=False)
    mix.add(10, large=True)  # one large ticket in ten: a cash-out sale among the day's
    assert mix.share_pct(10) == 10
    for _ in range(30):
        mix.add(12, large=True)  # selling what another trade sells
    assert mix.share_pct(12) == 77  # 31 of 40
    assert mix.share_pct(16) == 77 and mix.share_pct(17) == 100  # day 10 has left
    assert mix.share_pct(19) == 0
    mix.add(5, large=True)  # older than the window: ignored
    assert mix.share_pct(12) == 77


@given(st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=80))
def test_the_share_is_the_windows(tickets: list[tuple[int, bool]]) -> None:
    mix = _Mix()
    tickets = sorted(tickets, key=lambda t: t[0])  # as days pass
    for day, large in tickets:
        mix.add(day, large)
    end = tickets[-1][0] if tickets else 0
    window = [large for day, large in tickets if day > end - _Mix.WINDOW]
    assert mix.share_pct(end) == (sum(window) * 100 // len(window) if window else 0)


def test_the_share_of_the_latest_twenty_tickets_shows_a_switch_whatever_the_days() -> None:
    mix = _Mix()
    assert mix.recent_pct() == 0
    for _ in range(30):
        mix.add(1, large=False)  # a busy week of the shop's own trade
    for n in range(1, 13):
        mix.add(5, large=True)  # then another trade's tickets, a dozen in a day
        assert mix.recent_pct() == n * 100 // 20
    assert mix.share_pct(5) == 28  # 12 of 42 over the week: the week alone would wait
