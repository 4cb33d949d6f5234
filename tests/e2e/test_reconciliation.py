"""The networks' clearing files against the books: a day that matches, then one where
the network disagrees, which holds the merchant's payout."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from tests.hosting import run_with_host

from tillpoint.app import Tillpoint
from tillpoint.clearing.dayend import reconcile_and_settle
from tillpoint.clearing.models import SettlementStatus
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_SUPERVISOR_PASSWORD as SUPERVISOR
from tillpoint.demo import demo_mid
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.payments.models import Payment
from tillpoint.terminal.device import Device, DeviceState

DEBIT, VISA = "6212340000000000012", "4761340000000019"
CREDIT = "6250940000000000016"


def test_reconciliation(demo: Tillpoint, tmp_path: Path) -> None:
    async def day(port: int) -> None:
        state = (
            DeviceState.load(tmp_path / "t.json")
            if (tmp_path / "t.json").exists()
            else DeviceState.demo(1)
        )
        state.port = port
        d = Device(state, tmp_path / "t.json")
        sold = await d.sale(Money.parse("100.00"), DEBIT, pin="123456")
        voided = await d.sale(Money.parse("20.00"), VISA)
        await d.void(voided.rrn or "", VISA, supervisor_password=SUPERVISOR)
        await d.refund(sold.rrn or "", Money.parse("30.00"), DEBIT, supervisor_password=SUPERVISOR)
        await d.sale(Money.parse("8.00"), "130000000000000001", entry="scan")  # WeChat Pay
        await d.close()

    run_with_host(demo, day)
    first = demo.days.cut_off("ops")
    clean = demo.reconciliation.run(first)
    assert (clean.matched, clean.problems, clean.held) == (4, [], [])
    (paid,) = demo.settlement.run(first)
    assert paid.status is SettlementStatus.PAID
    assert paid.transactions == 5  # movements: three sales, a void and a refund

    run_with_host(demo, day)
    second = demo.days.cut_off("ops")
    # The network's file for the second day: one line it never sent us, one amount off.
    clearing = demo.ctx.settings.network_directory() / f"clearing-{second}.csv"
    header, *lines = [x.split(",") for x in clearing.read_text().splitlines()]
    lines[0][2] = str(int(lines[0][2]) + 1)
    lines.append(["CUP", "999999999999", "500", "CNY", "", "", ""])
    clearing.write_text("".join(",".join(x) + "\n" for x in [header, *lines]))
    # As the day's-end worker does it: the settlement's sums alongside reconciliation,
    # and the hold that reconciliation puts on the merchant respected all the same.
    found, (held,) = reconcile_and_settle(demo.reconciliation, demo.settlement, second)
    assert sorted(p.status.value for p in found.problems) == ["amount_mismatch", "missing_at_host"]
    assert len(found.held) == 1 and found.matched == 3
    again = demo.reconciliation.run(second)  # a second run reports what the first found
    assert [(p.network_ref, p.status) for p in again.problems] == [
        (p.network_ref, p.status) for p in found.problems
    ]
    assert held.status is SettlementStatus.HELD and held.payout_date is None
    assert demo.settlement.run(second) == [held]  # settled once
    (released,) = demo.settlement.release(held.mid, "ops")
    assert released.status is SettlementStatus.PAID
    assert demo.ledger.check() == []


def test_the_host_has_each_payment_cleared_under_its_terminals_merchant(
    demo: Tillpoint, tmp_path: Path
) -> None:
    """Through the real host: every line of the networks' clearing file names the demo
    merchant's MID and MCC (from the terminal's binding) and the class the payment was
    charged in; a completion in its own class (a hold tapped, completed by inserting the
    card), a refund in its sale's. Reconciliation finds nothing."""

    async def day(port: int) -> None:
        state = DeviceState.demo(1)
        state.port = port
        d = Device(state, tmp_path / "t.json")
        sold = await d.sale(Money.parse("100.00"), DEBIT, pin="123456")
        await d.sale(Money.parse("50.00"), CREDIT, entry="tap")
        held = await d.preauth(Money.parse("300.00"), DEBIT, entry="tap", pin="123456")
        await d.complete(held.auth_code or "", Money.parse("280.00"), DEBIT, pin="123456")
        await d.refund(sold.rrn or "", Money.parse("30.00"), DEBIT, supervisor_password=SUPERVISOR)
        await d.sale(Money.parse("8.00"), "280000000000000001", entry="scan")  # Alipay
        await d.close()

    run_with_host(demo, day)
    closed = demo.days.cut_off("ops")
    merchant = demo.merchants.get(demo_mid(1))
    with demo.ctx.db.read() as s:
        charged = dict(s.execute(select(Payment.rrn, Payment.method)).all())
    journal = ClearingJournal(demo.ctx.settings.network_directory(), demo.days.open_date)
    lines = [(ref, a) for _, ref, _, a in journal.rows(closed)]
    assert len(lines) == 5  # two sales, the completion, the refund, the wallet payment
    assert {(a.mid, a.mcc) for _, a in lines if a} == {(merchant.mid, merchant.mcc)}
    assert [a.fee_class for _, a in lines if a] == [charged[ref].value for ref, _ in lines]
    assert {a.fee_class for _, a in lines if a} == {"debit", "contactless", "alipay"}
    found = demo.reconciliation.run(closed)
    assert (found.matched, found.problems, found.held) == (5, [], [])


def test_a_malformed_clearing_file_is_refused_and_changes_nothing(demo: Tillpoint) -> None:
    import pytest

    from tillpoint.core.errors import InvalidInput

    day = demo.days.cut_off("ops")
    clearing = demo.ctx.settings.network_directory() / f"clearing-{day}.csv"
    clearing.parent.mkdir(parents=True, exist_ok=True)
    clearing.write_text("org,ref,amount_minor,currency\nCUP,000000000001,12.34,CNY\n")
    with pytest.raises(InvalidInput) as refused:
        demo.reconciliation.run(day)
    assert "line 2" in refused.value.localized()
    clearing.write_text("org,ref,amount_minor,currency\n")
    assert demo.reconciliation.run(day).matched == 0  # the failed run left nothing behind
