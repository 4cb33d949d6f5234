"""The rules of a payment, without a database: plain values in, plain values out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.errors import InvariantViolation
from tillpoint.core.money import Money
from tillpoint.ledger.lines import FEES, balanced, capture_lines, payable, receivable
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.fees import Rate
from tillpoint.merchants.models import PaymentMethod
from tillpoint.payments import rules
from tillpoint.payments.models import PaymentKind, PaymentStatus
from tillpoint.payments.rules import (
    BatchTotals,
    Limits,
    Original,
    Outcome,
    Refusal,
    RequestKey,
)

S = PaymentStatus
K = PaymentKind
DAY = date(2026, 12, 1)
KEY = RequestKey("0200", "000007", "000001", "fp")
LIMITS = Limits(per_txn_minor=50_000_00, daily_minor=200_000_00)

amounts = st.integers(min_value=0, max_value=10**12)
rates = st.builds(
    Rate,
    percent=st.integers(min_value=0, max_value=100_000).map(lambda n: Decimal(n).scaleb(-4)),
    cap=st.none() | st.integers(min_value=0, max_value=10**9).map(Money),
)
orgs = st.sampled_from(["CUP", "VIS", "MCC", "JCB", "AMX", "ALP", "WXP", "UPQ"])
mids = st.text("0123456789", min_size=15, max_size=15)


def original(**changes: object) -> Original:
    base = Original(
        id=1, kind=K.SALE, status=S.APPROVED, rrn="000000000001", auth_code="123456",
        amount_minor=10_000, refunded_minor=0, fee_minor=38, currency="CNY",
        method=PaymentMethod.DEBIT, card_org="CUP", domestic=True,
        pan_masked="621234*********0012", pan_token="tok", entry_mode="05",
        business_date=DAY, original_id=None, merchant_id=1, shop_id=1, terminal_id=1,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


# --- the fee and the ledger ------------------------------------------------------------


@given(amount=amounts, rate=rates, method=st.sampled_from(list(PaymentMethod)))
def test_a_fee_is_whole_minor_units_and_never_more_than_the_amount(
    amount: int, rate: Rate, method: PaymentMethod
) -> None:
    fee = rules.fee_minor(K.SALE, S.APPROVED, method, Money(amount), {method: rate})
    assert type(fee) is int
    assert 0 <= fee <= amount
    if rate.cap is not None:
        assert fee <= rate.cap.amount_minor


@given(
    kind=st.sampled_from(list(PaymentKind)),
    status=st.sampled_from(list(PaymentStatus)),
    amount=amounts,
    rate=rates,
)
def test_only_an_approved_capture_pays_a_fee(
    kind: PaymentKind, status: PaymentStatus, amount: int, rate: Rate
) -> None:
    fee = rules.fee_minor(kind, status, PaymentMethod.CREDIT, Money(amount),
                          {PaymentMethod.CREDIT: rate})  # fmt: skip
    if kind not in rules.CAPTURES or status is not S.APPROVED:
        assert fee == 0


def test_a_plan_without_the_method_s_rate_is_a_bug_not_a_free_payment() -> None:
    with pytest.raises(InvariantViolation):
        rules.fee_minor(K.SALE, S.APPROVED, PaymentMethod.DEBIT, Money(100), {})


@given(
    kind=st.sampled_from(list(PaymentKind)),
    org=orgs,
    mid=mids,
    amount=st.integers(min_value=1, max_value=10**12),
    rate=rates,
)
def test_every_entry_of_a_payment_balances_in_whole_minor_units(
    kind: PaymentKind, org: str, mid: str, amount: int, rate: Rate
) -> None:
    fee = rules.fee_minor(kind, S.APPROVED, PaymentMethod.DEBIT, Money(amount),
                          {PaymentMethod.DEBIT: rate})  # fmt: skip
    entry = rules.entry_of(kind, S.APPROVED, org, mid, amount, fee)
    if kind is K.PREAUTH:
        assert entry is None  # a hold moves no money
        return
    assert entry is not None
    entry_kind, lines = entry
    assert balanced(lines)
    assert all(type(minor) is int for _, minor in lines)
    owed = sum(minor for code, minor in lines if code == payable(mid))
    if entry_kind is EntryKind.CAPTURE:
        # The organisation owes the gross; the merchant is owed it less the fee.
        assert dict(lines)[receivable(org)] == amount
        assert owed == -(amount - fee) and -owed >= 0
        assert sum(minor for code, minor in lines if code == FEES) == -fee
    else:
        assert entry_kind is EntryKind.REFUND and owed == amount


@given(status=st.sampled_from([s for s in PaymentStatus if s is not S.APPROVED]))
def test_nothing_is_posted_for_a_payment_that_was_not_approved(status: PaymentStatus) -> None:
    assert rules.entry_of(K.SALE, status, "CUP", "M", 100, 0) is None
    assert rules.entry_of(K.SALE, S.APPROVED, None, "M", 100, 0) is None


@given(org=orgs, mid=mids, amount=st.integers(1, 10**12), fee_share=st.integers(0, 100))
def test_a_void_undoes_its_capture_exactly_and_a_reversed_void_redoes_it(
    org: str, mid: str, amount: int, fee_share: int
) -> None:
    fee = amount * fee_share // 100
    captured = capture_lines(org, mid, amount, fee)
    undone = rules.move_entry(K.SALE, org, mid, amount, fee, S.APPROVED, S.VOIDED)
    redone = rules.move_entry(K.SALE, org, mid, amount, fee, S.VOIDED, S.APPROVED)
    assert undone is not None and redone is not None
    assert undone[0] is EntryKind.CAPTURE_UNDONE and redone[0] is EntryKind.CAPTURE
    assert balanced(undone[1]) and balanced(redone[1])
    assert list(redone[1]) == list(captured)
    net: dict[str, int] = {}
    for code, minor in [*captured, *undone[1]]:
        net[code] = net.get(code, 0) + minor
    assert set(net.values()) == {0}
    # A reversal undoes the same way; a hold, or any other move, posts nothing.
    assert rules.move_entry(K.SALE, org, mid, amount, fee, S.APPROVED, S.REVERSED) == undone
    assert rules.move_entry(K.PREAUTH, org, mid, amount, 0, S.APPROVED, S.VOIDED) is None
    assert rules.move_entry(K.SALE, org, mid, amount, fee, S.APPROVED, S.REFUNDED) is None


def test_an_entry_that_does_not_balance_or_is_not_whole_minor_units_is_refused() -> None:
    assert not balanced([("a", 1), ("b", -2)])
    assert not balanced([("a", 0)])
    assert not balanced([("a", Decimal(1)), ("b", -1)])  # type: ignore[list-item]
    assert balanced([("a", 1), ("b", -1)])


@given(parts=st.lists(st.integers(1, 10**9), min_size=1, max_size=20), left=st.integers(0, 9))
def test_refunds_credit_their_payment_until_it_is_refunded_in_full(
    parts: list[int], left: int
) -> None:
    total, refunded = sum(parts) + left, 0
    for part in parts:
        refunded, status = rules.credited(total, refunded, part)
        assert status is (S.REFUNDED if refunded == total else S.PARTLY_REFUNDED)
    assert refunded == total - left


# --- the duplicate rule ------------------------------------------------------------


def test_a_repeated_request_gets_its_stored_answer_and_a_changed_one_94() -> None:
    stored = Outcome("00", "000000000009", "654321", "CUP").to_json()
    assert rules.answered([("0200", "fp", stored)], KEY, "000001") == Outcome.from_json(stored)
    changed = rules.answered([("0200", "other", stored)], KEY, "000001")
    assert changed == Outcome(Refusal.CHANGED_REQUEST.value)


def test_a_new_request_of_the_open_batch_has_no_answer_yet() -> None:
    assert rules.answered([], KEY, "000001") is None
    assert rules.answered([], KEY, "000002") == Outcome("12")  # another batch
    assert rules.answered([("0400", "x", {})], KEY, "000001") == Outcome("22")  # reversed first
    # Its own answer wins over a reversal of it.
    stored = Outcome("05", "000000000010").to_json()
    rows = [("0400", "x", {}), ("0200", "fp", stored)]
    assert rules.answered(rows, KEY, "000001") == Outcome("05", "000000000010")


# --- screening ---------------------------------------------------------------------


def test_screening_refuses_in_order() -> None:
    ok = Money(100_00)
    assert rules.screen(Money(0), False, LIMITS, 0) is Refusal.AMOUNT
    assert rules.screen(ok, False, LIMITS, 0) is Refusal.UNKNOWN_CARD
    big_tap = Money(rules.CONTACTLESS_NO_PIN_LIMIT.amount_minor + 1)
    assert rules.screen(big_tap, True, LIMITS, 0, entry_mode="07") is Refusal.PIN_REQUIRED
    assert rules.screen(big_tap, True, LIMITS, 0, entry_mode="07", has_pin=True) is None
    assert rules.screen(ok, True, LIMITS, 0, recent_refusals=3) is Refusal.SUSPECTED_FRAUD
    assert rules.screen(ok, True, LIMITS, 0, recent_refusals=2) is None
    assert rules.screen(Money(LIMITS.per_txn_minor + 1), True, LIMITS, 0) is Refusal.OVER_LIMIT
    assert rules.screen(ok, True, LIMITS, LIMITS.daily_minor - 100_00) is None
    assert rules.screen(ok, True, LIMITS, LIMITS.daily_minor - 100_00 + 1) is Refusal.OVER_LIMIT


@given(amount=st.integers(-10, 10**10), taken=st.integers(0, 10**10))
def test_a_payment_screening_lets_through_stays_within_the_limits(amount: int, taken: int) -> None:
    if rules.screen(Money(amount), True, LIMITS, taken) is None:
        assert 0 < amount <= LIMITS.per_txn_minor
        assert taken + amount <= LIMITS.daily_minor


def test_a_card_s_method_follows_its_bin_entry_and_the_amount() -> None:
    from tillpoint.networks.bins import classify

    debit, foreign = classify("6212340000000000012"), classify("4761340000000019")
    assert debit is not None and foreign is not None
    assert rules.payment_method(foreign, "05", Money(1)) is PaymentMethod.FOREIGN
    assert rules.payment_method(debit, "07", Money(1)) is PaymentMethod.CONTACTLESS
    big = Money(rules.CONTACTLESS_NO_PIN_LIMIT.amount_minor + 1)
    assert rules.payment_method(debit, "07", big) is not PaymentMethod.CONTACTLESS


# --- originals ---------------------------------------------------------------------


def test_a_void_needs_its_approved_original_whole() -> None:
    assert rules.void_refusal(None, 10_000) is Refusal.NO_ORIGINAL
    assert rules.void_refusal(original(status=S.VOIDED), 10_000) is Refusal.NOT_UNDOABLE
    assert rules.void_refusal(original(), 9_999) is Refusal.AMOUNT_MISMATCH
    assert rules.void_refusal(original(), 10_000) is None


def test_a_completion_needs_an_approved_hold_in_time_and_within_115_percent() -> None:
    hold = original(kind=K.PREAUTH)
    assert rules.completion_refusal(None, DAY, 100) is Refusal.NO_ORIGINAL
    completed = replace(hold, status=S.COMPLETED)
    assert rules.completion_refusal(completed, DAY, 100) is Refusal.NOT_UNDOABLE
    late = DAY + timedelta(days=rules.PREAUTH_DAYS + 1)
    assert rules.completion_refusal(hold, late, 100) is Refusal.BATCH_OR_WINDOW
    assert rules.completion_refusal(hold, DAY, 0) is Refusal.AMOUNT
    assert rules.completion_refusal(hold, DAY, 11_501) is Refusal.AMOUNT
    assert rules.completion_refusal(hold, DAY, 11_500) is None


def test_a_refund_needs_the_same_card_in_time_and_what_is_left() -> None:
    sale = original(refunded_minor=6_000, status=S.PARTLY_REFUNDED)
    assert rules.refund_refusal(sale, "tok", DAY, 0) is Refusal.AMOUNT
    assert rules.refund_refusal(None, "tok", DAY, 1) is Refusal.NO_ORIGINAL
    assert rules.refund_refusal(sale, "another card", DAY, 1) is Refusal.NO_ORIGINAL
    voided = replace(sale, status=S.VOIDED)
    assert rules.refund_refusal(voided, "tok", DAY, 1) is Refusal.NOT_UNDOABLE
    late = DAY + timedelta(days=rules.REFUND_WINDOW_DAYS + 1)
    assert rules.refund_refusal(sale, "tok", late, 1) is Refusal.BATCH_OR_WINDOW
    assert rules.refund_refusal(sale, "tok", DAY, 4_001) is Refusal.AMOUNT
    assert rules.refund_refusal(sale, "tok", DAY, 4_000) is None


def test_a_reversal_undoes_what_its_original_request_did() -> None:
    sale = original()
    assert rules.reversal(sale, sale.rrn) == rules.Undo(S.REVERSED, sale.rrn, None)
    # The request reversed was a void (answered with its own RRN): the sale stands again.
    voided = replace(sale, status=S.VOIDED)
    assert rules.reversal(voided, "000000000099") == rules.Undo(S.APPROVED, "000000000099", None)
    assert rules.reversal(voided, sale.rrn) is None
    assert rules.reversal(replace(sale, status=S.DECLINED), sale.rrn) is None
    completion = replace(sale, kind=K.COMPLETION, original_id=7)
    assert rules.reversal(completion, sale.rrn) == rules.Undo(S.REVERSED, sale.rrn, S.APPROVED)
    void_of_it = replace(completion, status=S.VOIDED)
    assert rules.reversal(void_of_it, "x") == rules.Undo(S.APPROVED, "x", S.COMPLETED)


def test_the_connector_of_a_payment_is_its_organisation_s() -> None:
    assert rules.network_name("CUP") == rules.CARD
    assert rules.network_name("ALP") == rules.WALLET
    assert rules.network_name(None) == rules.CARD


# --- the answer and batches ----------------------------------------------------------


def test_an_answer_s_code_gives_the_payment_s_status() -> None:
    assert rules.status_of("00") is S.APPROVED
    assert rules.status_of("98") is S.TIMED_OUT
    assert rules.status_of("51") is S.DECLINED
    taken = rules.not_charged(Outcome("00", "1", "654321"))
    assert (taken.response_code, taken.auth_code, taken.rrn) == ("98", None, "1")


def test_batch_totals_split_domestic_from_foreign_and_debits_from_credits() -> None:
    rows = [(True, K.SALE, 2, 300), (True, K.COMPLETION, 1, 50), (True, K.REFUND, 1, 20),
            (False, K.SALE, 1, 1_000), (None, K.REFUND, 1, 5)]  # fmt: skip
    domestic, foreign = rules.batch_totals(rows)
    assert domestic == BatchTotals(350, 3, 20, 1)
    assert foreign == BatchTotals(1_000, 1, 5, 1)
    assert rules.settlement_flags((domestic, foreign), (domestic, foreign)) == ("1", "1")
    assert rules.settlement_flags((domestic, BatchTotals()), (domestic, foreign)) == ("1", "2")


def test_an_upload_s_discrepancies() -> None:
    found = rules.discrepancies({"a": 100, "b": 200, "c": 5}, {"a": 100, "b": 250, "d": 7}, 4)
    assert [(d.rrn, d.problem, d.terminal_minor, d.host_minor) for d in found] == [
        ("b", "amount", 200, 250),
        ("c", "missing_on_host", 5, None),
        ("d", "missing_on_terminal", None, 7),
        ("", "count", 4, 3),
    ]
    assert rules.discrepancies({"a": 1}, {"a": 1}, 1) == []
