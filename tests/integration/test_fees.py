"""Fee plans: defaults on approval, moving plans from a date, quotes."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.money import Money
from tillpoint.merchants.fees import Rate, parse_rate, plan_in_force
from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.merchants.services import find_merchant

ALL_38 = {m: Rate(Decimal("0.38")) for m in PaymentMethod}


def test_default_plans_by_kind(tp: Tillpoint) -> None:
    plans = {p.code: p for p in tp.fees.list_plans()}
    assert plans["PER-STD"].default_for is MerchantKind.PERSONAL
    assert plans["BIZ-STD"].default_for is MerchantKind.BUSINESS
    debit = next(r for r in plans["BIZ-STD"].rates if r.method is PaymentMethod.DEBIT)
    assert (debit.rate_percent, debit.cap_minor) == (Decimal("0.50"), 2000)
    assert plans["BIZ-STD"].data_fee_minor == 3600
    assert plans["BIZ-STD"].data_fee_free_days == 30
    assert {r.method for r in plans["PER-STD"].rates} == set(PaymentMethod)


def test_approval_puts_the_merchant_on_its_kinds_default(tp: Tillpoint) -> None:
    p = approved(tp, personal_application())
    b = approved(tp, business_application())
    assert [a.plan_code for a in tp.fees.history(p)] == ["PER-STD"]
    assert [a.plan_code for a in tp.fees.history(b)] == ["BIZ-STD"]
    plan, charged = tp.fees.quote(b, PaymentMethod.DEBIT, Money.parse("10000.00"))
    assert (plan.code, charged) == ("BIZ-STD", Money(2000))


def test_moving_plans_from_a_date_keeps_history(tp: Tillpoint, clock: FixedClock) -> None:
    mid = approved(tp, business_application())
    tp.fees.create_plan("PROMO", "Promotion 0.38", ALL_38, "pricing", data_fee=Money(0))
    today = clock.now().date()
    start = date(2026, 12, 1)
    tp.fees.assign(mid, "PROMO", "sales", effective_from=start, reason="campaign")
    with tp.ctx.db.transaction() as s:
        mid_id = find_merchant(s, mid).id
        assert plan_in_force(s, mid_id, today).code == "BIZ-STD"
        assert plan_in_force(s, mid_id, start - timedelta(days=1)).code == "BIZ-STD"
        assert plan_in_force(s, mid_id, start).code == "PROMO"
        with pytest.raises(NotFound):
            plan_in_force(s, mid_id, today - timedelta(days=1))
    assert [a.plan_code for a in tp.fees.history(mid)] == ["BIZ-STD", "PROMO"]
    _, later = tp.fees.quote(mid, PaymentMethod.DEBIT, Money.parse("10000.00"), on=start)
    assert later == Money(3800)
    with pytest.raises(Refused, match="already changes plan"):
        tp.fees.assign(mid, "BIZ-STD", "sales", effective_from=start, reason="undo")


def test_backdated_and_unknown_assignments_refused(tp: Tillpoint, clock: FixedClock) -> None:
    mid = approved(tp, business_application())
    with pytest.raises(InvalidInput, match="today or later"):
        tp.fees.assign(
            mid, "BIZ-STD", "x", effective_from=clock.now().date() - timedelta(days=1), reason="r"
        )
    with pytest.raises(NotFound):
        tp.fees.assign(mid, "NOPE", "x", reason="r")
    pending = tp.merchants.apply(business_application(2), "a")
    with pytest.raises(Refused, match="only approved merchants"):
        tp.fees.assign(str(pending.id), "BIZ-STD", "x", reason="r")


def test_plan_creation_rules(tp: Tillpoint) -> None:
    rates = dict(ALL_38)
    del rates[PaymentMethod.ALIPAY]
    with pytest.raises(InvalidInput, match="missing: alipay"):
        tp.fees.create_plan("X1", "x", rates, "p", data_fee=Money(0))
    with pytest.raises(InvalidInput, match="plan code"):
        tp.fees.create_plan("bad code", "x", ALL_38, "p", data_fee=Money(0))
    with pytest.raises(Refused, match="already exists"):
        tp.fees.create_plan("BIZ-STD", "x", ALL_38, "p", data_fee=Money(0))
    with pytest.raises(InvalidInput, match="between 0% and 10%"):
        parse_rate("12")


def test_new_default_replaces_the_old_one(tp: Tillpoint) -> None:
    tp.fees.create_plan(
        "BIZ-2027",
        "Business 2027",
        ALL_38,
        "pricing",
        data_fee=Money.parse("24.00"),
        default_for=MerchantKind.BUSINESS,
    )
    defaults = {p.code: p.default_for for p in tp.fees.list_plans()}
    assert defaults == {
        "PER-STD": MerchantKind.PERSONAL,
        "BIZ-STD": None,
        "BIZ-2027": MerchantKind.BUSINESS,
    }
    mid = approved(tp, business_application())
    assert tp.fees.history(mid)[0].plan_code == "BIZ-2027"


def test_kind_limits(tp: Tillpoint) -> None:
    limits = {r.kind: r for r in tp.limits.list()}
    personal, business = limits[MerchantKind.PERSONAL], limits[MerchantKind.BUSINESS]
    assert personal.max_terminals == 1
    assert personal.per_txn_limit_minor < business.per_txn_limit_minor
    assert personal.daily_limit_minor < business.daily_limit_minor
    changed = tp.limits.set(
        MerchantKind.BUSINESS, "risk", max_terminals=3, daily=Money.parse("1000000")
    )
    assert (changed.max_terminals, changed.daily_limit_minor) == (3, 100_000_000)
    with pytest.raises(InvalidInput, match="below the per-transaction"):
        tp.limits.set(MerchantKind.PERSONAL, "risk", daily=Money.parse("1.00"))
