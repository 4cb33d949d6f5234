"""The reads the REST API needs: settlements and payouts across days, a merchant's fee
plan in force."""

from datetime import date, timedelta

import pytest
from tests.conftest import approved, business_application

from tillpoint.app import Tillpoint
from tillpoint.clearing.models import SettlementStatus
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound
from tillpoint.core.money import Money
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.fees import Rate
from tillpoint.merchants.models import PaymentMethod


def book(tp: Tillpoint, mid: str, amount_minor: int, kind: EntryKind = EntryKind.CAPTURE) -> None:
    lines = ledger.capture_lines("CUP", mid, amount_minor, 0)
    if kind is EntryKind.CAPTURE_UNDONE:
        lines = [(code, -minor) for code, minor in lines]
    with tp.ctx.db.transaction() as s:
        ledger.post(s, kind, lines, business_date=tp.days.open_date(), at=tp.ctx.now(),
                    memo="test")  # fmt: skip


def settle_day(tp: Tillpoint, clock: FixedClock, *amounts: tuple[str, int]) -> date:
    for mid, amount in amounts:
        book(tp, mid, amount)
    day = tp.days.cut_off("ops")
    tp.settlement.run(day)
    clock.advance(timedelta(days=1))
    return day


def test_settlements_and_payouts_across_days(tp: Tillpoint, clock: FixedClock) -> None:
    first = approved(tp, business_application(1))
    second = approved(tp, business_application(2))
    monday = settle_day(tp, clock, (first, 10_000), (second, 500))
    tp.settlement.hold(second, "risk case", "risk")
    tuesday = settle_day(tp, clock, (first, 2_000), (second, 700))

    rows = tp.settlement.settlements()
    assert [(r.mid, r.business_date, r.payout_minor) for r in rows] == [
        (first, monday, 10_000),
        (second, monday, 500),
        (first, tuesday, 2_000),
        (second, tuesday, 700),
    ]
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert tp.settlement.settlements(mid=second, business_date=tuesday) == [rows[3]]
    assert tp.settlement.settlements(after_id=rows[1].id, limit=1) == [rows[2]]
    assert tp.settlement.settlement(rows[0].id) == rows[0]
    with pytest.raises(NotFound):
        tp.settlement.settlement(rows[-1].id + 1)
    with pytest.raises(InvalidInput):
        tp.settlement.settlements(limit=0)

    payouts = tp.settlement.payouts()
    assert [(p.id, p.mid, p.amount_minor, p.status) for p in payouts] == [
        (rows[0].id, first, 10_000, SettlementStatus.PAID),
        (rows[1].id, second, 500, SettlementStatus.PAID),
        (rows[2].id, first, 2_000, SettlementStatus.PAID),
        (rows[3].id, second, 700, SettlementStatus.HELD),
    ]
    held = payouts[3]
    assert held.payout_date is None and held.bank_account_masked.endswith("4567")
    assert "121900001234567" not in repr(payouts)  # the account shows masked only
    assert tp.settlement.payouts(status=SettlementStatus.HELD) == [held]
    assert tp.settlement.payouts(mid=first, payout_date=payouts[2].payout_date) == [payouts[2]]
    first_paid = tp.settlement.payout_file(monday).splitlines()[1]
    assert first_paid.startswith(payouts[0].reference)


def test_payouts_leave_out_days_that_pay_nothing(tp: Tillpoint, clock: FixedClock) -> None:
    mid = approved(tp, business_application())
    book(tp, mid, 1_000)
    book(tp, mid, 1_000, EntryKind.CAPTURE_UNDONE)  # voided the same day: nothing to pay
    day = settle_day(tp, clock)
    (nothing,) = tp.settlement.settlements(business_date=day)
    assert nothing.status is SettlementStatus.NOTHING
    assert tp.settlement.payouts() == []


def test_the_plan_in_force(tp: Tillpoint, clock: FixedClock) -> None:
    mid = approved(tp, business_application())
    default = tp.fees.current_plan(mid)
    rate = Rate(percent=default.rates[0].rate_percent)
    tp.fees.create_plan("BIZ-NEXT", "Next", dict.fromkeys(PaymentMethod, rate), "ops",
                        data_fee=Money(0))  # fmt: skip
    tomorrow = tp.ctx.today() + timedelta(days=1)
    tp.fees.assign(mid, "BIZ-NEXT", "ops", effective_from=tomorrow, reason="new pricing")
    assert tp.fees.current_plan(mid).code == default.code
    assert tp.fees.current_plan(mid, tomorrow).code == "BIZ-NEXT"
    clock.advance(timedelta(days=1))
    assert tp.fees.current_plan(mid).code == "BIZ-NEXT"
    with pytest.raises(NotFound):
        tp.fees.current_plan("898310054119999")
