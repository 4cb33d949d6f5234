"""The rules of a payment, as plain functions over plain data: no database, no network,
no clock. What a payment decides is here; reading what it needs and writing what it
decided is done around it (``payments/reads.py``, ``payments/writer.py``), so each rule
can be tested on its own (tests/unit/test_payment_rules.py).

- the duplicate rule (``answered``): a request already answered gets its stored answer;
- the host's own refusals before any network is asked (``screen``): amount, card,
  the PIN above the contactless limit, card testing, the merchant kind's limits;
- what a void, a completion, a refund and a reversal need of their original
  (``void_refusal``, ``completion_refusal``, ``refund_refusal``, ``reversal``);
- the fee (``fee_minor``) and the ledger entries a payment and its moves post
  (``entry_of``, ``move_entry``);
- the answer (``Outcome``, ``status_of``) and a batch's totals (``batch_totals``,
  ``discrepancies``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tillpoint.core.errors import InvalidInput, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.ledger.lines import Lines, capture_lines, negated, refund_lines
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.fees import Rate, fee
from tillpoint.merchants.models import PaymentMethod
from tillpoint.networks.bins import CardInfo, Funding
from tillpoint.networks.wallets import WalletOrg
from tillpoint.payments.models import PaymentKind, PaymentStatus

CONTACTLESS_NO_PIN_LIMIT = Money(100_000)  # 1,000.00 CNY: 小额免密
REFUND_WINDOW_DAYS = 30
PREAUTH_DAYS = 30  # a pre-authorisation holds the funds this long
COMPLETION_LIMIT = Decimal("1.15")
# Risk: a card refused this often within the window is being tested (59).
CARD_TESTING_REFUSALS = 3
CARD_TESTING_WINDOW = timedelta(minutes=10)
CARD_TESTING_CODES = ("05", "14", "51", "54", "59")
CAPTURES = (PaymentKind.SALE, PaymentKind.COMPLETION)  # what moves money to a merchant
# A merchant's takings: the captures that stand (its daily limit counts these).
COUNTED = (
    PaymentStatus.APPROVED,
    PaymentStatus.PARTLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.COMPLETED,
)
REFUNDABLE = (PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED)
CARD, WALLET = "card", "wallet"  # which connector a payment went through
WALLET_METHODS = {
    WalletOrg.ALIPAY: PaymentMethod.ALIPAY,
    WalletOrg.WECHAT: PaymentMethod.WECHAT,
    WalletOrg.UNIONPAY_QR: PaymentMethod.UNIONPAY_QR,
}
_WALLET_ORGS = frozenset(o.value for o in WalletOrg)
_ENTRY_OF = {
    PaymentKind.SALE: EntryKind.CAPTURE,
    PaymentKind.COMPLETION: EntryKind.CAPTURE,
    PaymentKind.REFUND: EntryKind.REFUND,
}


class Refusal(StrEnum):
    """The host's own answers, by what they mean; each is the field 39 code it sends."""

    BATCH_OR_WINDOW = "12"  # not the open batch; past the refund or pre-auth window
    AMOUNT = "13"  # not a positive amount, or more than the original allows
    UNKNOWN_CARD = "14"  # no card organisation or wallet has this number
    NOT_UNDOABLE = "22"  # the original is not in a state to undo; reversed before
    NO_ORIGINAL = "25"
    PIN_REQUIRED = "55"  # above the contactless no-PIN limit
    SUSPECTED_FRAUD = "59"  # risk screening declined it (card testing, velocity...)
    OVER_LIMIT = "61"  # the merchant kind's limit, per payment or per day
    AMOUNT_MISMATCH = "64"  # a void names another amount than its original's
    CHANGED_REQUEST = "94"  # a request repeated with other content
    HOST_ERROR = "96"
    NO_ANSWER = "98"  # the network did not answer in time: nothing charged


# --- the request and its answer ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestKey:
    """What the duplicate rule keys on, and a keyed fingerprint of everything else."""

    mti: str
    stan: str
    batch_no: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Card:
    pan: str = field(repr=False)
    expiry: str | None
    entry_mode: str  # two digits of field 22
    pin_block: bytes | None = field(default=None, repr=False)  # under the terminal's PIK
    # Read from the chip: field 55 (checked for its tags, not verified: the issuer
    # verifies the ARQC) and the PAN sequence number of field 23, two digits.
    icc: bytes | None = field(default=None, repr=False)
    psn: str = "00"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The host's decision, as the answer message will carry it. No card data."""

    response_code: str
    rrn: str | None = None
    auth_code: str | None = None
    card_org: str | None = None
    issuer_id: str = ""
    balance_minor: int | None = None
    business_date: str | None = None  # ISO date
    balanced: tuple[str, str] | None = None  # batch settlement flags: domestic, foreign
    icc: str | None = None  # the issuer's field 55 to a chip request (hex): tag 91

    def to_json(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies, and every answer is kept.
        return {
            "response_code": self.response_code,
            "rrn": self.rrn,
            "auth_code": self.auth_code,
            "card_org": self.card_org,
            "issuer_id": self.issuer_id,
            "balance_minor": self.balance_minor,
            "business_date": self.business_date,
            "balanced": None if self.balanced is None else list(self.balanced),
            "icc": self.icc,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        balanced = data.get("balanced")
        return cls(**{**data, "balanced": tuple(balanced) if balanced else None})


@dataclass(frozen=True, slots=True)
class Instrument:
    """How a payment was paid, as the record keeps it: never the number itself."""

    method: PaymentMethod | None
    domestic: bool | None
    masked: str
    token: str
    entry_mode: str


def status_of(response_code: str) -> PaymentStatus:
    """The status a payment is recorded in, from its answer's code."""
    if response_code == "00":
        return PaymentStatus.APPROVED
    return PaymentStatus.TIMED_OUT if response_code == "98" else PaymentStatus.DECLINED


def not_charged(outcome: Outcome) -> Outcome:
    """The answer for an approved call taken for reversal before it reached our books:
    not charged (98), as the network will have been told."""
    return replace(outcome, response_code=Refusal.NO_ANSWER.value, auth_code=None, icc=None)


# --- the duplicate rule --------------------------------------------------------------


def answered(
    rows: Iterable[tuple[str, str, dict[str, Any]]], key: RequestKey, open_batch: str
) -> Outcome | None:
    """The answer a request already has, from the stored requests of its terminal,
    batch and STAN (``rows``: MTI, fingerprint, answer; the request's own MTI and a
    reversal's, 0400): its first answer (94 if it changed), 12 for a batch other than
    the open one, 22 when its reversal came first; None: a new request."""
    reversed_first = False
    for mti, fingerprint, answer in rows:
        if mti == key.mti:
            if fingerprint != key.fingerprint:
                return Outcome(Refusal.CHANGED_REQUEST.value)
            return Outcome.from_json(answer)
        reversed_first = True
    if key.batch_no != open_batch:
        return Outcome(Refusal.BATCH_OR_WINDOW.value)  # not the batch given at sign-on
    if reversed_first:
        return Outcome(Refusal.NOT_UNDOABLE.value)  # its reversal came first: refused
    return None


# --- screening -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """A merchant kind's limits, in minor units."""

    per_txn_minor: int
    daily_minor: int


def card_testing(recent_refusals: int) -> bool:
    """Card testing (试卡): a card refused for a reason that probing produces (bad
    number, expiry, funds, do not honour) this often in a few minutes, at any merchant."""
    return recent_refusals >= CARD_TESTING_REFUSALS


def over_limit(amount_minor: int, limits: Limits, taken_minor: int) -> bool:
    """Whether a payment would pass the merchant kind's limit, per payment or per day
    (``taken_minor``: the merchant's takings on the open day so far)."""
    return amount_minor > limits.per_txn_minor or taken_minor + amount_minor > limits.daily_minor


def screen(
    amount: Money,
    known: bool,
    limits: Limits,
    taken_minor: int,
    *,
    entry_mode: str = "",
    has_pin: bool = False,
    recent_refusals: int = 0,
) -> Refusal | None:
    """The host's own refusals, before any network is asked, in this order: the amount,
    an unknown card or code, a contactless payment above the no-PIN limit without a
    PIN, card testing (``recent_refusals`` of the card), the merchant kind's limits."""
    if amount.amount_minor <= 0:
        return Refusal.AMOUNT
    if not known:
        return Refusal.UNKNOWN_CARD
    if entry_mode == "07" and amount > CONTACTLESS_NO_PIN_LIMIT and not has_pin:
        return Refusal.PIN_REQUIRED
    if card_testing(recent_refusals):
        return Refusal.SUSPECTED_FRAUD
    if over_limit(amount.amount_minor, limits, taken_minor):
        return Refusal.OVER_LIMIT
    return None


def payment_method(info: CardInfo, entry_mode: str, amount: Money) -> PaymentMethod:
    """How a card paid, for its fee: foreign, contactless (no PIN), debit or credit."""
    if not info.domestic:
        return PaymentMethod.FOREIGN
    if entry_mode == "07" and amount <= CONTACTLESS_NO_PIN_LIMIT:
        return PaymentMethod.CONTACTLESS
    return PaymentMethod.DEBIT if info.funding is Funding.DEBIT else PaymentMethod.CREDIT


# --- originals: voids, completions, refunds, reversals -------------------------------


@dataclass(frozen=True, slots=True)
class Original:
    """A recorded payment, as a later request that names it sees it."""

    id: int
    kind: PaymentKind
    status: PaymentStatus
    rrn: str
    auth_code: str | None
    amount_minor: int
    refunded_minor: int
    fee_minor: int
    currency: str
    method: PaymentMethod | None
    card_org: str | None
    domestic: bool | None
    pan_masked: str | None
    pan_token: str | None
    entry_mode: str
    business_date: date
    original_id: int | None
    merchant_id: int
    shop_id: int
    terminal_id: int | None


def network_name(card_org: str | None) -> str:
    """Which connector a payment went through: its voids, refunds and reversals too."""
    return WALLET if card_org in _WALLET_ORGS else CARD


def void_refusal(original: Original | None, amount_minor: int) -> Refusal | None:
    """A void undoes an approved payment whole."""
    if original is None:
        return Refusal.NO_ORIGINAL
    if original.status is not PaymentStatus.APPROVED:
        return Refusal.NOT_UNDOABLE
    if original.amount_minor != amount_minor:
        return Refusal.AMOUNT_MISMATCH
    return None


def completion_refusal(hold: Original | None, day: date, amount_minor: int) -> Refusal | None:
    """A completion captures an approved pre-authorisation within ``PREAUTH_DAYS``, for
    more than nothing and at most ``COMPLETION_LIMIT`` times the hold."""
    if hold is None:
        return Refusal.NO_ORIGINAL
    if hold.status is not PaymentStatus.APPROVED:
        return Refusal.NOT_UNDOABLE
    if (day - hold.business_date).days > PREAUTH_DAYS:
        return Refusal.BATCH_OR_WINDOW
    if amount_minor <= 0 or Decimal(amount_minor) > Decimal(hold.amount_minor) * COMPLETION_LIMIT:
        return Refusal.AMOUNT
    return None


def refund_refusal(
    original: Original | None, token: str, day: date, amount_minor: int
) -> Refusal | None:
    """A refund gives back part or all of a standing capture, with the same card (its
    ``token``), within ``REFUND_WINDOW_DAYS``; all refunds together never exceed it."""
    if amount_minor <= 0:
        return Refusal.AMOUNT
    if original is None or original.pan_token != token:
        return Refusal.NO_ORIGINAL
    if original.status not in REFUNDABLE:
        return Refusal.NOT_UNDOABLE
    if (day - original.business_date).days > REFUND_WINDOW_DAYS:
        return Refusal.BATCH_OR_WINDOW
    if original.refunded_minor + amount_minor > original.amount_minor:
        return Refusal.AMOUNT
    return None


@dataclass(frozen=True, slots=True)
class Undo:
    """What a reversal does to the payment its original request concerned."""

    to: PaymentStatus
    rrn: str  # the network reference to reverse
    hold_to: PaymentStatus | None  # a completion's pre-authorisation, moved too


def reversal(original: Original, answered_rrn: str | None) -> Undo | None:
    """An approved payment is reversed; a void reversed (its answer's RRN is not the
    payment's) puts the payment back; anything else stands. A completion undone puts
    its hold back; a completion's void undone captures the hold again."""
    if original.status is PaymentStatus.APPROVED:
        to, rrn = PaymentStatus.REVERSED, original.rrn
    elif original.status is PaymentStatus.VOIDED and answered_rrn not in (None, original.rrn):
        assert answered_rrn is not None  # for mypy
        to, rrn = PaymentStatus.APPROVED, answered_rrn
    else:
        return None
    hold_to = None
    if original.kind is PaymentKind.COMPLETION:
        hold_to = (
            PaymentStatus.APPROVED if to is PaymentStatus.REVERSED else PaymentStatus.COMPLETED
        )
    return Undo(to, rrn, hold_to)


def credited(
    original_minor: int, refunded_minor: int, refund_minor: int
) -> tuple[int, PaymentStatus]:
    """A payment's refunded amount and status after an approved refund of it."""
    refunded = refunded_minor + refund_minor
    full = refunded == original_minor
    return refunded, PaymentStatus.REFUNDED if full else PaymentStatus.PARTLY_REFUNDED


# --- the fee and the ledger ----------------------------------------------------------


def fee_minor(
    kind: PaymentKind,
    status: PaymentStatus,
    method: PaymentMethod | None,
    amount: Money,
    rates: Mapping[PaymentMethod, Rate],
) -> int:
    """The fee of a payment: an approved capture's, at the rate of its method in the
    plan in force (``rates``), rounded once; nothing for anything else."""
    if status is not PaymentStatus.APPROVED or kind not in CAPTURES or method is None:
        return 0
    rate = rates.get(method)
    invariant(rate is not None, f"the fee plan in force prices {method}")
    assert rate is not None  # for mypy
    return fee(amount, rate).amount_minor


def entry_of(
    kind: PaymentKind,
    status: PaymentStatus,
    card_org: str | None,
    mid: str,
    amount_minor: int,
    fee_minor: int,
) -> tuple[EntryKind, Lines] | None:
    """The entry an approved capture or refund posts; None for anything else (a hold
    moves no money, a refusal none either)."""
    entry = _ENTRY_OF.get(kind)
    if status is not PaymentStatus.APPROVED or card_org is None or entry is None:
        return None
    if entry is EntryKind.CAPTURE:
        return entry, capture_lines(card_org, mid, amount_minor, fee_minor)
    return entry, refund_lines(card_org, mid, amount_minor)


def move_entry(
    kind: PaymentKind,
    card_org: str | None,
    mid: str,
    amount_minor: int,
    fee_minor: int,
    was: PaymentStatus,
    to: PaymentStatus,
) -> tuple[EntryKind, Lines] | None:
    """The ledger's side of a capture's void or reversal (its entry negated) and of a
    void's reversal (the capture again); None for any other move."""
    if kind not in CAPTURES or card_org is None:
        return None
    lines = capture_lines(card_org, mid, amount_minor, fee_minor)
    if was is PaymentStatus.APPROVED and to in (PaymentStatus.VOIDED, PaymentStatus.REVERSED):
        return EntryKind.CAPTURE_UNDONE, negated(lines)
    if was is PaymentStatus.VOIDED and to is PaymentStatus.APPROVED:
        return EntryKind.CAPTURE, lines
    return None


# --- batches -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchTotals:
    """One half of a batch's totals: debits (sales, completions) and credits (refunds)."""

    debit_minor: int = 0
    debit_count: int = 0
    credit_minor: int = 0
    credit_count: int = 0


def batch_totals(
    rows: Iterable[tuple[bool | None, PaymentKind, int, int]],
) -> tuple[BatchTotals, BatchTotals]:
    """(domestic, foreign) totals from (domestic, kind, count, amount) of the batch's
    standing captures and approved refunds."""
    totals = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
    for domestic, kind, count, amount in rows:
        slot = totals[bool(domestic)]
        if kind is PaymentKind.REFUND:
            slot[2] += int(amount)
            slot[3] += int(count)
        else:
            slot[0] += int(amount)
            slot[1] += int(count)
    return BatchTotals(*totals[True]), BatchTotals(*totals[False])


def settlement_flags(
    terminal: tuple[BatchTotals, BatchTotals], host: tuple[BatchTotals, BatchTotals]
) -> tuple[str, str]:
    """Field 48's flags: 1 where the terminal's totals agree with the host's, else 2."""
    domestic = "1" if terminal[0] == host[0] else "2"
    foreign = "1" if terminal[1] == host[1] else "2"
    return domestic, foreign


@dataclass(frozen=True, slots=True)
class Discrepancy:
    rrn: str
    problem: str  # missing_on_host, missing_on_terminal, amount, count
    terminal_minor: int | None
    host_minor: int | None


def discrepancies(
    uploaded: Mapping[str, int], host: Mapping[str, int], count: int
) -> Sequence[Discrepancy]:
    """What differs between the lines a terminal uploaded (RRN: amount) and the host's
    payments of the batch, and the count the terminal announced."""
    found = []
    for rrn, amount in uploaded.items():
        mine = host.get(rrn)
        if mine is None:
            found.append(Discrepancy(rrn, "missing_on_host", amount, None))
        elif mine != amount:
            found.append(Discrepancy(rrn, "amount", amount, mine))
    for rrn, mine in host.items():
        if rrn not in uploaded:
            found.append(Discrepancy(rrn, "missing_on_terminal", None, mine))
    if count != len(uploaded):
        found.append(Discrepancy("", "count", count, len(uploaded)))
    return found


def check_amount(amount: Money, currency: str) -> None:
    """An amount asked for through the API (a payment, a checkout): more than zero, in
    the currency payments are taken in."""
    if amount.amount_minor <= 0:
        raise InvalidInput("payment.amount", N_("The amount must be more than zero"))
    if amount.currency != currency:
        raise InvalidInput(
            "payment.currency", N_("Payments are taken in {currency}"), currency=currency
        )
