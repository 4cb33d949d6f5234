"""The day's end by itself: the cut-off closes the day, settlement follows after a grace
period for payments still in flight; a manual cut-off moves payments to the next day."""

from datetime import date, timedelta

import pytest
from tests.conftest import approved, business_application

from tillpoint.app import Tillpoint
from tillpoint.clearing.worker import DayWorker
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import Refused
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind
from tillpoint.payments.models import IntentState, NetworkIntent

WEDNESDAY = date(2026, 11, 25)


def book(tp: Tillpoint, mid: str, amount_minor: int) -> None:
    day = tp.days.open_date()
    with tp.ctx.db.transaction() as s:
        ledger.post(s, EntryKind.CAPTURE, ledger.capture_lines("CUP", mid, amount_minor, 0),
                    business_date=day, at=tp.ctx.now(), memo="test")  # fmt: skip


def test_the_cut_off_closes_the_day_and_the_worker_settles_it(
    tp: Tillpoint, clock: FixedClock
) -> None:
    mid = approved(tp, business_application())
    assert tp.days.open_date() == WEDNESDAY  # 10:00 in Shanghai
    book(tp, mid, 10_000)
    worker = DayWorker(tp, grace_s=60)
    assert worker.tick(now=0) == []  # nothing due before 23:00
    clock.advance(timedelta(hours=13, minutes=30))  # 23:30: the next business day
    assert tp.days.open_date() == WEDNESDAY + timedelta(days=1)
    assert worker.tick(now=1) == [] and tp.days.is_closed(WEDNESDAY)  # closed, not settled
    assert worker.tick(now=30) == []  # payments may still be landing
    assert worker.tick(now=62) == [WEDNESDAY]
    (done,) = tp.settlement.show(WEDNESDAY)
    assert (done.payout_minor, done.payout_date) == (10_000, date(2026, 11, 26))
    assert worker.tick(now=200) == []


def test_a_manual_cut_off_moves_payments_to_the_next_day(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    assert tp.days.cut_off("ops") == WEDNESDAY
    assert tp.days.open_date() == WEDNESDAY + timedelta(days=1)  # though it is 10:00
    book(tp, mid, 500)
    assert tp.days.cut_off("ops") == WEDNESDAY + timedelta(days=1)
    assert tp.settlement.run(WEDNESDAY) == []  # nothing was booked on it
    (thursday,) = tp.settlement.run(WEDNESDAY + timedelta(days=1))
    assert thursday.payout_minor == 500 and thursday.payout_date == date(2026, 11, 27)


def test_a_manual_cut_off_never_skips_a_day_the_clock_ended(
    tp: Tillpoint, clock: FixedClock
) -> None:
    """At 23:00:10 the clock has ended Wednesday but the worker has not closed it yet (or
    no worker runs): a cut-off by hand then closes Wednesday as the worker would, and the
    open day (Thursday) as asked; Wednesday is settled and its merchant paid, never
    skipped."""
    mid = approved(tp, business_application())
    book(tp, mid, 10_000)
    clock.advance(timedelta(hours=13, seconds=10))
    thursday = WEDNESDAY + timedelta(days=1)
    assert tp.days.cut_off("ops") == thursday
    assert tp.days.unsettled() == [WEDNESDAY, thursday]
    assert [(d.business_date, d.closed_by) for d in tp.days.history(limit=3)[1:]] == [
        (thursday, "ops"), (WEDNESDAY, "cut-off")]  # fmt: skip
    (paid,) = tp.settlement.run(WEDNESDAY)
    assert paid.payout_minor == 10_000
    assert tp.settlement.run(thursday) == []


def test_a_day_is_settled_once_the_calls_made_before_its_close_have_landed(
    tp: Tillpoint, clock: FixedClock
) -> None:
    """A call to a network made before the cut-off may still be booked on the day it
    closed: neither a settlement by hand nor the worker settles that day while its
    answer is not on the books (nor reversed)."""
    mid = approved(tp, business_application())
    book(tp, mid, 10_000)
    with tp.ctx.db.transaction() as s:
        call = NetworkIntent(rrn="000000000001", network="card", action="sale",
                             state=IntentState.OPEN, amount_minor=20_000, currency="CNY",
                             created_at=tp.ctx.now())  # fmt: skip
        s.add(call)
        s.flush()
        call_id = call.id
    day = tp.days.cut_off("ops")
    with tp.ctx.db.transaction() as s:  # a call after the close is the next day's: no wait
        s.add(NetworkIntent(rrn="000000000002", network="card", action="sale",
                            state=IntentState.OPEN, amount_minor=500, currency="CNY",
                            created_at=tp.ctx.now() + timedelta(seconds=1)))  # fmt: skip
    assert tp.days.in_flight(day) == 1
    for early in (tp.settlement.run, tp.reconciliation.run):
        with pytest.raises(Refused) as refused:
            early(day)
        assert refused.value.code == "settle.in_flight"
    assert tp.settlement.show(day) == []
    worker = DayWorker(tp, grace_s=60)
    assert worker.tick(now=0) == [] and worker.tick(now=100) == []  # it waits
    with tp.ctx.db.transaction() as s:  # the answer lands (the payment's write claims it)
        s.delete(s.get_one(NetworkIntent, call_id))
    assert worker.tick(now=101) == [day]


def test_days_are_settled_in_date_order(tp: Tillpoint) -> None:
    """A day's carried balance comes from the days before it: settling Thursday before
    Wednesday would start Thursday from the wrong balance."""
    mid = approved(tp, business_application())
    book(tp, mid, 700)
    assert tp.days.cut_off("ops") == WEDNESDAY
    book(tp, mid, 300)
    thursday = tp.days.cut_off("ops")
    with pytest.raises(Refused) as refused:
        tp.settlement.run(thursday)
    assert refused.value.code == "settle.out_of_order"
    assert tp.settlement.show(thursday) == []  # nothing was settled
    assert tp.days.unsettled() == [WEDNESDAY, thursday]
    (wednesday,) = tp.settlement.run(WEDNESDAY)
    (done,) = tp.settlement.run(thursday)
    assert (wednesday.payout_minor, done.payout_minor) == (700, 300)
    assert tp.days.unsettled() == []
    assert tp.settlement.run(WEDNESDAY) == [wednesday]  # running a day again changes nothing


def test_a_new_worker_settles_what_an_earlier_process_closed(
    tp: Tillpoint, clock: FixedClock
) -> None:
    mid = approved(tp, business_application())
    book(tp, mid, 10_000)
    clock.advance(timedelta(hours=13, minutes=30))  # 23:30: Wednesday is over
    DayWorker(tp, grace_s=60).tick(now=0)  # closes it; the process stops before settling
    assert tp.days.unsettled() == [WEDNESDAY]
    restarted = DayWorker(tp, grace_s=60)
    assert restarted.tick(now=1000) == []  # in-flight payments get their grace again
    assert restarted.tick(now=1061) == [WEDNESDAY]
    assert tp.days.unsettled() == []
