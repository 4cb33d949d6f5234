"""Code jumping (跳码) found at reconciliation: the networks' clearing lines name whom
each payment was cleared for (MID, MCC, fee class); where that is not the merchant's
registered one, reconciliation lists the difference with both values and risk raises an
alert in the merchant's case that holds its payouts, until the case is resolved.

The payments are real wallet payments through the in-process simulators, which write the
day's clearing file; a difference is made by editing that file, as a network that cleared
a payment under other values would have written it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.clearing.models import MatchStatus, SettlementStatus
from tillpoint.clearing.payouts import RECONCILIATION
from tillpoint.clearing.reconcile import Item
from tillpoint.core.money import Money
from tillpoint.merchants.models import PaymentMethod
from tillpoint.payments.acquirer import Acquirer, simulated
from tillpoint.payments.online import OnlinePayments
from tillpoint.payments.views import PaymentView
from tillpoint.risk.models import Action, CaseStatus, Resolution, Severity
from tillpoint.risk.service import CLEARING_CHECK

ALIPAY, WECHAT = "284000000000000001", "130000000000000001"
ORG, REF, AMOUNT, CURRENCY, MID, MCC, CLASS = range(7)  # a clearing line's fields


@dataclass
class Env:
    tp: Tillpoint
    acquirer: Acquirer
    online: OnlinePayments
    restaurant: str  # a personal merchant, MCC 5812
    shop: str  # a business merchant, MCC 5411

    def pay(self, mid: str, amount_minor: int, code: str = ALIPAY) -> str:
        """A wallet payment of ``mid``; its reference (the RRN the network clears it by)."""
        return self.paid(mid, amount_minor, code).rrn

    def paid(self, mid: str, amount_minor: int, code: str = ALIPAY) -> PaymentView:
        merchant_id = self.tp.merchants.get(mid).id
        made = asyncio.run(self.online.pay_with_code(merchant_id, Money(amount_minor), code))
        assert made.payment.status == "succeeded", made.payment.status
        return made.payment

    def clearing(self, day: date) -> Path:
        return self.tp.ctx.settings.network_directory() / f"clearing-{day.isoformat()}.csv"

    def lines(self, day: date) -> list[list[str]]:
        return [x.split(",") for x in self.clearing(day).read_text().splitlines()[1:]]

    def change(self, day: date, ref: str, **fields: str) -> None:
        """The network's line of ``ref`` says other values (``mid``, ``mcc``, ``cls``)."""
        header, *lines = self.clearing(day).read_text().splitlines()
        rows = [x.split(",") for x in lines]
        (row,) = [r for r in rows if r[1] == ref]
        for name, value in fields.items():
            row[{"mid": MID, "mcc": MCC, "cls": CLASS}[name]] = value
        self.clearing(day).write_text(
            "".join(",".join(x) + "\n" for x in [header.split(","), *rows])
        )

    def merchant_id(self, mid: str) -> int:
        return self.tp.merchants.get(mid).id


@pytest.fixture
def env(tp: Tillpoint) -> Iterator[Env]:
    restaurant = approved(tp, personal_application())
    shop = approved(tp, business_application())
    acquirer = simulated(tp)
    yield Env(tp, acquirer, OnlinePayments(acquirer), restaurant, shop)
    acquirer.close()


def held_by(tp: Tillpoint, mid: str) -> str | None:
    hold = tp.settlement.current_hold(mid)
    return None if hold is None else hold.held_by


def test_the_networks_clear_each_payment_under_the_registered_merchant_and_a_clean_day_raises_nothing(
    env: Env,
) -> None:
    tp = env.tp
    first = env.pay(env.restaurant, 3_000)
    second = env.paid(env.shop, 12_000, WECHAT)
    refund = asyncio.run(env.online.refund(second.id, Money(2_000)))
    day = tp.days.cut_off("ops")
    lines = {x[1]: x for x in env.lines(day)}
    assert lines[first][MID:] == [env.restaurant, "5812", "alipay"]
    assert lines[second.rrn][MID:] == [env.shop, "5411", "wechat"]
    assert lines[refund.rrn][AMOUNT:] == ["-2000", "CNY", env.shop, "5411", "wechat"]

    found = tp.reconciliation.run(day)
    assert (found.matched, found.problems, found.held) == (3, [], [])
    assert tp.risk.alerts() == [] and tp.risk.cases() == []
    assert held_by(tp, env.restaurant) is None and held_by(tp, env.shop) is None


def test_another_category_is_listed_alerted_and_held_until_a_false_positive_releases_it(
    env: Env,
) -> None:
    tp = env.tp
    jumped = env.pay(env.restaurant, 58_800)
    env.pay(env.restaurant, 1_000)
    env.pay(env.shop, 5_000)
    day = tp.days.cut_off("ops")
    env.change(day, jumped, mcc="5411")  # a restaurant cleared as a supermarket

    found = tp.reconciliation.run(day)
    restaurant_id = env.merchant_id(env.restaurant)
    assert found.problems == [
        Item(jumped, "ALP", restaurant_id, 58_800, 58_800, MatchStatus.MCC_MISMATCH, "5812",
             "5411"),
    ]  # fmt: skip
    assert found.matched == 2  # the amounts agree, but the reference is not matched
    assert found.held == [restaurant_id]
    (listed,) = tp.reconciliation.items(day)
    assert (listed.mid, listed.status, listed.host_value, listed.network_value) == (
        env.restaurant, MatchStatus.MCC_MISMATCH, "5812", "5411",
    )  # fmt: skip

    # The alert, in the merchant's case, with the payment and both values.
    (case,) = tp.risk.cases()
    assert (case.mid, case.status, case.severity) == (env.restaurant, CaseStatus.OPEN,
                                                      Severity.HIGH)  # fmt: skip
    (alert,) = tp.risk.alerts(case_id=case.id)
    assert (alert.rule, alert.severity, alert.action) == (CLEARING_CHECK, Severity.HIGH,
                                                          Action.HOLD)  # fmt: skip
    paid = tp.risk.screening(jumped).payment
    assert alert.payment_id == paid.id
    e = alert.evidence
    assert (e["business_date"], e["rrn"], e["amount_minor"], e["payments"]) == (
        day.isoformat(), jumped, 58_800, 1,
    )  # fmt: skip
    assert e["differences"] == [
        {"rrn": jumped, "field": "mcc", "registered": "5812", "network": "5411",
         "amount_minor": 58_800, "currency": "CNY", "payment_id": paid.id},
    ]  # fmt: skip
    assert e["values"] == {"mcc_registered": "5812", "mcc_network": "5411"}

    # Its payouts are held through the case; the other merchant is paid.
    assert held_by(tp, env.restaurant) == "risk" and held_by(tp, env.shop) is None
    shown = tp.risk.case(case.id)
    assert [(x.kind, x.data.get("action")) for x in shown.events] == [
        ("opened", None), ("alert", None), ("action", "hold"),
    ]  # fmt: skip
    rows = {r.mid: r.status for r in tp.settlement.run(day)}
    assert rows == {env.restaurant: SettlementStatus.HELD, env.shop: SettlementStatus.PAID}

    # A second run tells risk again: nothing new.
    again = tp.reconciliation.run(day)
    assert again.problems == found.problems and again.held == []
    assert len(tp.risk.alerts()) == 1

    # A false positive (the network's mistake, say) releases the payout.
    tp.risk.resolve(case.id, Resolution.FALSE_POSITIVE, "analyst", "network's file corrected")
    assert held_by(tp, env.restaurant) is None
    (released,) = [r for r in tp.settlement.show(day) if r.mid == env.restaurant]
    assert released.status is SettlementStatus.PAID


def test_another_merchant_and_fee_class_are_each_listed_with_the_plan_then(env: Env) -> None:
    tp = env.tp
    jumped = env.pay(env.shop, 100_000)  # Alipay: the shop's plan prices it at 0.38%
    day = tp.days.cut_off("ops")
    env.change(day, jumped, mid=env.restaurant, cls="debit")

    found = tp.reconciliation.run(day)
    shop_id = env.merchant_id(env.shop)
    assert [(p.status, p.host_value, p.network_value) for p in found.problems] == [
        (MatchStatus.MID_MISMATCH, env.shop, env.restaurant),
        (MatchStatus.FEE_CLASS_MISMATCH, PaymentMethod.ALIPAY.value, "debit"),
    ]
    assert {p.merchant_id for p in found.problems} == {shop_id} and found.held == [shop_id]
    assert found.unmatched == 1 and tp.days.summary(day).problems == 1  # one reference
    (alert,) = tp.risk.alerts()
    assert alert.mid == env.shop and alert.evidence["payments"] == 1
    mid, fee_class = alert.evidence["differences"]
    assert (mid["field"], mid["registered"], mid["network"]) == ("mid", env.shop, env.restaurant)
    assert {k: fee_class[k] for k in ("field", "registered", "network", "fee_plan",
                                      "registered_rate_percent", "network_rate_percent",
                                      "fee_minor")} == {
        "field": "fee_class", "registered": "alipay", "network": "debit",
        "fee_plan": "BIZ-STD", "registered_rate_percent": "0.38",
        "network_rate_percent": "0.50", "fee_minor": 380,
    }  # fmt: skip
    assert held_by(tp, env.shop) == "risk" and held_by(tp, env.restaurant) is None


def test_a_merchant_held_by_reconciliation_stays_held_by_it(env: Env) -> None:
    """A difference of amounts holds the merchant for reconciliation; the alert of the
    other difference joins its case all the same, and a false positive there leaves the
    reconciliation's hold for operations to release."""
    tp = env.tp
    jumped = env.pay(env.restaurant, 2_000)
    short = env.pay(env.restaurant, 3_000)
    day = tp.days.cut_off("ops")
    env.change(day, jumped, mcc="8398")
    header, *lines = env.clearing(day).read_text().splitlines()
    lines = [x.replace(f",{short},3000,", f",{short},2999,") for x in lines]
    env.clearing(day).write_text("\n".join([header, *lines]) + "\n")

    found = tp.reconciliation.run(day)
    assert sorted(p.status.value for p in found.problems) == ["amount_mismatch", "mcc_mismatch"]
    assert held_by(tp, env.restaurant) == RECONCILIATION
    (case,) = tp.risk.cases()
    assert [a.rule for a in tp.risk.alerts(case_id=case.id)] == [CLEARING_CHECK]
    assert "action" not in [x.kind for x in tp.risk.case(case.id).events]
    tp.risk.resolve(case.id, Resolution.FALSE_POSITIVE, "analyst")
    assert held_by(tp, env.restaurant) == RECONCILIATION


def test_a_merchant_spared_after_a_false_positive_has_its_differences_only_listed(
    env: Env,
) -> None:
    tp = env.tp
    first = env.pay(env.restaurant, 2_000)
    day = tp.days.cut_off("ops")
    env.change(day, first, mcc="5411")
    tp.reconciliation.run(day)
    (case,) = tp.risk.cases()
    tp.risk.resolve(case.id, Resolution.FALSE_POSITIVE, "analyst", "registered under 5411 there")

    second = env.pay(env.restaurant, 2_500)
    next_day = tp.days.cut_off("ops")
    env.change(next_day, second, mcc="5411")
    found = tp.reconciliation.run(next_day)
    assert [p.status for p in found.problems] == [MatchStatus.MCC_MISMATCH]
    assert found.held == [] and held_by(tp, env.restaurant) is None
    assert len(tp.risk.alerts()) == 1 and tp.risk.cases(status=CaseStatus.OPEN) == []


def test_lines_of_the_first_format_name_nobody_and_are_not_compared(env: Env) -> None:
    tp = env.tp
    ref = env.pay(env.restaurant, 2_000)
    day = tp.days.cut_off("ops")
    env.clearing(day).write_text(f"org,ref,amount_minor,currency\nALP,{ref},2000,CNY\n")
    found = tp.reconciliation.run(day)
    assert (found.matched, found.problems, found.held) == (1, [], [])


def test_a_merchant_no_one_registered_an_empty_value_and_an_unknown_class_differ(
    env: Env,
) -> None:
    """A line that names anything is compared field by field: a MID no merchant has, an
    empty MCC and a class no plan prices are each a difference (only a line naming
    nothing at all is spared)."""
    tp = env.tp
    ref = env.pay(env.restaurant, 2_000)
    other = env.pay(env.shop, 3_000)
    day = tp.days.cut_off("ops")
    env.change(day, ref, mid="999999999999999", mcc="", cls="gold-class-of-a-network")
    env.change(day, other, mid="", mcc="", cls="")  # names nobody: not compared
    found = tp.reconciliation.run(day)
    assert [(p.network_ref, p.status.value, p.host_value, p.network_value)
            for p in found.problems] == [
        (ref, "mid_mismatch", env.restaurant, "999999999999999"),
        (ref, "mcc_mismatch", "5812", ""),
        (ref, "fee_class_mismatch", "alipay", "gold-class-of-a-netw"),  # cut at 20
    ]  # fmt: skip
    assert found.matched == 1 and found.held == [env.merchant_id(env.restaurant)]


def test_a_whole_day_cleared_elsewhere_is_one_alert_that_lists_the_first_fifty(env: Env) -> None:
    tp = env.tp
    refs = [env.pay(env.restaurant, 1_000 + n) for n in range(52)]
    day = tp.days.cut_off("ops")
    text = env.clearing(day).read_text()
    env.clearing(day).write_text(text.replace(f"{env.restaurant},5812,", f"{env.restaurant},5411,"))
    found = tp.reconciliation.run(day)
    assert (found.matched, found.unmatched, len(found.problems)) == (0, 52, 52)
    (alert,) = tp.risk.alerts()
    e = alert.evidence
    assert (e["payments"], len(e["differences"]), e["more"]) == (52, 50, 2)
    assert [d["rrn"] for d in e["differences"]] == sorted(refs)[:50]
