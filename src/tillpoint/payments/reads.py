"""What the payment rules read, as plain data: the I/O at the rules' edge.

The hot path's reads (a request's stored answers, a card's recent refusals, a
merchant's takings on the day) are statements built once, run as ``HotRead``s
(core/db.py) on SQLite; the reads of voids, refunds, completions and reversals give an
``Original``, never an ORM object.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select
from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.merchants.fees import Rate, plan_in_force, plan_rate
from tillpoint.merchants.models import PaymentMethod
from tillpoint.payments.models import Payment, PaymentKind, PaymentStatus, TerminalRequest
from tillpoint.payments.rules import (
    CARD_TESTING_CODES,
    CARD_TESTING_WINDOW,
    COUNTED,
    Original,
    RequestKey,
)
from tillpoint.terminals.models import TerminalBatch

DAY_TOTAL_RESEED_S = 60.0
Reader = Session | Connection

# The hot path's reads, built once with bind parameters: building a statement costs
# more than running it.
REQUEST_AND_REVERSAL = select(
    TerminalRequest.mti, TerminalRequest.fingerprint, TerminalRequest.answer
).where(
    TerminalRequest.terminal_id == bindparam("terminal_id"),
    TerminalRequest.batch_no == bindparam("batch_no"),
    TerminalRequest.stan == bindparam("stan"),
    (TerminalRequest.mti == bindparam("mti")) | (TerminalRequest.mti == "0400"),
)
CARD_REFUSALS = select(func.count()).where(
    Payment.pan_token == bindparam("token"),
    Payment.status == PaymentStatus.DECLINED,
    # ORed equalities, not IN: an IN list is re-rendered for every execution
    or_(*(Payment.response_code == code for code in CARD_TESTING_CODES)),
    Payment.created_at >= bindparam("since"),
)
TAKEN_ON_DAY = select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
    Payment.merchant_id == bindparam("merchant_id"),
    Payment.business_date == bindparam("day"),
    Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION)),
    Payment.status.in_(COUNTED),
)
_STORED_ANSWER = select(TerminalRequest.fingerprint, TerminalRequest.answer).where(
    TerminalRequest.terminal_id == bindparam("terminal_id"),
    TerminalRequest.batch_no == bindparam("batch_no"),
    TerminalRequest.stan == bindparam("stan"),
    TerminalRequest.mti == bindparam("mti"),
)
# An Original's fields, in order.
_ORIGINAL = select(
    Payment.id, Payment.kind, Payment.status, Payment.rrn, Payment.auth_code,
    Payment.amount_minor, Payment.refunded_minor, Payment.fee_minor, Payment.currency,
    Payment.method, Payment.card_org, Payment.domestic, Payment.pan_masked,
    Payment.pan_token, Payment.entry_mode, Payment.business_date, Payment.original_id,
    Payment.merchant_id, Payment.shop_id, Payment.terminal_id,
)  # fmt: skip


def _original(row: Sequence[Any] | None) -> Original | None:
    return None if row is None else Original(*row)


def stored_rows(
    db: Database, conn: Connection, terminal_id: int, key: RequestKey
) -> list[tuple[Any, ...]]:
    """The stored request with this key and any reversal of it (the duplicate rule)."""
    params = {"terminal_id": terminal_id, "batch_no": key.batch_no, "stan": key.stan,
              "mti": key.mti}  # fmt: skip
    return db.hot(REQUEST_AND_REVERSAL).rows(conn, params)


def stored_answer(
    s: Reader, terminal_id: int, key: RequestKey
) -> tuple[str, dict[str, Any]] | None:
    """The fingerprint and answer stored under exactly this request's key."""
    params = {"terminal_id": terminal_id, "batch_no": key.batch_no, "stan": key.stan,
              "mti": key.mti}  # fmt: skip
    row = s.execute(_STORED_ANSWER, params).first()
    return None if row is None else (row[0], row[1])


def recent_refusals(db: Database, conn: Connection, token: str, now: datetime) -> int:
    """How often this card was refused, for a reason card testing produces, lately."""
    params = {"token": token, "since": now - CARD_TESTING_WINDOW}
    return int(db.hot(CARD_REFUSALS).scalar(conn, params) or 0)


def taken_on_day(s: Reader, merchant_id: int, day: date) -> int:
    """A merchant's standing captures on a business day (its daily limit)."""
    return int(s.execute(TAKEN_ON_DAY, {"merchant_id": merchant_id, "day": day}).scalar() or 0)


class DayTotals:
    """Each merchant's takings on the open day, for its daily limit (61).

    Summing the day's payments for every sale would cost more with every sale; the sum
    is read once, then kept up by this process's own captures, and read again after
    ``reseed_s`` (for what other processes took meanwhile) or at once after a void or
    reversal moved one of the merchant's captures."""

    def __init__(self, reseed_s: float = DAY_TOTAL_RESEED_S) -> None:
        self.reseed_s = reseed_s
        self._day: date | None = None
        self._totals: dict[int, tuple[int, float]] = {}  # merchant id: (minor, read at)

    def taken(self, conn: Connection, merchant_id: int, day: date) -> int:
        if day != self._day:
            self._day, self._totals = day, {}
        hit = self._totals.get(merchant_id)
        if hit is not None and time.monotonic() - hit[1] < self.reseed_s:
            return hit[0]
        read_at = time.monotonic()
        taken = taken_on_day(conn, merchant_id, day)
        self._totals[merchant_id] = (taken, read_at)
        return taken

    def add(self, merchant_id: int, day: date, minor: int) -> None:
        hit = self._totals.get(merchant_id)
        if day == self._day and hit is not None:
            self._totals[merchant_id] = (hit[0] + minor, hit[1])

    def forget(self, merchant_id: int) -> None:
        self._totals.pop(merchant_id, None)


# --- originals ---------------------------------------------------------------------


def original_in_batch(
    s: Reader, terminal_id: int, batch_no: str, rrn: str, kind: PaymentKind
) -> Original | None:
    """The payment a void names. A pre-authorisation spans days (a hotel stay), so any
    of this terminal's may be voided; sales and completions only in the open batch, as
    their totals are not yet settled."""
    query = (
        _ORIGINAL.join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
        .where(Payment.rrn == rrn, Payment.terminal_id == terminal_id, Payment.kind == kind)
    )  # fmt: skip
    if kind is not PaymentKind.PREAUTH:
        query = query.where(TerminalBatch.batch_no == batch_no, TerminalBatch.settled_at.is_(None))
    return _original(s.execute(query).first())


def hold(s: Reader, merchant_id: int, auth_code: str, pan_token: str) -> Original | None:
    """The merchant's newest pre-authorisation with this authorisation code and card."""
    query = (
        _ORIGINAL.where(
            Payment.merchant_id == merchant_id,
            Payment.kind == PaymentKind.PREAUTH,
            Payment.auth_code == auth_code,
            Payment.pan_token == pan_token,
        )
        .order_by(Payment.id.desc())
        .limit(1)
    )
    return _original(s.execute(query).first())


def capture_by_rrn(s: Reader, merchant_id: int, rrn: str) -> Original | None:
    """The merchant's sale or completion with this reference (what a refund names)."""
    query = _ORIGINAL.where(
        Payment.rrn == rrn,
        Payment.merchant_id == merchant_id,
        Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION)),
    )
    return _original(s.execute(query).first())


def answered_in(
    s: Reader, terminal_id: int, key: RequestKey, mti: str
) -> tuple[Original, str | None] | None:
    """The payment an earlier request with this batch and STAN concerned, if any, in an
    open batch, and the RRN that request was answered with (a void's differs from its
    sale's)."""
    row = s.execute(
        _ORIGINAL.add_columns(TerminalRequest.answer)
        .join(TerminalRequest, TerminalRequest.payment_id == Payment.id)
        .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
        .where(
            TerminalBatch.settled_at.is_(None),  # a settled batch is final
            TerminalRequest.terminal_id == terminal_id,
            TerminalRequest.batch_no == key.batch_no,
            TerminalRequest.stan == key.stan,
            TerminalRequest.mti == mti,
        )
    ).first()
    if row is None:
        return None
    original = Original(*row[:-1])
    return original, row[-1].get("rrn")


def originals(
    s: Reader, ids: Sequence[int] = (), *, rrn: str | None = None, lock: bool = True
) -> dict[int, Original]:
    """Payments by id (or the one with ``rrn``), in a writer's unit of work: locked
    against other writers on PostgreSQL (SQLite's writers take turns anyway)."""
    query = (
        _ORIGINAL.where(Payment.rrn == rrn)
        if rrn is not None
        else _ORIGINAL.where(Payment.id.in_(list(ids)))
    )
    if lock:
        query = query.with_for_update()
    rows: Iterable[Sequence[Any]] = s.execute(query)
    found = (Original(*row) for row in rows)
    return {original.id: original for original in found}


def batch_total_rows(
    s: Reader, terminal_id: int, batch_no: str
) -> list[tuple[bool | None, PaymentKind, int, int]]:
    """(domestic, kind, count, amount) of the standing captures and approved refunds of
    a terminal's open batch."""
    debits = (PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED, PaymentStatus.REFUNDED)
    rows = s.execute(
        select(
            Payment.domestic,
            Payment.kind,
            func.count(),
            func.coalesce(func.sum(Payment.amount_minor), 0),
        )
        .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
        .where(
            Payment.terminal_id == terminal_id,
            TerminalBatch.batch_no == batch_no,
            TerminalBatch.settled_at.is_(None),
            (
                Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION))
                & Payment.status.in_(debits)
            )
            | ((Payment.kind == PaymentKind.REFUND) & (Payment.status == PaymentStatus.APPROVED)),
        )
        .group_by(Payment.domestic, Payment.kind)
    ).all()
    return [(domestic, kind, int(count), int(amount)) for domestic, kind, count, amount in rows]


def batch_amounts(s: Reader, terminal_id: int, batch_no: str) -> dict[str, int]:
    """RRN: amount of a batch's captures and refunds that stand (a batch upload's
    counterpart)."""
    rows = s.execute(
        select(Payment.rrn, Payment.amount_minor)
        .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
        .where(
            Payment.terminal_id == terminal_id,
            TerminalBatch.batch_no == batch_no,
            Payment.status.in_(
                (PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED, PaymentStatus.REFUNDED)
            ),
            Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION, PaymentKind.REFUND)),
        )
    )
    return {rrn: int(amount) for rrn, amount in rows}


# --- fee plans -----------------------------------------------------------------------


def rates_in_force(s: Session, merchant_id: int, on: date) -> tuple[int, dict[PaymentMethod, Rate]]:
    """The id of the fee plan a merchant was on at a date, and its rate of every method
    (built once, not for every payment)."""
    plan = plan_in_force(s, merchant_id, on)
    return plan.id, {r.method: plan_rate(plan, r.method) for r in plan.rates}
