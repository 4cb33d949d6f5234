"""The arithmetic of loyalty alone (store/loyalty_rules.py) and the RFM segments
(store/crm.py), with property tests: returns in any parts take back exactly what a
sale earned and give back exactly what it redeemed; redemption never exceeds the
order; a coupon never takes more than what is left; coupon validity."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.store import loyalty_rules as lr
from tillpoint.store.crm import Segment, recency_score, segment
from tillpoint.store.order_rules import divide_half_up

rates = st.decimals(min_value=0, max_value=20, places=2)


def test_earning_is_exact_and_rounded_down_once_per_order() -> None:
    assert lr.line_micro(250, Decimal(1), Decimal(1)) == 2_500_000  # 2.5 points
    assert lr.earned([2_500_000, 2_500_000]) == 5  # not 2 + 2
    assert lr.earned([2_500_000]) == 2
    assert lr.line_micro(750, Decimal("1.5"), Decimal(2)) == 22_500_000


def test_member_price_is_the_lowest() -> None:
    assert lr.member_price(250, None, None) == 250
    assert lr.member_price(250, 300, None) == 250  # a member price above the list: ignored
    assert lr.member_price(250, None, Decimal(5)) == 237  # 12.5 fen off, rounded half up
    assert lr.member_price(750, 700, Decimal(5)) == 700
    assert lr.member_price(750, 720, Decimal(10)) == 675


def test_levels_by_spend() -> None:
    levels = [lr.Level(1, "silver", 50_000, Decimal(2)), lr.Level(2, "gold", 100_000, Decimal(5))]
    assert lr.level_for(49_999, levels) is None
    assert lr.level_for(50_000, levels) == levels[0]
    assert lr.level_for(10**9, levels) == levels[1]


@settings(deadline=None)
@given(
    sold=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(1, 20), rates, rates), min_size=1, max_size=6
    ),
    data=st.data(),
)
def test_returns_in_any_parts_take_back_exactly_what_was_earned(
    sold: list[tuple[int, int, Decimal, Decimal]], data: st.DataObject
) -> None:
    micros = [lr.line_micro(net, r, m) for net, _q, r, m in sold]
    earned = lr.earned(micros)
    left = [q * 1000 for _n, q, _r, _m in sold]
    returned = [0] * len(sold)
    taken = 0
    while any(left):
        i = data.draw(st.sampled_from([i for i, x in enumerate(left) if x]))
        part = 250 * data.draw(st.integers(1, left[i] // 250))
        left[i] -= part
        returned[i] += part
        total = sum(
            lr.returned_micro(mc, q * 1000, r)
            for mc, (_n, q, _r2, _m), r in zip(micros, sold, returned, strict=True)
        )
        step = lr.take_back(earned, total, taken)
        assert step >= 0
        taken += step
    assert taken == earned


@settings(deadline=None)
@given(
    amounts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 20)), min_size=1, max_size=6),
    redeemed=st.integers(0, 10**6),
    data=st.data(),
)
def test_returns_in_any_parts_give_back_exactly_what_was_redeemed(
    amounts: list[tuple[int, int]], redeemed: int, data: st.DataObject
) -> None:
    total = sum(a for a, _q in amounts)
    if total == 0:
        redeemed = 0
    left = [q * 1000 for _a, q in amounts]
    returned = [0] * len(amounts)
    given = 0
    while any(left):
        i = data.draw(st.sampled_from([i for i, x in enumerate(left) if x]))
        part = 250 * data.draw(st.integers(1, left[i] // 250))
        left[i] -= part
        returned[i] += part
        back = sum(
            divide_half_up(a * r, q * 1000) for (a, q), r in zip(amounts, returned, strict=True)
        )
        step = lr.give_back(redeemed, total, back, given)
        assert step >= 0
        given += step
    assert given == redeemed


@given(
    balance=st.integers(-100, 10**7),
    due=st.integers(0, 10**8),
    step_points=st.integers(1, 1000),
    step_minor=st.integers(1, 1000),
)
def test_redeeming_never_takes_more_than_the_order_or_the_balance(
    balance: int, due: int, step_points: int, step_minor: int
) -> None:
    most = lr.redeem_most(balance, due, step_points, step_minor)
    assert 0 <= most <= max(balance, 0) and most % step_points == 0
    value = lr.redeem_value(most, step_points, step_minor)
    assert 0 <= value <= due
    assert due - value < step_minor or balance - most < step_points  # the most it can


DAY = date(2026, 11, 25)
coupons = st.builds(
    lr.CouponTerms,
    amount_minor=st.one_of(st.none(), st.integers(1, 10**6)),
    percent=st.decimals(min_value="0.01", max_value=100, places=2),
    min_spend_minor=st.integers(0, 10**6),
    valid_from=st.dates(DAY - timedelta(days=30), DAY + timedelta(days=30)),
    valid_until=st.dates(DAY - timedelta(days=30), DAY + timedelta(days=60)),
    uses_allowed=st.integers(1, 5),
    uses_made=st.integers(0, 5),
    void=st.booleans(),
    member_id=st.one_of(st.none(), st.integers(1, 3)),
)


@given(c=coupons, member=st.one_of(st.none(), st.integers(1, 3)), spend=st.integers(0, 10**6))
def test_a_coupon_is_usable_exactly_within_its_terms(
    c: lr.CouponTerms, member: int | None, spend: int
) -> None:
    usable = lr.coupon_refusal(c, DAY, member, spend) == ""
    assert usable == (
        not c.void
        and c.valid_from <= DAY <= c.valid_until
        and c.uses_made < c.uses_allowed
        and c.member_id in (None, member)
        and spend >= c.min_spend_minor
    )
    off = lr.coupon_discount(c, spend)
    assert 0 <= off <= spend


def test_rfm_scores_and_segments() -> None:
    assert [recency_score(d) for d in (None, 0, 30, 31, 90, 91, 365, 366)] == [
        0, 3, 3, 2, 2, 1, 1, 0,
    ]  # fmt: skip
    assert segment(0, 0, 0, False) is Segment.PROSPECTS
    assert segment(3, 3, 2, True) is Segment.CHAMPIONS
    assert segment(3, 3, 1, True) is Segment.LOYAL
    assert segment(2, 2, 1, True) is Segment.LOYAL
    assert segment(3, 1, 1, True) is Segment.NEW
    assert segment(2, 1, 1, True) is Segment.PROMISING
    assert segment(1, 2, 2, True) is Segment.AT_RISK
    assert segment(1, 1, 1, True) is Segment.HIBERNATING
    assert segment(0, 0, 0, True) is Segment.HIBERNATING
