"""The arithmetic of selling alone (store/order_rules.py): rounding half up, an order's
discount spread over its lines exactly, partial returns that add up to the line,
cash and its change, and a return's money over the sale's tenders."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.store import order_rules as rules
from tillpoint.store.models import TenderKind


def test_lines_round_half_up_to_the_fen() -> None:
    assert rules.line_gross(1280, 455) == 582  # 5.824
    assert rules.line_gross(1000, 1005) == 1005
    assert rules.line_gross(1, 500) == 1  # 0.5 fen: up
    assert rules.line_gross(1, 499) == 0
    assert rules.percent_of(675, Decimal("10")) == 68  # 67.5: up
    assert rules.percent_of(250, Decimal("0")) == 0


def test_the_spread_gives_the_leftover_fen_to_the_largest_remainders() -> None:
    assert rules.spread(100, [750, 1280]) == [37, 63]
    assert rules.spread(1, [250, 750, 500]) == [0, 1, 0]
    assert rules.spread(2, [1, 1, 1]) == [1, 1, 0]  # a tie: the earlier line first
    assert rules.spread(0, [0, 5]) == [0, 0]


@given(
    weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=50).filter(any),
    part=st.fractions(0, 1),
)
def test_an_order_discount_spreads_exactly(weights: list[int], part: object) -> None:
    total = int(sum(weights) * part)  # type: ignore[operator]
    shares = rules.spread(total, weights)
    assert sum(shares) == total
    assert all(0 <= s <= w for s, w in zip(shares, weights, strict=True))


@given(
    amount=st.integers(0, 10**8),
    sold=st.integers(1, 10**6),
    cuts=st.lists(st.integers(1, 10**6), max_size=20),
)
def test_partial_returns_add_up_to_the_line(amount: int, sold: int, cuts: list[int]) -> None:
    back = taken = 0
    for cut in cuts:
        take = min(cut, sold - back)
        if take == 0:
            break
        part = rules.taken_back(amount, sold, back, take)
        assert part >= 0
        back, taken = back + take, taken + part
        assert taken <= amount
    if back < sold:
        taken += rules.taken_back(amount, sold, back, sold - back)
    assert taken == amount  # all back: exactly the line


@given(due=st.integers(1, 10**6), received=st.integers(1, 10**7))
def test_cash_covers_what_it_can_and_changes_the_rest(due: int, received: int) -> None:
    taken = rules.cash(due, received, None)
    assert taken.amount_minor == min(due, received)
    assert taken.received_minor == received
    assert taken.amount_minor + taken.change_minor == received >= taken.amount_minor


KINDS = st.sampled_from(list(TenderKind))


@given(
    tenders=st.lists(st.tuples(KINDS, st.integers(0, 10**6)), min_size=1, max_size=6),
    part=st.fractions(0, 1),
)
def test_a_return_never_gives_a_tender_more_than_it_has_left(
    tenders: list[tuple[TenderKind, int]], part: object
) -> None:
    paid = [rules.Paid(i + 1, kind, left) for i, (kind, left) in enumerate(tenders)]
    total = int(sum(t.left_minor for t in paid) * part)  # type: ignore[operator]
    plan = rules.refund_plan(total, paid)
    assert sum(amount for _t, amount in plan) == total
    left = {t.tender_id: t.left_minor for t in paid}
    assert all(0 < amount <= left[t] for t, amount in plan)
    assert len({t for t, _a in plan}) == len(plan)
    # Cash only once every other kind has given all it had.
    used = dict(plan)
    if any(p.kind is TenderKind.CASH and used.get(p.tender_id) for p in paid):
        others = [p for p in paid if p.kind is not TenderKind.CASH]
        assert all(used.get(p.tender_id, 0) == p.left_minor for p in others)


@given(
    float_minor=st.integers(0, 10**6),
    sales=st.lists(st.tuples(st.integers(1, 10**5), st.integers(0, 10**5)), max_size=10),
    back=st.lists(st.integers(1, 10**5), max_size=5),
)
def test_expected_cash_is_the_float_plus_cash_in_less_cash_out(
    float_minor: int, sales: list[tuple[int, int]], back: list[int]
) -> None:
    """Change is netted: a tender counts what it paid, never what was handed over."""
    drawer = float_minor
    cash_in = 0
    for due, extra in sales:
        taken = rules.cash(due, due + extra, None)
        drawer += taken.received_minor - taken.change_minor  # in, then change out
        cash_in += taken.amount_minor
    drawer -= sum(back)
    assert drawer == float_minor + cash_in - sum(back)
