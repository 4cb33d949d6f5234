"""What a merchant is paid next (``SettlementService.next_payout``), each settlement's
payout state, and a hold worded for the merchant (``hold_notice``): over real cut-offs
and settlement runs, a weekend, a negative day carried forward and holds."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.clearing.models import PayoutHold, SettlementStatus
from tillpoint.clearing.payouts import (
    RECONCILIATION,
    HoldCause,
    NextPayout,
    PayoutState,
    payout_state,
    reconciliation_reason,
)
from tillpoint.core.clock import BUSINESS_TZ, FixedClock
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind

WED, THU, FRI, SAT, SUN, MON, TUE = (date(2026, 11, 25) + timedelta(days=n) for n in range(7))
NEXT_WED = date(2026, 12, 2)


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BUSINESS_TZ)


def book(tp: Tillpoint, mid: str, amount_minor: int, fee_minor: int = 0) -> None:
    """A sale (or, negative, a refund) on the open business day, in the ledger."""
    lines = (
        ledger.capture_lines("CUP", mid, amount_minor, fee_minor)
        if amount_minor > 0
        else ledger.refund_lines("CUP", mid, -amount_minor)
    )
    kind = EntryKind.CAPTURE if amount_minor > 0 else EntryKind.REFUND
    with tp.ctx.db.transaction() as s:
        ledger.post(s, kind, lines, business_date=tp.days.open_date(), at=tp.ctx.now(),
                    memo="test")  # fmt: skip


def close_and_settle(tp: Tillpoint) -> date:
    """Cut off the open day (and any day the clock ended before it) and settle them."""
    day = tp.days.cut_off("ops")
    for closed in tp.days.unsettled():
        tp.settlement.run(closed)
    return day


def expect(
    got: NextPayout, state: PayoutState, minor: int, on: date | None, days: tuple[date, ...]
) -> None:
    assert (got.state, got.amount_minor, got.currency, got.payout_date, got.business_dates) == (
        state, minor, "CNY", on, days,
    )  # fmt: skip


def test_the_next_payout_from_takings_to_the_bank(tp: Tillpoint, clock: FixedClock) -> None:
    mid = approved(tp, personal_application())
    other = approved(tp, business_application())
    expect(tp.settlement.next_payout(mid), PayoutState.NOTHING, 0, None, ())

    # Wednesday's takings, not settled yet: an estimate, due Thursday.
    book(tp, mid, 10_000, 50)
    book(tp, other, 77_700)  # another merchant's money is never counted
    expect(tp.settlement.next_payout(mid), PayoutState.EXPECTED, 9_950, THU, (WED,))
    assert tp.days.cut_off("ops") == WED
    expect(tp.settlement.next_payout(mid), PayoutState.EXPECTED, 9_950, THU, (WED,))

    # Settled: instructed to the bank for Thursday, and the estimate agreed.
    tp.settlement.run(WED)
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 9_950, THU, (WED,))
    (row,) = tp.settlement.recent(mid)
    assert payout_state(row.status, row.payout_date, WED) is PayoutState.SCHEDULED
    assert payout_state(row.status, row.payout_date, THU) is PayoutState.SCHEDULED  # today
    assert payout_state(row.status, row.payout_date, FRI) is PayoutState.PAID

    # Friday: Thursday's payout is made, nothing more is booked.
    clock.set(at(FRI))
    expect(tp.settlement.next_payout(mid), PayoutState.NOTHING, 0, None, ())

    # Friday, Saturday and Sunday are all paid on Monday: one payout of their sum.
    book(tp, mid, 2_000)
    assert close_and_settle(tp) == FRI
    clock.set(at(SAT))
    book(tp, mid, 3_000)
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 2_000, MON, (FRI,))
    assert close_and_settle(tp) == SAT
    clock.set(at(SUN))
    book(tp, mid, 4_000)
    assert close_and_settle(tp) == SUN
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 9_000, MON, (FRI, SAT, SUN))

    # Monday: a refund and no sales (negative, carried forward); Tuesday's sale first
    # pays that off, and the estimate says what the settlement then pays.
    clock.set(at(MON))
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 9_000, MON, (FRI, SAT, SUN))
    book(tp, mid, -6_000)
    assert tp.days.cut_off("ops") == MON
    clock.set(at(TUE))
    expect(tp.settlement.next_payout(mid), PayoutState.NOTHING, 0, None, ())
    book(tp, mid, 10_000)
    expect(tp.settlement.next_payout(mid), PayoutState.EXPECTED, 4_000, NEXT_WED, (TUE,))
    tp.settlement.run(MON)
    expect(tp.settlement.next_payout(mid), PayoutState.EXPECTED, 4_000, NEXT_WED, (TUE,))
    assert close_and_settle(tp) == TUE
    (tuesday, monday) = tp.settlement.recent(mid, limit=2)
    assert (monday.status, monday.carried_out_minor) == (SettlementStatus.NOTHING, 6_000)
    assert payout_state(monday.status, monday.payout_date, TUE) is PayoutState.NOTHING
    assert (tuesday.payout_minor, tuesday.payout_date) == (4_000, NEXT_WED)
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 4_000, NEXT_WED, (TUE,))


def test_a_hold_keeps_the_next_payout_back_and_says_why(tp: Tillpoint) -> None:
    mid = approved(tp, personal_application())
    assert tp.settlement.hold_notice(mid) is None
    tp.settlement.hold(mid, "Documents of a disputed sale are needed", "console:risk@acq.cn")
    notice = tp.settlement.hold_notice(mid)
    assert notice is not None
    assert (notice.cause, notice.reason, notice.checked_day) == (
        HoldCause.OPERATIONS, "Documents of a disputed sale are needed", None,
    )  # fmt: skip
    assert (notice.held_minor, notice.settlements_held) == (0, 0)
    assert notice.since == tp.ctx.now()

    expect(tp.settlement.next_payout(mid), PayoutState.HELD, 0, None, ())
    book(tp, mid, 10_000, 50)  # its settlement will be held: so is the estimate
    expect(tp.settlement.next_payout(mid), PayoutState.HELD, 9_950, None, (WED,))
    close_and_settle(tp)
    expect(tp.settlement.next_payout(mid), PayoutState.HELD, 9_950, None, (WED,))
    book(tp, mid, 2_000)  # Thursday's, not settled yet: held with Wednesday's
    expect(tp.settlement.next_payout(mid), PayoutState.HELD, 11_950, None, (WED, THU))
    (row,) = tp.settlement.recent(mid)
    assert payout_state(row.status, row.payout_date, WED) is PayoutState.HELD
    notice = tp.settlement.hold_notice(mid)
    assert notice is not None and (notice.held_minor, notice.settlements_held) == (9_950, 1)

    tp.settlement.release(mid, "console:risk@acq.cn")
    assert tp.settlement.hold_notice(mid) is None
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 9_950, FRI, (WED,))
    assert tp.days.cut_off("ops") == THU
    tp.settlement.run(THU)  # no longer held: Thursday's is paid on Friday too
    expect(tp.settlement.next_payout(mid), PayoutState.SCHEDULED, 11_950, FRI, (WED, THU))


def test_a_reconciliation_hold_names_the_day_being_checked(tp: Tillpoint) -> None:
    mid = approved(tp, personal_application())
    merchant_id = tp.merchants.get(mid).id
    with tp.ctx.db.transaction() as s:  # as a reconciliation that found a difference
        s.add(PayoutHold(merchant_id=merchant_id, reason=reconciliation_reason(WED),
                         held_by=RECONCILIATION, held_at=tp.ctx.now()))  # fmt: skip
    notice = tp.settlement.hold_notice(mid)
    assert notice is not None
    assert (notice.cause, notice.checked_day, notice.reason) == (
        HoldCause.RECONCILIATION, WED, None,
    )  # fmt: skip
