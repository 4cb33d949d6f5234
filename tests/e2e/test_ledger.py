"""Every payment event posts one balanced entry in the same unit of work: a terminal's
day against a real host, then the books, to the fen."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from tests.hosting import run_with_host

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_SUPERVISOR_PASSWORD as SUPERVISOR
from tillpoint.iso8583.codec import Message
from tillpoint.terminal.device import Device, DeviceState

DEBIT, CREDIT, VISA = "6212340000000000012", "6250940000000000016", "4761340000000019"
MID = "898310054110001"


def test_a_day_of_payments_in_the_books(demo: Tillpoint, tmp_path: Path) -> None:
    async def scenario(port: int) -> None:
        state = DeviceState.demo(1)
        state.port = port
        d = Device(state, tmp_path / "t.json")
        yuan = Money.parse
        assert (await d.sale(yuan("100.00"), DEBIT, pin="123456")).approved  # debit 0.50%
        tapped = await d.sale(yuan("50.00"), CREDIT, entry="tap")  # contactless 0.38%
        assert (
            await d.void(tapped.rrn or "", CREDIT, entry="tap", supervisor_password=SUPERVISOR)
        ).approved  # undone whole
        visa = await d.sale(yuan("200.00"), VISA, entry="swipe")  # foreign 2.50%
        assert (
            await d.refund(visa.rrn or "", yuan("80.00"), VISA, supervisor_password=SUPERVISOR)
        ).approved  # fee kept
        assert (await d.sale(yuan("25.00"), "280000000000000001", entry="scan")).approved
        hold = await d.preauth(yuan("1000.00"), CREDIT, pin="123456")  # no money moves
        assert (await d.complete(hold.auth_code or "", yuan("1150.00"), CREDIT)).approved
        # A sale whose answer was lost, reversed: its capture is undone.
        lost = await d.sale(yuan("9.99"), DEBIT, pin="123456")
        c = d.client
        reversal = Message("0400", {3: "000000", 4: "000000000999", 11: lost.stan or "",
                                    22: "051", 25: "00", 39: "98", 41: c.tid, 42: c.mid,
                                    49: "156", 60: f"22{c.batch}000"})  # fmt: skip
        assert (await c.exchange(reversal, with_mac=True)).text(39) == "00"
        await d.close()

    run_with_host(demo, scenario)
    assert demo.ledger.check() == []
    balances = {b.code: b.balance.amount_minor for b in demo.ledger.balances()}
    # fees: 0.50 + 5.00 + 0.10 (25.00 x 0.38% = 0.095, half up) + 6.90 (1150.00 x 0.60%)
    assert balances["income:fees"] == -1_250
    assert balances[f"merchant:{MID}:payable"] == -(9_950 + 19_500 - 8_000 + 2_490 + 114_310)
    assert balances["receivable:CUP"] == 10_000 + 115_000
    assert balances["receivable:VIS"] == 20_000 - 8_000
    assert balances["receivable:ALP"] == 2_500
    with demo.ctx.db.engine.connect() as conn:
        entries = conn.execute(
            text("SELECT e.kind, p.kind, p.status, p.fee_minor FROM journal_entries e "
                 "JOIN payments p ON p.id = e.payment_id ORDER BY e.id")
        ).all()  # fmt: skip
    assert [tuple(e) for e in entries] == [
        ("capture", "sale", "approved", 50),
        ("capture", "sale", "voided", 19),
        ("capture_undone", "sale", "voided", 19),
        ("capture", "sale", "partly_refunded", 500),
        ("refund", "refund", "approved", 0),
        ("capture", "sale", "approved", 10),
        ("capture", "completion", "approved", 690),
        ("capture", "sale", "reversed", 5),
        ("capture_undone", "sale", "reversed", 5),
    ]


def test_three_days_settled_with_a_negative_day_carried(demo: Tillpoint, tmp_path: Path) -> None:
    from tillpoint.clearing.days import next_business_day
    from tillpoint.clearing.models import SettlementStatus

    days = []

    async def day_of(port: int, work: str, rrn: str = "") -> str:
        state = DeviceState.load(tmp_path / "t.json") if days else DeviceState.demo(1)
        state.port = port
        d = Device(state, tmp_path / "t.json")
        if work == "sale":
            result = await d.sale(
                Money.parse("100.00" if not days else "200.00"), DEBIT, pin="123456"
            )
        else:
            result = await d.refund(
                rrn, Money.parse("60.00"), DEBIT, supervisor_password=SUPERVISOR
            )
        assert result.approved
        await d.close()
        return result.rrn or ""

    async def scenario(port: int) -> None:
        first = await day_of(port, "sale")  # 100.00, fee 0.50
        days.append(demo.days.cut_off("ops"))
        await day_of(port, "refund", first)  # -60.00: a negative day
        days.append(demo.days.cut_off("ops"))
        await day_of(port, "sale")  # 200.00, fee 1.00
        days.append(demo.days.cut_off("ops"))

    run_with_host(demo, scenario)
    expected = [
        # gross, refunds, fees, net, carried in, payout, carried out
        (10_000, 0, 50, 9_950, 0, 9_950, 0),
        (0, 6_000, 0, -6_000, 0, 0, 6_000),
        (20_000, 0, 100, 19_900, 6_000, 13_900, 0),
    ]
    for day, want in zip(days, expected, strict=True):
        (got,) = demo.settlement.run(day)
        assert (got.mid, got.payout_date) == (MID, next_business_day(day, frozenset()))
        assert (got.gross_minor, got.refunds_minor, got.fees_minor, got.net_minor,
                got.carried_in_minor, got.payout_minor, got.carried_out_minor) == want  # fmt: skip
        assert got.status is (SettlementStatus.PAID if want[5] else SettlementStatus.NOTHING)
    with demo.ctx.db.engine.connect() as conn:
        entries = conn.execute(text("SELECT count(*) FROM journal_entries")).scalar()
    assert [r.payout_minor for d in days for r in demo.settlement.run(d)] == [9_950, 0, 13_900]
    with demo.ctx.db.engine.connect() as conn:  # running again posted nothing
        assert conn.execute(text("SELECT count(*) FROM journal_entries")).scalar() == entries
    assert demo.ledger.check() == []
    balances = {b.code: b.balance.amount_minor for b in demo.ledger.balances()}
    assert balances[f"merchant:{MID}:payable"] == 0  # everything booked is settled
    assert balances[f"merchant:{MID}:receivable"] == 0  # the carried 60.00 was paid off
    assert balances["payouts:in-transit"] == -(9_950 + 13_900)
