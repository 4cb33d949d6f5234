"""The cashier link's checkouts at the service layer: made once per till reference,
offered to their terminal's poll oldest first, claimed by one sale only (the database
decides), settled by the sale's own write (paid, or pending again until the third
failure), canceled or expired with an event each, put back by a reversal of the sale
that paid them, and never paid by a sale whose claim lapsed."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, demo_tid, ensure_demo
from tillpoint.payments.acquirer import Acquirer, Card, Outcome, RequestKey, simulated
from tillpoint.payments.checkouts import (
    CHECKOUT_EVENT_TYPES,
    MAX_ATTEMPTS,
    Claim,
    claim,
    claim_lapse,
)
from tillpoint.payments.models import CheckoutStatus, IntentState, NetworkIntent, Payment
from tillpoint.payments.models import PaymentStatus as P
from tillpoint.terminals.signon import Admitted

S = CheckoutStatus
R = TypeVar("R")
DEBIT = "6212340000000000012"
POOR = "6212340000000000020"  # a balance of 10.00: larger sales are declined (51)
TID, OTHER_TID = demo_tid(1), demo_tid(2)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Demo mode: two demo merchants with a terminal each."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        demo=True,
        locale="en",
    )


@dataclass
class Till:
    tp: Tillpoint
    clock: FixedClock
    acquirer: Acquirer
    loop: asyncio.AbstractEventLoop
    stans: Iterator[int]

    def run(self, coro: Awaitable[R]) -> R:
        return self.loop.run_until_complete(coro)

    def terminal(self, n: int = 1) -> Admitted:
        return self.tp.signon.admit(demo_tid(n), demo_mid(n))

    def key(self, t: Admitted, mti: str = "0200", stan: str | None = None) -> RequestKey:
        return RequestKey(mti, stan or f"{next(self.stans):06d}", t.batch_no, uuid.uuid4().hex)

    def claim(self, t: Admitted, key: RequestKey, ref: str, amount: Money) -> Claim | str:
        now, lapse = self.tp.ctx.now(), claim_lapse(self.tp.ctx)
        return self.run(
            self.acquirer.committer.submit(
                lambda s: claim(s, t.terminal_id, key.batch_no, key.stan, ref, amount, now, lapse)
            )
        )

    def sale(self, ref: str, amount: Money, pan: str = DEBIT, n: int = 1) -> Outcome:
        """A sale naming a checkout, as the host runs it: the claim, then the sale."""
        t = self.terminal(n)
        key = self.key(t)
        claimed = self.claim(t, key, ref, amount)
        if isinstance(claimed, str):
            return Outcome(claimed)
        return self.run(self.acquirer.sale(t, key, amount, Card(pan, "3012", "05"),
                                           checkout=claimed))  # fmt: skip


@pytest.fixture
def till(tp: Tillpoint, clock: FixedClock) -> Iterator[Till]:
    ensure_demo(tp, 2)
    for n in (1, 2):
        tp.signon.sign_on(demo_tid(n), demo_mid(n), "001")
    loop = asyncio.new_event_loop()
    acquirer = loop.run_until_complete(_simulated(tp))
    yield Till(tp, clock, acquirer, loop, iter(range(1, 999_999)))
    acquirer.close()
    loop.close()


async def _simulated(tp: Tillpoint) -> Acquirer:
    return simulated(tp)


def status(tp: Tillpoint, checkout_id: int) -> S:
    return tp.checkouts.get(TID, checkout_id).status


def event_types(tp: Tillpoint) -> list[tuple[str, S, str | None]]:
    return [(e.type, e.status, e.response_code) for e in reversed(tp.checkouts.list_events())]


# --- the till's side ------------------------------------------------------------------------


def test_a_checkout_is_made_once_per_reference_of_the_till(till: Till) -> None:
    tp = till.tp
    made = tp.checkouts.create(TID, Money(1234), "  T1-0001 ")
    assert (made.status, made.amount_minor, made.currency, made.reference) == (
        S.PENDING, 1234, "CNY", "T1-0001",
    )  # fmt: skip
    assert (made.tid, made.mid, made.shop_number, made.attempts) == (TID, demo_mid(1), 1, 0)
    assert made.expires_at - made.created_at == timedelta(minutes=10)
    assert made.checkout_ref.isascii() and 0 < len(made.checkout_ref) <= 32
    # The same reference again, for the same terminal and amount: the same checkout.
    assert tp.checkouts.create(TID, Money(1234), "T1-0001").id == made.id
    with pytest.raises(Refused, match="names another checkout") as refused:
        tp.checkouts.create(TID, Money(1235), "T1-0001")
    assert refused.value.code == "checkout.reference_used"
    # Another merchant may use the same reference for its own.
    other = tp.checkouts.create(OTHER_TID, Money(1234), "T1-0001")
    assert other.id != made.id and other.checkout_ref != made.checkout_ref
    assert [c.id for c in tp.checkouts.search(TID)] == [made.id]


def test_a_checkout_is_checked_before_anything_is_written(till: Till) -> None:
    tp = till.tp
    merchant_2 = tp.merchants.get(demo_mid(2)).id
    with pytest.raises(NotFound, match="No terminal 10000001"):  # another merchant's
        tp.checkouts.create(TID, Money(100), "x", merchant_id=merchant_2)
    with pytest.raises(NotFound, match="No terminal 19999999"):
        tp.checkouts.create("19999999", Money(100), "x")
    for wrong, code in (
        ({"expires_in": timedelta(seconds=59)}, "checkout.expires_in"),
        ({"expires_in": timedelta(hours=2, seconds=1)}, "checkout.expires_in"),
        ({"shop_number": 2}, "payment.shop_terminal"),
    ):
        with pytest.raises(InvalidInput) as bad:
            tp.checkouts.create(TID, Money(100), "x", **wrong)  # type: ignore[arg-type]
        assert bad.value.code == code
    with pytest.raises(InvalidInput, match="taken in CNY"):
        tp.checkouts.create(TID, Money(100, "USD"), "x")
    with pytest.raises(InvalidInput, match="1 to 64 printable"):
        tp.checkouts.create(TID, Money(100), " ")
    with pytest.raises(Refused, match=r"limit per payment \(CN¥500,000.00\)"):
        tp.checkouts.create(TID, Money(50_000_001), "x")  # the business kind's
    tp.terminals.freeze(TID, "ops", "stolen")
    with pytest.raises(Refused, match="Terminal 10000001 is frozen"):
        tp.checkouts.create(TID, Money(100), "x")
    assert tp.checkouts.search(TID) == []


def test_only_a_pending_checkout_can_be_canceled_and_the_till_is_told(till: Till) -> None:
    tp = till.tp
    made = tp.checkouts.create(TID, Money(500), "c-1")
    canceled = tp.checkouts.cancel(TID, made.id)
    assert canceled.status is S.CANCELED
    with pytest.raises(Refused, match="is canceled: only a pending"):
        tp.checkouts.cancel(TID, made.id)
    with pytest.raises(NotFound, match="No checkout"):  # named under another terminal
        tp.checkouts.cancel(OTHER_TID, made.id)
    assert event_types(tp) == [("checkout.canceled", S.CANCELED, None)]
    assert till.sale(made.checkout_ref, Money(500)).response_code == "25"


def test_the_poll_offers_the_oldest_checkout_that_waits(till: Till) -> None:
    tp, t = till.tp, till.terminal()
    assert tp.checkouts.waiting(t.terminal_id) is None
    first = tp.checkouts.create(TID, Money(100), "p-1", expires_in=timedelta(minutes=1))
    second = tp.checkouts.create(TID, Money(200), "p-2")
    tp.checkouts.create(OTHER_TID, Money(300), "p-3")  # another terminal's
    offer = tp.checkouts.waiting(t.terminal_id)
    assert offer is not None
    assert (offer.checkout_id, offer.checkout_ref, offer.amount_minor, offer.currency) == (
        first.id, first.checkout_ref, 100, "CNY",
    )  # fmt: skip
    # Past its deadline the first is no longer offered, even before the sweep runs.
    till.clock.advance(timedelta(minutes=1))
    offer = tp.checkouts.waiting(t.terminal_id)
    assert offer is not None and offer.checkout_id == second.id
    assert status(tp, first.id) is S.EXPIRED  # as the till sees it
    # A checkout under way is not offered; it is again once its claim lapses.
    claimed = till.claim(t, till.key(t), second.checkout_ref, Money(200))
    assert isinstance(claimed, Claim)
    assert tp.checkouts.waiting(t.terminal_id) is None
    till.clock.advance(claim_lapse(tp.ctx) + timedelta(seconds=1))
    offer = tp.checkouts.waiting(t.terminal_id)
    assert offer is not None and offer.checkout_id == second.id


def test_the_sweep_expires_what_waited_too_long_each_with_its_event(till: Till) -> None:
    tp, t = till.tp, till.terminal()
    waiting = tp.checkouts.create(TID, Money(100), "e-1", expires_in=timedelta(minutes=1))
    under_way = tp.checkouts.create(TID, Money(200), "e-2", expires_in=timedelta(minutes=1))
    later = tp.checkouts.create(TID, Money(300), "e-3")
    till.clock.advance(timedelta(seconds=30))
    assert isinstance(till.claim(t, till.key(t), under_way.checkout_ref, Money(200)), Claim)
    assert tp.checkouts.expire_due() == 0
    till.clock.advance(timedelta(seconds=30))
    assert tp.checkouts.expire_due() == 1  # the one under way waits for its sale
    assert status(tp, waiting.id) is S.EXPIRED and status(tp, later.id) is S.PENDING
    assert status(tp, under_way.id) is S.PROCESSING
    till.clock.advance(claim_lapse(tp.ctx))  # its sale never came back: it lapses too
    assert tp.checkouts.expire_due() == 1
    assert tp.checkouts.expire_due() == 0
    assert status(tp, under_way.id) is S.EXPIRED
    assert event_types(tp) == [("checkout.expired", S.EXPIRED, None)] * 2
    with pytest.raises(Refused, match="is expired"):
        tp.checkouts.cancel(TID, waiting.id)
    assert till.sale(waiting.checkout_ref, Money(100)).response_code == "25"


# --- the sale that pays it ------------------------------------------------------------------


def test_a_checkout_is_paid_by_one_sale_and_only_once(till: Till) -> None:
    tp = till.tp
    made = tp.checkouts.create(TID, Money(1234), "s-1")
    assert till.sale(made.checkout_ref, Money(1235)).response_code == "64"  # not its amount
    assert till.sale(made.checkout_ref, Money(1234), n=2).response_code == "25"  # not theirs
    assert till.sale("CKNOSUCHCHECKOUT", Money(1234)).response_code == "25"
    paid = till.sale(made.checkout_ref, Money(1234))
    assert paid.response_code == "00"
    view = tp.checkouts.get(TID, made.id)
    assert (view.status, view.attempts, view.last_response_code) == (S.PAID, 0, "00")
    with tp.ctx.db.read() as s:
        payment = s.get_one(Payment, view.payment_id)
        assert (payment.rrn, payment.status, payment.amount_minor) == (paid.rrn, P.APPROVED, 1234)
    assert till.sale(made.checkout_ref, Money(1234)).response_code == "94"  # paid at most once
    with pytest.raises(Refused, match="is paid"):
        tp.checkouts.cancel(TID, made.id)
    (event,) = tp.checkouts.list_events()
    assert (event.type, event.status, event.payment_id, event.data.status) == (
        "checkout.paid", S.PAID, view.payment_id, S.PAID,
    )  # fmt: skip
    assert tp.checkouts.waiting(till.terminal().terminal_id) is None


def test_of_two_claims_at_the_same_moment_one_wins(till: Till) -> None:
    """Two sales naming one checkout, each in a unit of work of its own on a thread of
    its own (two host processes): the database lets one claim it; the other gets 94."""
    tp, t = till.tp, till.terminal()
    made = tp.checkouts.create(TID, Money(700), "r-1")
    start = threading.Barrier(2)
    results: list[Claim | str] = []

    def attempt(stan: str) -> None:
        start.wait()
        with tp.ctx.db.transaction(invalidate=False) as s:
            results.append(claim(s, t.terminal_id, t.batch_no, stan, made.checkout_ref,
                                 Money(700), tp.ctx.now(), claim_lapse(tp.ctx)))  # fmt: skip

    threads = [threading.Thread(target=attempt, args=(stan,)) for stan in ("000501", "000502")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["Claim", "str"]
    assert [r for r in results if isinstance(r, str)] == ["94"]
    assert status(tp, made.id) is S.PROCESSING


def test_a_failed_sale_leaves_the_checkout_to_try_again_until_the_last(till: Till) -> None:
    tp = till.tp
    made = tp.checkouts.create(TID, Money(2_000), "f-1")
    declined = till.sale(made.checkout_ref, Money(2_000), POOR)
    assert declined.response_code == "51"
    view = tp.checkouts.get(TID, made.id)
    assert (view.status, view.attempts, view.last_response_code, view.payment_id) == (
        S.PENDING, 1, "51", None,
    )  # fmt: skip
    offer = tp.checkouts.waiting(till.terminal().terminal_id)
    assert offer is not None and offer.checkout_id == made.id  # offered again
    for _ in range(MAX_ATTEMPTS - 1):
        assert till.sale(made.checkout_ref, Money(2_000), POOR).response_code == "51"
    view = tp.checkouts.get(TID, made.id)
    assert (view.status, view.attempts) == (S.FAILED, MAX_ATTEMPTS)
    assert till.sale(made.checkout_ref, Money(2_000)).response_code == "25"  # no more tries
    failed = [e for e in tp.checkouts.list_events() if e.type == "checkout.failed"]
    assert [(e.status, e.response_code) for e in reversed(failed)] == [
        (S.PENDING, "51"), (S.PENDING, "51"), (S.FAILED, "51"),
    ]  # fmt: skip
    assert all(e.payment_id is not None for e in failed)  # each names its declined sale


def test_a_retry_after_a_declined_card_pays_it(till: Till) -> None:
    tp = till.tp
    made = tp.checkouts.create(TID, Money(2_000), "f-2")
    assert till.sale(made.checkout_ref, Money(2_000), POOR).response_code == "51"
    assert till.sale(made.checkout_ref, Money(2_000)).response_code == "00"
    view = tp.checkouts.get(TID, made.id)
    assert (view.status, view.attempts, view.last_response_code) == (S.PAID, 1, "00")
    assert [t for t, _s, _c in event_types(tp)] == ["checkout.failed", "checkout.paid"]


def test_a_sale_whose_claim_lapsed_is_not_charged(till: Till) -> None:
    """The first sale stalls past its claim's lapse; a second sale claims and pays the
    checkout; the first one's approval then reaches our books as not charged (98) and
    is reversed at the network: the checkout is paid once, and the card charged once."""
    tp, t = till.tp, till.terminal()
    made = tp.checkouts.create(TID, Money(900), "l-1")
    slow_key = till.key(t)
    slow = till.claim(t, slow_key, made.checkout_ref, Money(900))
    assert isinstance(slow, Claim)
    till.clock.advance(claim_lapse(tp.ctx) + timedelta(seconds=1))
    paid = till.sale(made.checkout_ref, Money(900))
    assert paid.response_code == "00"
    late = till.run(till.acquirer.sale(t, slow_key, Money(900), Card(DEBIT, "3012", "05"),
                                       checkout=slow))  # fmt: skip
    assert late.response_code == "98"
    till.run(asyncio.gather(*till.acquirer._background))
    view = tp.checkouts.get(TID, made.id)
    with tp.ctx.db.read() as s:
        assert s.scalar(select(Payment.rrn).where(Payment.id == view.payment_id)) == paid.rrn
        late_payment = s.scalars(select(Payment).where(Payment.rrn == late.rrn)).one()
        assert late_payment.status is P.TIMED_OUT
        intent = s.scalars(select(NetworkIntent).where(NetworkIntent.rrn == late.rrn)).one()
        assert intent.state is IntentState.REVERSED  # given back at the network
    assert (view.status, view.attempts) == (S.PAID, 0)
    assert [t for t, _s, _c in event_types(tp)] == ["checkout.paid"]


def test_a_reversal_of_the_paying_sale_puts_the_checkout_back(till: Till) -> None:
    tp, t = till.tp, till.terminal()
    made = tp.checkouts.create(TID, Money(1_500), "v-1")
    key = till.key(t)
    claimed = till.claim(t, key, made.checkout_ref, Money(1_500))
    assert isinstance(claimed, Claim)
    out = till.run(till.acquirer.sale(t, key, Money(1_500), Card(DEBIT, "3012", "05"),
                                      checkout=claimed))  # fmt: skip
    assert out.response_code == "00" and status(tp, made.id) is S.PAID
    # The terminal never saw the answer: it reverses the sale (same STAN, 0400).
    reversal = till.key(t, "0400", key.stan)
    assert till.run(till.acquirer.reverse(t, reversal, "0200")).response_code == "00"
    view = tp.checkouts.get(TID, made.id)
    assert (view.status, view.attempts, view.last_response_code, view.payment_id) == (
        S.PENDING, 1, "98", None,
    )  # fmt: skip
    assert event_types(tp)[-1] == ("checkout.failed", S.PENDING, "98")
    assert till.sale(made.checkout_ref, Money(1_500)).response_code == "00"  # paid again


def test_checkout_events_are_listed_newest_first_and_by_type(till: Till) -> None:
    tp = till.tp
    a = tp.checkouts.create(TID, Money(100), "ev-1")
    b = tp.checkouts.create(TID, Money(200), "ev-2")
    tp.checkouts.cancel(TID, a.id)
    assert till.sale(b.checkout_ref, Money(200)).response_code == "00"
    every = tp.checkouts.list_events()
    assert [e.type for e in every] == ["checkout.paid", "checkout.canceled"]
    assert [e.id for e in tp.checkouts.list_events(type="checkout.canceled")] == [every[1].id]
    assert tp.checkouts.list_events(before_id=every[0].id, limit=1) == [every[1]]
    assert tp.checkouts.get_event(every[0].id) == every[0]
    merchant_2 = tp.merchants.get(demo_mid(2)).id
    assert tp.checkouts.list_events(merchant_id=merchant_2) == []
    with pytest.raises(NotFound):
        tp.checkouts.get_event(every[0].id, merchant_id=merchant_2)
    with pytest.raises(InvalidInput, match="Unknown event type"):
        tp.checkouts.list_events(type="payment.succeeded")
    assert set(CHECKOUT_EVENT_TYPES) >= {e.type for e in every}
