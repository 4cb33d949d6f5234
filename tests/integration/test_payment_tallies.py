"""The dashboard's tallies equal a direct count over the payments, whatever happened to
the payments (declines, voids, refunds, QR codes that expired) and wherever the
background pass stopped."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.conftest import START, approved, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.merchants.models import Merchant, PaymentMethod
from tillpoint.payments.models import (
    Payment,
    PaymentEvent,
    PaymentKind,
    PaymentStatus,
    PaymentTally,
)
from tillpoint.payments.tallies import DayFigures, hour_of

DAY = START.date()
DAYS = (DAY - timedelta(days=1), DAY)
_rrn = itertools.count(100_000_000_000)

New = st.tuples(
    st.just("new"),
    st.sampled_from(DAYS),
    st.integers(0, 47),  # half hours of the day
    st.sampled_from([None, *PaymentMethod]),
    st.sampled_from(list(PaymentKind)),
    st.sampled_from(list(PaymentStatus)),
    st.integers(0, 10**9),
)
Move = st.tuples(st.just("move"), st.integers(0, 10**6), st.sampled_from(list(PaymentStatus)))
Pass = st.tuples(st.just("pass"), st.integers(1, 7))
Ops = st.lists(st.one_of(New, Move, Pass), max_size=40)


def summary(f: DayFigures) -> tuple[object, ...]:
    methods = {m: v for m, v in f.by_method.items() if v}
    return (f.volume_minor, f.count, f.refunds_minor, f.refunds_count, f.attempts,
            f.approved, methods, f.by_hour)  # fmt: skip


def apply(tp: Tillpoint, merchant_id: int, ops: list[tuple[object, ...]]) -> None:
    for op in ops:
        if op[0] == "pass":
            tp.tallies.run_pass(limit=int(op[1]))  # type: ignore[call-overload]
            continue
        with tp.ctx.db.transaction() as s:
            if op[0] == "new":
                _n, day, half, method, kind, status, amount = op
                assert isinstance(day, date) and isinstance(half, int)
                at = (START.replace(hour=0, minute=0) + timedelta(minutes=30 * half)).replace(
                    year=day.year, month=day.month, day=day.day
                )
                p = Payment(kind=kind, status=status, response_code="00",
                            merchant_id=merchant_id, shop_id=1, rrn=f"{next(_rrn)}",
                            amount_minor=amount, currency="CNY", method=method,
                            entry_mode="071", business_date=day, refunded_minor=0,
                            created_at=at, updated_at=at)  # fmt: skip
                s.add(p)
                s.flush()
                s.add(PaymentEvent(payment_id=p.id, from_status=None, to_status=status,
                                   cause="test", at=at))  # fmt: skip
            else:
                _m, pick, to = op
                ids = list(s.scalars(select(Payment.id).order_by(Payment.id)))
                if not ids:
                    continue
                assert isinstance(pick, int) and isinstance(to, PaymentStatus)
                p = s.get_one(Payment, ids[pick % len(ids)])
                s.add(PaymentEvent(payment_id=p.id, from_status=p.status, to_status=to,
                                   cause="test", at=START))  # fmt: skip
                p.status = to


def check(tp: Tillpoint) -> None:
    figures = tp.tallies.figures(DAYS)
    assert not figures.behind
    for day in DAYS:
        assert summary(figures.days[day]) == summary(tp.tallies.direct(day))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=Ops)
def test_the_figures_are_a_direct_count_wherever_the_pass_stopped(
    tp: Tillpoint, ops: list[tuple[object, ...]]
) -> None:
    # The examples share one database: the invariant holds for what they left, too.
    with tp.ctx.db.read() as s:
        merchant_id = s.scalar(select(func.min(Merchant.id)))
    if merchant_id is None:
        approved(tp, personal_application())
        with tp.ctx.db.read() as s:
            merchant_id = s.scalar(select(func.min(Merchant.id)))
    assert merchant_id is not None
    apply(tp, merchant_id, ops)
    check(tp)  # tallies + the events the pass has not reached
    tp.tallies.catch_up()
    check(tp)  # the tallies alone
    with tp.ctx.db.read() as s:
        stored = {
            (t.business_date, t.hour, t.method, t.kind, t.status): (t.count, t.amount_minor)
            for t in s.scalars(select(PaymentTally))
            if t.count or t.amount_minor
        }
        direct: dict[tuple[object, ...], list[int]] = {}
        for p in s.scalars(select(Payment)):
            key = (p.business_date, hour_of(p.created_at), p.method.value if p.method else "",
                   p.kind.value, p.status.value)  # fmt: skip
            cell = direct.setdefault(key, [0, 0])
            cell[0] += 1
            cell[1] += p.amount_minor
    assert stored == {k: (c, a) for k, (c, a) in direct.items()}


def test_definitions(tp: Tillpoint) -> None:
    """Volume counts standing sales and completions; refunds apart; the approval rate
    is over what the network answered."""
    approved(tp, personal_application())
    with tp.ctx.db.read() as s:
        merchant_id = s.scalar(select(func.min(Merchant.id)))
    assert merchant_id is not None
    noon = 24  # half hours: 12:00
    card = PaymentMethod.DEBIT
    ops: list[tuple[object, ...]] = [
        ("new", DAY, noon, card, PaymentKind.SALE, PaymentStatus.APPROVED, 10_000),
        ("new", DAY, noon, card, PaymentKind.SALE, PaymentStatus.PARTLY_REFUNDED, 5_000),
        ("new", DAY, noon, card, PaymentKind.SALE, PaymentStatus.VOIDED, 7_000),
        ("new", DAY, noon, card, PaymentKind.SALE, PaymentStatus.DECLINED, 9_000),
        ("new", DAY, noon + 3, PaymentMethod.ALIPAY, PaymentKind.SALE, PaymentStatus.EXPIRED, 1),
        ("new", DAY, noon + 3, PaymentMethod.ALIPAY, PaymentKind.COMPLETION,
         PaymentStatus.APPROVED, 2_000),
        ("new", DAY, noon, card, PaymentKind.PREAUTH, PaymentStatus.COMPLETED, 2_500),
        ("new", DAY, noon, card, PaymentKind.REFUND, PaymentStatus.APPROVED, 1_000),
    ]  # fmt: skip
    apply(tp, merchant_id, ops)
    f = tp.tallies.figures([DAY]).days[DAY]
    assert (f.volume_minor, f.count) == (17_000, 3)
    assert (f.refunds_minor, f.refunds_count) == (1_000, 1)
    assert (f.approved, f.attempts) == (5, 6)  # the expired QR code was never answered
    assert str(f.approval_rate) == "83.3"
    assert f.by_method == {"debit": 15_000, "alipay": 2_000}
    assert f.by_hour[12] == 15_000 and f.by_hour[13] == 2_000
    assert hour_of(START.astimezone(BUSINESS_TZ)) == 10
