"""One merchant's takings (收款): what its shops took on a business day, split by payment
method, shop and terminal, and day by day over the last weeks. The merchant portal's
home shows them; a cashier's are those of its own shop.

Definitions, the same as the console's (payments/tallies.py):

- takings (volume): the amount of sales and completions that stand: approved, partly
  refunded or refunded. A refund is shown apart and does not lower the day's takings;
  voided and reversed payments moved no money.
- count: how many such payments; average ticket: takings / count, rounded half up to a
  fen.
- refunds: approved refunds booked on the day.

The reads use the payments' ``(merchant_id, business_date)`` index: a day of one
merchant, never a scan of the table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from tillpoint.context import Context
from tillpoint.core.money import DEFAULT_CURRENCY
from tillpoint.merchants.models import Shop
from tillpoint.payments.models import Payment, PaymentKind, PaymentStatus
from tillpoint.terminals.models import Terminal

K, S = PaymentKind, PaymentStatus
CAPTURES = (K.SALE, K.COMPLETION)
STANDING = (S.APPROVED, S.PARTLY_REFUNDED, S.REFUNDED)
REFUNDS_BOOKED = (S.APPROVED,)


@dataclass(frozen=True)
class Split:
    """One part of a day's takings: a method, a shop or a terminal."""

    key: str  # the method's id, the shop's number, the TID
    label: str  # the shop's name; otherwise the key
    count: int
    volume_minor: int


@dataclass(frozen=True)
class DayTakings:
    day: date
    currency: str
    count: int = 0
    volume_minor: int = 0
    refunds_count: int = 0
    refunds_minor: int = 0
    by_method: list[Split] = field(default_factory=list)
    by_shop: list[Split] = field(default_factory=list)
    by_terminal: list[Split] = field(default_factory=list)

    @property
    def average_minor(self) -> int | None:
        """The average ticket, rounded half up to a minor unit (None: no payment)."""
        if not self.count:
            return None
        return (2 * self.volume_minor + self.count) // (2 * self.count)


@dataclass(frozen=True)
class Received:
    """A payment received (收款到账): when, how much, how and at which terminal."""

    payment_id: int
    at: datetime
    amount_minor: int
    currency: str
    method: str
    tid: str


@dataclass(frozen=True)
class DailyTotal:
    day: date
    count: int
    volume_minor: int


def _largest_first(splits: list[Split]) -> list[Split]:
    return sorted(splits, key=lambda x: (-x.volume_minor, x.key))


class TakingsService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def day(self, merchant_id: int, day: date, *, shop_id: int | None = None) -> DayTakings:
        """The merchant's takings on ``day`` (of one shop, if ``shop_id``)."""
        p = Payment
        where = [p.merchant_id == merchant_id, p.business_date == day]
        if shop_id is not None:
            where.append(p.shop_id == shop_id)
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(p.kind, p.status, p.method, p.shop_id, p.terminal_id, p.currency,
                       func.count(), func.coalesce(func.sum(p.amount_minor), 0))
                .where(*where)
                .group_by(p.kind, p.status, p.method, p.shop_id, p.terminal_id, p.currency)
            ).all()  # fmt: skip
            shops = {
                sid: (str(number), name)
                for sid, number, name in s.execute(
                    select(Shop.id, Shop.number, Shop.name).where(Shop.merchant_id == merchant_id)
                )
            }
            tids = {row[4] for row in rows if row[4] is not None}
            terminals = {  # noqa: C416 (a Result has keys(): dict() would take it as a mapping)
                terminal_id: tid
                for terminal_id, tid in s.execute(
                    select(Terminal.id, Terminal.tid).where(Terminal.id.in_(tids))
                )
            }
        count = volume = refunds_n = refunds = 0
        currency = DEFAULT_CURRENCY
        by_method: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        by_shop: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        by_terminal: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for kind, status, method, sid, tid, cur, n, total in rows:
            currency = cur
            amount = int(total)  # PostgreSQL sums a BIGINT as NUMERIC
            if kind is K.REFUND and status in REFUNDS_BOOKED:
                refunds_n += n
                refunds += amount
            if kind not in CAPTURES or status not in STANDING:
                continue
            count += n
            volume += amount
            for bucket, key in (
                (by_method, method.value if method else ""),
                (by_terminal, terminals.get(tid, "") if tid is not None else ""),
            ):
                bucket[key][0] += n
                bucket[key][1] += amount
            by_shop[sid][0] += n
            by_shop[sid][1] += amount
        return DayTakings(
            day=day, currency=currency, count=count, volume_minor=volume,
            refunds_count=refunds_n, refunds_minor=refunds,
            by_method=_largest_first([Split(k, k, n, v) for k, (n, v) in by_method.items()]),
            by_shop=_largest_first([
                Split(shops.get(sid, ("", ""))[0], shops.get(sid, ("", ""))[1], n, v)
                for sid, (n, v) in by_shop.items()
            ]),
            by_terminal=_largest_first([Split(k, k, n, v) for k, (n, v) in by_terminal.items()]),
        )  # fmt: skip

    def daily(
        self, merchant_id: int, last: date, days: int, *, shop_id: int | None = None
    ) -> list[DailyTotal]:
        """The takings of each of the ``days`` business days up to ``last``, oldest
        first; a day without payments is there with zeros."""
        first = last - timedelta(days=days - 1)
        p = Payment
        where = [
            p.merchant_id == merchant_id,
            p.business_date >= first,
            p.business_date <= last,
            p.kind.in_(CAPTURES),
            p.status.in_(STANDING),
        ]
        if shop_id is not None:
            where.append(p.shop_id == shop_id)
        with self.ctx.db.read() as s:
            found = {
                d: (n, v)
                for d, n, v in s.execute(
                    select(p.business_date, func.count(), func.sum(p.amount_minor))
                    .where(*where)
                    .group_by(p.business_date)
                )
            }
        totals = []
        for i in range(days):
            d = first + timedelta(days=i)
            n, v = found.get(d, (0, 0))
            totals.append(DailyTotal(d, int(n), int(v)))
        return totals

    def received(
        self, merchant_id: int, day: date, *, shop_id: int | None = None, limit: int = 8
    ) -> list[Received]:
        """The newest payments received on ``day`` (sales and completions that stand),
        newest first."""
        p = Payment
        where = [
            p.merchant_id == merchant_id,
            p.business_date == day,
            p.kind.in_(CAPTURES),
            p.status.in_(STANDING),
        ]
        if shop_id is not None:
            where.append(p.shop_id == shop_id)
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(p.id, p.created_at, p.amount_minor, p.currency, p.method, Terminal.tid)
                .outerjoin(Terminal, Terminal.id == p.terminal_id)
                .where(*where)
                .order_by(p.id.desc())
                .limit(limit)
            ).all()
        return [
            Received(pid, at, amount, cur, method.value if method else "", tid or "")
            for pid, at, amount, cur, method, tid in rows
        ]
