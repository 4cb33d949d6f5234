"""The one payment writer: whichever way a payment came (a terminal through the host's
group commit, the REST API in a unit of work of its own), it is recorded here.

A ``Book`` gathers one unit of work's writes (new payments with their first events,
transitions of recorded payments with theirs, journal entries, the terminals' answers
kept for the duplicate rule, batch counts) and writes them with one statement per table
(``flush``): SQLAlchemy Core statements built once (``HotWrite``), ids of new payments
taken beforehand (``new_ids``) so that events, entries and answers refer to them in the
same statements. No ORM object is made. What is written is decided by the rules
(``payments/rules.py``): the writer only applies them.

Invariants kept here: a call the network was asked is claimed in the same unit of work
(``payments/intents.py``), and an approved payment whose call was taken for reversal
meanwhile is recorded as not charged (98); a payment counted into a terminal batch
settled since it was admitted fails the whole unit of work; every entry balances
(``ledger.post_many``). Every transition writes its event: the outbox that webhooks,
the live feed and the console's tallies read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.orm import Session

from tillpoint.core.db import note_written
from tillpoint.core.errors import invariant
from tillpoint.core.groupcommit import HotWrite, new_ids
from tillpoint.ledger import service as ledger
from tillpoint.ledger.lines import Lines
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.models import PaymentMethod
from tillpoint.payments import reads, rules
from tillpoint.payments.intents import claim
from tillpoint.payments.models import (
    Channel,
    Payment,
    PaymentEvent,
    PaymentKind,
    PaymentStatus,
    QrFlow,
    TerminalRequest,
)
from tillpoint.payments.rules import Original, Outcome, RequestKey
from tillpoint.payments.screening import Verdict
from tillpoint.terminals.models import TerminalBatch

#: The topic of new payments, told after their commit (``Database.listen``): a list of
#: ``PaymentRow``.
PAYMENTS_WRITTEN = "payments"


class PaymentRow(NamedTuple):
    """A new payment's row, every column in order (``id`` is given by the writer)."""

    id: int
    kind: PaymentKind
    status: PaymentStatus
    response_code: str
    merchant_id: int
    shop_id: int
    terminal_id: int | None
    batch_id: int | None  # a terminal's open batch; an approved payment is counted in it
    stan: str | None
    rrn: str
    auth_code: str | None
    amount_minor: int
    currency: str
    method: PaymentMethod | None
    card_org: str | None
    domestic: bool | None
    pan_masked: str | None
    pan_token: str | None
    entry_mode: str
    business_date: date
    original_id: int | None
    refunded_minor: int
    fee_minor: int
    channel: Channel
    qr_flow: QrFlow | None
    reference: str | None
    expires_at: datetime | None
    qr_code: str | None
    created_at: datetime
    updated_at: datetime


class After(StrEnum):
    """What an approved payment does to the payment it names (``original_id``)."""

    COMPLETE = "complete"  # a completion: its pre-authorisation is completed
    CREDIT = "credit"  # a refund: the payment refunded is credited


@dataclass(frozen=True, slots=True)
class TerminalAnswer:
    """A terminal's request and its answer, kept for the duplicate rule."""

    terminal_id: int
    key: RequestKey
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class NewPayment:
    """A payment to record, as the rules decided it."""

    row: PaymentRow
    cause: str  # its first event's cause, without the " rc <code>" the writer adds
    mid: str  # the merchant's, whose accounts its entry moves
    asked: bool = False  # a network was asked under row.rrn: its call's note is claimed
    answer: TerminalAnswer | None = None
    after: After | None = None
    memo: str | None = None  # its journal entry's memo (the cause, when None)
    verdict: Verdict | None = None  # risk screening's, kept with it when a rule fired


@dataclass(frozen=True, slots=True)
class Recorded:
    row: PaymentRow  # as written: 98 if its call was taken for reversal meanwhile
    outcome: Outcome | None  # the terminal's answer as kept, if any


_INSERT_PAYMENTS = HotWrite(insert(Payment), PaymentRow._fields)
_INSERT_EVENTS = HotWrite(
    insert(PaymentEvent), ("payment_id", "from_status", "to_status", "cause", "at")
)
_INSERT_ANSWERS = HotWrite(
    insert(TerminalRequest),
    ("terminal_id", "batch_no", "stan", "mti", "fingerprint", "answer", "payment_id",
     "created_at"),
)  # fmt: skip
_MOVE = HotWrite(
    update(Payment).where(Payment.id == bindparam("payment_id")),
    ("status", "refunded_minor", "updated_at", "payment_id"),
)
_COUNT_IN_BATCH = HotWrite(
    update(TerminalBatch)
    .where(TerminalBatch.id == bindparam("batch_id"), TerminalBatch.settled_at.is_(None))
    .values(txn_count=TerminalBatch.txn_count + bindparam("count")),
    ("count", "batch_id"),
)
_ANSWER_PENDING = (
    update(Payment)
    .where(Payment.id == bindparam("payment_id"))
    .values(
        response_code=bindparam("response_code"),
        auth_code=bindparam("auth_code"),
        method=bindparam("method"),
        card_org=bindparam("card_org"),
        fee_minor=bindparam("fee_minor"),
        business_date=bindparam("day"),
    )
)


class Book:
    """One unit of work's payment writes: gathered, then written with one statement
    per table by ``flush``. Transitions apply to the payments as this unit of work
    sees them (``load`` reads them, locked on PostgreSQL)."""

    def __init__(self, conn: Connection, session: Session | None = None) -> None:
        self.conn = conn
        self.session = session  # told of the new payments (risk screening listens)
        self._payments: list[PaymentRow] = []
        self._events: list[tuple[int, PaymentStatus | None, PaymentStatus, str, datetime]] = []
        self._moves: list[tuple[PaymentStatus, int, datetime, int]] = []
        self._postings: list[ledger.Posting] = []
        self._answers: list[tuple[Any, ...]] = []
        self._batches: Counter[int] = Counter()
        self._verdicts: list[tuple[Verdict, int]] = []
        self._known: dict[int, Original] = {}  # payments loaded, as they stand now

    @classmethod
    def of(cls, s: Session) -> Book:
        return cls(s.connection(), s)

    # --- reading what is moved ---------------------------------------------------------

    def load(self, ids: Collection[int]) -> dict[int, Original]:
        """The payments with these ids as they stand in this unit of work."""
        missing = [i for i in ids if i not in self._known]
        if missing:
            self._known.update(reads.originals(self.conn, missing))
        return {i: self._known[i] for i in ids if i in self._known}

    def load_rrn(self, rrn: str) -> Original | None:
        """The payment with this reference, as it stands in this unit of work."""
        found = reads.originals(self.conn, rrn=rrn)
        for payment_id, original in found.items():
            self._known.setdefault(payment_id, original)
            return self._known[payment_id]
        return None

    # --- what is written --------------------------------------------------------------

    def record(self, payments: Sequence[NewPayment]) -> list[Recorded]:
        """New payments, each with its first event, its entry when approved, the
        terminal's answer and its batch count; and, when approved, what it does to
        the payment it names. Claims the calls made for them first."""
        asked = [p.row.rrn for p in payments if p.asked and p.row.response_code != "98"]
        claimed = claim(self.conn, asked) if asked else set()
        follows = {p.row.original_id for p in payments if p.after is not None}
        if follows:
            self.load([i for i in follows if i is not None])
        recorded = []
        ids = new_ids(self.conn, "payments", len(payments))
        for payment_id, p in zip(ids, payments, strict=True):
            row = p.row._replace(id=payment_id)
            outcome = None if p.answer is None else p.answer.outcome
            if p.asked and row.response_code == "00" and row.rrn not in claimed:
                # Taken for reversal meanwhile: not charged, as the network is told.
                row = row._replace(status=PaymentStatus.TIMED_OUT, response_code="98",
                                   auth_code=None, fee_minor=0)  # fmt: skip
                outcome = None if outcome is None else rules.not_charged(outcome)
            cause = f"{p.cause} rc {row.response_code}"
            self._payments.append(row)
            if p.verdict is not None and p.verdict.keep is not None:
                self._verdicts.append((p.verdict, payment_id))
            self._events.append((payment_id, None, row.status, cause, row.created_at))
            if row.status is PaymentStatus.APPROVED:
                entry = rules.entry_of(row.kind, row.status, row.card_org, p.mid,
                                       row.amount_minor, row.fee_minor)  # fmt: skip
                self.post(entry, row.business_date, row.created_at, p.memo or cause,
                          payment_id, row.currency)  # fmt: skip
                if p.after is not None and row.original_id is not None:
                    self._after(p.after, row)
                if row.batch_id is not None:
                    self._batches[row.batch_id] += 1
            if p.answer is not None:
                assert outcome is not None  # for mypy
                self.keep_answer(p.answer.terminal_id, p.answer.key, outcome, payment_id,
                                 row.created_at)  # fmt: skip
            recorded.append(Recorded(row, outcome))
        if self.session is not None:
            note_written(self.session, PAYMENTS_WRITTEN, [r.row for r in recorded])
        return recorded

    def _after(self, after: After, row: PaymentRow) -> None:
        assert row.original_id is not None  # for mypy
        if after is After.COMPLETE:
            self.move(row.original_id, PaymentStatus.COMPLETED, f"completion {row.rrn}",
                      row.created_at)  # fmt: skip
            return
        original = self._known[row.original_id]
        refunded, status = rules.credited(
            original.amount_minor, original.refunded_minor, row.amount_minor
        )
        self.move(row.original_id, status, f"refund {row.rrn}", row.created_at, refunded)

    def move(
        self,
        payment_id: int,
        to: PaymentStatus,
        cause: str,
        at: datetime,
        refunded_minor: int | None = None,
    ) -> Original:
        """One transition of a loaded payment, with its event; gives it as it was."""
        was = self._known[payment_id]
        refunded = was.refunded_minor if refunded_minor is None else refunded_minor
        self._moves.append((to, refunded, at, payment_id))
        self._events.append((payment_id, was.status, to, cause, at))
        self._known[payment_id] = replace(was, status=to, refunded_minor=refunded)
        return was

    def undo(
        self,
        payment: Original,
        to: PaymentStatus,
        hold_to: PaymentStatus | None,
        cause: str,
        at: datetime,
        day: date,
        mid: str,
        batch_id: int,
    ) -> None:
        """A void or reversal on our books: the payment's transition, its ledger side,
        the batch's count and, for a completion, its pre-authorisation's transition."""
        was = self.move(payment.id, to, cause, at)
        entry = rules.move_entry(was.kind, was.card_org, mid, was.amount_minor,
                                 was.fee_minor, was.status, to)  # fmt: skip
        self.post(entry, day, at, cause, payment.id, was.currency)
        self._batches[batch_id] += 1  # voids stay in the payment's batch
        if hold_to is not None and was.original_id is not None:
            self.load([was.original_id])
            self.move(was.original_id, hold_to, cause, at)

    def answer_pending(
        self,
        payment_id: int,
        response_code: str,
        auth_code: str | None,
        method: PaymentMethod | None,
        card_org: str | None,
        fee_minor: int,
        day: date,
    ) -> None:
        """A pending payment's answer from its wallet (written at once), on the business
        day ``day`` it came (its money and its clearing are that day's)."""
        self.conn.execute(
            _ANSWER_PENDING,
            {"payment_id": payment_id, "response_code": response_code, "auth_code": auth_code,
             "method": method, "card_org": card_org, "fee_minor": fee_minor, "day": day},
        )  # fmt: skip

    def post(
        self,
        entry: tuple[EntryKind, Lines] | None,
        day: date,
        at: datetime,
        memo: str,
        payment_id: int,
        currency: str,
    ) -> None:
        if entry is not None:
            kind, lines = entry
            self._postings.append(ledger.Posting(kind, lines, day, at, memo, payment_id, currency))

    def keep_answer(
        self,
        terminal_id: int,
        key: RequestKey,
        outcome: Outcome,
        payment_id: int | None,
        at: datetime,
    ) -> None:
        """Remember the answer under the duplicate rule's key."""
        self._answers.append((terminal_id, key.batch_no, key.stan, key.mti, key.fingerprint,
                              outcome.to_json(), payment_id, at))  # fmt: skip

    def flush(self) -> None:
        """Everything gathered, one statement per table. A batch settled since one of its
        payments was admitted fails the unit of work: nothing is slipped into totals
        already agreed with the terminal."""
        conn = self.conn
        _INSERT_PAYMENTS.run(conn, self._payments)
        _INSERT_EVENTS.run(conn, self._events)
        _MOVE.run(conn, self._moves)
        ledger.post_many(conn, self._postings)
        _INSERT_ANSWERS.run(conn, self._answers)
        if self._batches:
            counts = [(n, batch_id) for batch_id, n in self._batches.items()]
            counted = _COUNT_IN_BATCH.run(conn, counts)
            invariant(counted == len(counts), "a batch was settled while a payment was in flight")
        for verdict, payment_id in self._verdicts:  # rare: only where a rule fired
            assert verdict.keep is not None  # for mypy
            verdict.keep(conn, payment_id)
        self._verdicts = []
        self._payments, self._events, self._moves = [], [], []
        self._postings, self._answers, self._batches = [], [], Counter()


def write_payments(s: Session, payments: Sequence[NewPayment]) -> list[Recorded]:
    """The group committer's bulk writer: a batch of payments in one unit of work."""
    book = Book.of(s)
    recorded = book.record(payments)
    book.flush()
    return recorded
