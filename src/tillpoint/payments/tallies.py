"""The day's figures for the console's dashboard, without scanning the payments.

``payment_tallies`` holds, per (business day, hour in Asia/Shanghai, method, kind,
status, currency), how many payments are in that status now and their amount. A
background pass (``TallyWorker`` under ``tillpoint serve``, every half second) keeps it: it
reads ``payment_events`` after its position (``system_state``), in id order, and moves
each payment from the bucket of the event's ``from_status`` to that of its
``to_status`` (a new payment only enters one). Every transition of a payment writes its
event in the payment's own unit of work (payments/writer.py ``Book.move``), and a
payment's day, hour, method, kind, amount and currency never change, so the tallies are
exactly the payments grouped by their current status. The pass never touches the
payment write path: it reads committed rows and writes its own table.

A read adds the events the pass has not reached yet (at most ``TAIL_LIMIT``, newest
last) to the rows it reads, in the same read transaction: the figures are those of the
last committed payment, not those of the last pass. On PostgreSQL the pass stops before
a hole in the event ids until it is known to be a rolled-back id (``GapTracker``).

Definitions (docs/console.md, "Home"):

- volume: the amount of sales and completions that stand: approved, partly refunded
  or refunded (refunds are shown apart; voided and reversed ones moved no money);
- count: how many such payments;
- refunds: approved refunds booked on the day;
- approval rate: of the sales, pre-authorisations and completions the network answered
  (not pending, expired or canceled QR codes), the share it approved (every status but
  declined and timed out: a voided sale was approved first).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.models import SystemState
from tillpoint.core.money import DEFAULT_CURRENCY
from tillpoint.core.outbox import GapTracker
from tillpoint.merchants.models import Merchant
from tillpoint.payments.models import (
    Payment,
    PaymentEvent,
    PaymentKind,
    PaymentStatus,
    PaymentTally,
)
from tillpoint.terminals.models import Terminal

log = logging.getLogger("tillpoint.tallies")

POSITION_KEY = "payment_tallies.position"
PASS_BATCH = 5000  # events per pass (a catch-up after a restart takes several)
TAIL_LIMIT = 2000  # events after the position a read adds itself (beyond: "catching up")
TICK_S = 0.5  # at 1,000 payments/s a page adds up ~500 events itself, ~10 ms
HOURS = 24

S, K = PaymentStatus, PaymentKind
CAPTURES = frozenset({K.SALE.value, K.COMPLETION.value})
STANDING = frozenset({S.APPROVED.value, S.PARTLY_REFUNDED.value, S.REFUNDED.value})
ATTEMPTS = frozenset({K.SALE.value, K.PREAUTH.value, K.COMPLETION.value})
UNANSWERED = frozenset({S.PENDING.value, S.EXPIRED.value, S.CANCELED.value})
REFUSED = frozenset({S.DECLINED.value, S.TIMED_OUT.value})

Key = tuple[date, int, str, str, str, str]  # day, hour, method, kind, status, currency


def hour_of(at: datetime) -> int:
    """The hour of the day on the wall in Shanghai."""
    return at.astimezone(BUSINESS_TZ).hour


_EVENT_ROWS = (
    select(
        PaymentEvent.id,
        PaymentEvent.from_status,
        PaymentEvent.to_status,
        Payment.business_date,
        Payment.created_at,
        Payment.method,
        Payment.kind,
        Payment.currency,
        Payment.amount_minor,
    )
    .join(Payment, Payment.id == PaymentEvent.payment_id)
    .order_by(PaymentEvent.id)
)


def _add_deltas(deltas: dict[Key, list[int]], rows: Iterable[Any]) -> None:
    for r in rows:
        base = (r.business_date, hour_of(r.created_at), r.method.value if r.method else "",
                r.kind.value)  # fmt: skip
        if r.from_status is not None:
            gone = deltas[(*base, r.from_status.value, r.currency)]
            gone[0] -= 1
            gone[1] -= r.amount_minor
        came = deltas[(*base, r.to_status.value, r.currency)]
        came[0] += 1
        came[1] += r.amount_minor


_TALLIES: Table = PaymentTally.__table__  # type: ignore[assignment]
_KEY_COLUMNS = ("business_date", "hour", "method", "kind", "status", "currency")
_BUMP = (
    update(_TALLIES)
    .where(*(_TALLIES.c[k] == bindparam(f"k_{k}") for k in _KEY_COLUMNS))
    .values(
        count=_TALLIES.c.count + bindparam("d_count"),
        amount_minor=_TALLIES.c.amount_minor + bindparam("d_amount"),
    )
)


def _fold(s: Session, deltas: dict[Key, list[int]]) -> None:
    """Add ``deltas`` to the tallies: one statement for the rows there are, one for the
    new ones (a catch-up folds thousands of keys at once)."""
    changes = {k: v for k, v in deltas.items() if v != [0, 0]}
    if not changes:
        return
    conn = s.connection()
    days = {k[0] for k in changes}
    there = {
        tuple(row)
        for row in conn.execute(
            select(*(_TALLIES.c[k] for k in _KEY_COLUMNS)).where(_TALLIES.c.business_date.in_(days))
        )
    }
    bumps, news = [], []
    for key, (count, amount) in changes.items():
        if key in there:
            params = {f"k_{k}": v for k, v in zip(_KEY_COLUMNS, key, strict=True)}
            bumps.append({**params, "d_count": count, "d_amount": amount})
        else:
            news.append({**dict(zip(_KEY_COLUMNS, key, strict=True)), "count": count,
                         "amount_minor": amount})  # fmt: skip
    if bumps:
        conn.execute(_BUMP, bumps)
    if news:
        conn.execute(insert(_TALLIES), news)


def _position(s: Session) -> int | None:
    value = s.scalar(select(SystemState.value).where(SystemState.key == POSITION_KEY))
    return None if value is None else int(value)


@dataclass
class DayFigures:
    """One business day's figures in one currency (amounts in minor units)."""

    day: date
    currency: str = DEFAULT_CURRENCY
    volume_minor: int = 0
    count: int = 0
    refunds_minor: int = 0
    refunds_count: int = 0
    attempts: int = 0  # answered sales, pre-authorisations, completions
    approved: int = 0  # of those, approved by the network
    by_method: dict[str, int] = field(default_factory=dict)  # method ("" none) -> volume
    by_hour: list[int] = field(default_factory=lambda: [0] * HOURS)  # volume per hour

    @property
    def approval_rate(self) -> Decimal | None:
        """Percent, one decimal; None when nothing was answered."""
        if not self.attempts:
            return None
        return (Decimal(100 * self.approved) / self.attempts).quantize(Decimal("0.1"))

    def add(self, hour: int, method: str, kind: str, status: str, count: int, amount: int) -> None:
        if kind in CAPTURES and status in STANDING:
            self.volume_minor += amount
            self.count += count
            self.by_method[method] = self.by_method.get(method, 0) + amount
            self.by_hour[hour] += amount
        if kind == K.REFUND.value and status == S.APPROVED.value:
            self.refunds_minor += amount
            self.refunds_count += count
        if kind in ATTEMPTS and status not in UNANSWERED:
            self.attempts += count
            if status not in REFUSED:
                self.approved += count


@dataclass(frozen=True)
class Figures:
    days: dict[date, DayFigures]
    behind: bool  # more events than TAIL_LIMIT wait for the pass: figures lag a little


@dataclass(frozen=True)
class FeedRow:
    """One payment as the live feed shows it: never a card number."""

    payment_id: int
    created_at: datetime
    mid: str
    merchant_name: str
    tid: str | None
    method: str | None
    kind: str
    status: str
    amount_minor: int
    currency: str


class PaymentTallies:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.gaps = GapTracker()

    # --- the background pass ---------------------------------------------------------

    def run_pass(self, limit: int = PASS_BATCH) -> int:
        """Fold the next events into the tallies; how many were folded. Two passes at
        once (two processes) cannot both fold the same events: the position moves only
        from the value the pass read, in the same transaction as the tallies."""
        with self.ctx.db.read() as s:
            start = _position(s)
            rows = s.execute(_EVENT_ROWS.where(PaymentEvent.id > (start or 0)).limit(limit)).all()
        position = start or 0
        new_position = self.gaps.advance(position, [r.id for r in rows])
        folded = [r for r in rows if r.id <= new_position]
        if start is not None and new_position == position:
            return 0
        deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
        _add_deltas(deltas, folded)
        with self.ctx.db.transaction(invalidate=False) as s:
            if start is None:
                if _position(s) is not None:
                    return 0  # another pass began meanwhile
                s.add(SystemState(key=POSITION_KEY, value=str(new_position)))
                s.flush()
            else:
                moved = s.execute(
                    update(SystemState)
                    .where(SystemState.key == POSITION_KEY, SystemState.value == str(position))
                    .values(value=str(new_position))
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    return 0  # another pass folded these
            _fold(s, deltas)
        return len(folded)

    def catch_up(self, limit: int = PASS_BATCH) -> int:
        """Passes until nothing is left (a seeded or restored database); how many events."""
        total = 0
        while (n := self.run_pass(limit)) > 0:
            total += n
        return total

    # --- reads -------------------------------------------------------------------------

    def figures(self, days: Sequence[date], currency: str = DEFAULT_CURRENCY) -> Figures:
        """The figures of ``days``: the tallies plus the events not folded yet."""
        wanted = set(days)
        with self.ctx.db.read() as s:
            position = _position(s) or 0
            stored = s.execute(
                select(
                    PaymentTally.business_date, PaymentTally.hour, PaymentTally.method,
                    PaymentTally.kind, PaymentTally.status, PaymentTally.count,
                    PaymentTally.amount_minor,
                ).where(PaymentTally.business_date.in_(wanted), PaymentTally.currency == currency)
            ).all()  # fmt: skip
            tail = s.execute(
                _EVENT_ROWS.where(PaymentEvent.id > position).limit(TAIL_LIMIT + 1)
            ).all()
        out = {d: DayFigures(d, currency) for d in days}
        for day, hour, method, kind, status, count, amount in stored:
            out[day].add(hour, method, kind, status, count, amount)
        deltas: dict[Key, list[int]] = defaultdict(lambda: [0, 0])
        _add_deltas(deltas, tail[:TAIL_LIMIT])
        for (day, hour, method, kind, status, cur), (count, amount) in deltas.items():
            if day in wanted and cur == currency:
                out[day].add(hour, method, kind, status, count, amount)
        return Figures(out, behind=len(tail) > TAIL_LIMIT)

    def newest(self, limit: int = 20, payment_ids: Iterable[int] | None = None) -> list[FeedRow]:
        """The newest payments (or those of ``payment_ids``), newest first, as the feed
        shows them."""
        query = (
            select(
                Payment.id, Payment.created_at, Merchant.mid, Merchant.display_name, Terminal.tid,
                Payment.method, Payment.kind, Payment.status, Payment.amount_minor,
                Payment.currency,
            )
            .join(Merchant, Merchant.id == Payment.merchant_id)
            .outerjoin(Terminal, Terminal.id == Payment.terminal_id)
            .order_by(Payment.id.desc())
            .limit(limit)
        )  # fmt: skip
        if payment_ids is not None:
            query = query.where(Payment.id.in_(list(payment_ids)))
        with self.ctx.db.read() as s:
            rows = s.execute(query).all()
        return [
            FeedRow(
                payment_id=r.id, created_at=r.created_at, mid=r.mid or "",
                merchant_name=r.display_name, tid=r.tid,
                method=r.method.value if r.method else None, kind=r.kind.value,
                status=r.status.value, amount_minor=r.amount_minor,
                currency=r.currency,
            )
            for r in rows
        ]  # fmt: skip

    def position(self) -> int:
        with self.ctx.db.read() as s:
            return _position(s) or 0

    def direct(self, day: date, currency: str = DEFAULT_CURRENCY) -> DayFigures:
        """The same figures counted straight from the payments (tests, checks): a scan of
        the day's payments, never for a page."""
        out = DayFigures(day, currency)
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(
                    Payment.created_at, Payment.method, Payment.kind, Payment.status,
                    func.count(), func.sum(Payment.amount_minor),
                )
                .where(Payment.business_date == day, Payment.currency == currency)
                .group_by(Payment.created_at, Payment.method, Payment.kind, Payment.status)
            ).all()  # fmt: skip
        for at, method, kind, status, count, amount in rows:
            out.add(hour_of(at), method.value if method else "", kind.value, status.value,
                    int(count), int(amount))  # fmt: skip
        return out


class TallyWorker:
    """The pass under ``tillpoint serve``: every ``TICK_S``, off the payment path."""

    def __init__(self, tallies: PaymentTallies) -> None:
        self.tallies = tallies

    async def run(self, every_s: float = TICK_S) -> None:
        while True:
            try:
                while await asyncio.to_thread(self.tallies.run_pass) >= PASS_BATCH:
                    pass  # behind: go on at once
            except Exception:  # keep serving; the next tick tries again
                log.exception("the payment tallies' pass failed; it will try again")
            await asyncio.sleep(every_s)
