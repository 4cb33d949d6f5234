"""Customer history: a member's purchases, visits, favourite products and spend; the
merchant's members in segments by recency, frequency and value (RFM); lists of members
to download as CSV or XLSX (docs/members.md, "Customer history").

Every figure counts paid orders only: a sale adds its total, a return takes its total
off. "The last 365 days" end now. A visit is a day (Shanghai) with at least one paid
sale.

RFM scores, each 0 to 3 (``RECENCY_DAYS``, ``FREQUENCY``, ``VALUE_MINOR``):

- recency, days since the last paid sale: 30 or fewer 3, 90 or fewer 2, 365 or fewer 1,
  else (or never) 0;
- frequency, paid sales in the last 365 days: 12 or more 3, 4 or more 2, 1 or more 1;
- value, spend in the last 365 days: 3,000 yuan or more 3, 500 or more 2, more than 0 1.

Segments (``segment``), the first that fits: champions (R 3, F 3, V 2 or more), loyal
(R and F 2 or more), new (R 3, one sale), promising (R 2 or more), at risk (F 2 or more,
R 1 or less), hibernating (bought before, not lately), prospects (never bought).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.merchants.models import Shop
from tillpoint.store import loyalty
from tillpoint.store import loyalty_rules as lr
from tillpoint.store.member_models import (
    ConsentPurpose,
    Member,
    MemberConsent,
    MemberStatus,
    MemberTag,
)
from tillpoint.store.members import visible_member
from tillpoint.store.models import Order, OrderKind, OrderLine, OrderStatus

if TYPE_CHECKING:
    from tillpoint.core.sheets import Column

RECENCY_DAYS = (30, 90, 365)  # at most this many days since the last sale: 3, 2, 1
FREQUENCY = (12, 4, 1)  # at least this many sales in 365 days: 3, 2, 1
VALUE_MINOR = (300_000, 50_000, 1)  # at least this spend in 365 days: 3, 2, 1
YEAR = timedelta(days=365)
FAVOURITES = 5
RECENT = 20
CHUNK = 500  # members read at a time for a list's file


class Segment(StrEnum):
    CHAMPIONS = "champions"
    LOYAL = "loyal"
    NEW = "new"
    PROMISING = "promising"
    AT_RISK = "at_risk"
    HIBERNATING = "hibernating"
    PROSPECTS = "prospects"


SEGMENT_LABELS = {
    Segment.CHAMPIONS: N_("Champions"),
    Segment.LOYAL: N_("Loyal"),
    Segment.NEW: N_("New members"),
    Segment.PROMISING: N_("Promising"),
    Segment.AT_RISK: N_("At risk"),
    Segment.HIBERNATING: N_("Hibernating"),
    Segment.PROSPECTS: N_("Prospects"),
}


def recency_score(days: int | None) -> int:
    if days is None:
        return 0
    return next((3 - i for i, limit in enumerate(RECENCY_DAYS) if days <= limit), 0)


def _at_least(value: int, limits: tuple[int, int, int]) -> int:
    return next((3 - i for i, limit in enumerate(limits) if value >= limit), 0)


def segment(r: int, f: int, v: int, ever: bool) -> Segment:
    """A member's segment from their scores, and whether they ever bought."""
    if not ever:
        return Segment.PROSPECTS
    if r == 3 and f == 3 and v >= 2:
        return Segment.CHAMPIONS
    if r >= 2 and f >= 2:
        return Segment.LOYAL
    if r == 3 and f == 1:
        return Segment.NEW
    if r >= 2:
        return Segment.PROMISING
    if f >= 2:
        return Segment.AT_RISK
    return Segment.HIBERNATING


@dataclass(frozen=True)
class Figures:
    """One member's figures, as the segments need them."""

    member_id: int
    last_sale: datetime | None
    sales_365d: int
    spend_365d_minor: int

    def rfm(self, now: datetime) -> tuple[int, int, int, Segment]:
        days = None if self.last_sale is None else (now - self.last_sale).days
        r = recency_score(days)
        f = _at_least(self.sales_365d, FREQUENCY)
        v = _at_least(self.spend_365d_minor, VALUE_MINOR)
        return r, f, v, segment(r, f, v, self.last_sale is not None)


def _figures(
    s: Session, merchant_id: int, now: datetime, ids: Sequence[int] | None
) -> dict[int, Figures]:
    since = now - YEAR
    sale, recent = Order.kind == OrderKind.SALE, Order.paid_at >= since
    q = (
        select(
            Order.member_id,
            func.max(case((sale, Order.paid_at))),
            func.sum(case((sale & recent, 1), else_=0)),
            func.sum(
                case((recent & sale, Order.total_minor), (recent, -Order.total_minor), else_=0)
            ),
        )
        .where(
            Order.merchant_id == merchant_id,
            Order.member_id.is_not(None),
            Order.status == OrderStatus.PAID,
        )
        .group_by(Order.member_id)
    )
    if ids is not None:
        q = q.where(Order.member_id.in_(ids))
    found = {}
    for member_id, last, sales, spent in s.execute(q):
        last_at = None
        if last is not None:
            last_at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
            if last_at.tzinfo is None:
                last_at = last_at.replace(tzinfo=now.tzinfo)
        found[int(member_id)] = Figures(int(member_id), last_at, int(sales or 0), int(spent or 0))
    return found


# --- views --------------------------------------------------------------------------------------


class Favourite(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: int | None
    name: str
    quantity_milli: int = Field(description="Bought, less returned")
    net_minor: int = Field(description="Paid for it, less returned")


class RecentOrder(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: OrderKind
    receipt_no: str | None
    shop_number: int
    paid_at: datetime | None
    total_minor: int


class History(BaseModel):
    """A member's customer history."""

    model_config = ConfigDict(frozen=True)

    member_id: int
    spend_minor: int = Field(description="All paid sales less returns")
    spend_365d_minor: int
    sales: int
    returns: int
    visits: int = Field(description="Days with a paid sale")
    first_sale_at: datetime | None
    last_sale_at: datetime | None
    average_sale_minor: int = Field(description="Sales' totals over their number, rounded half up")
    recency: int = Field(description="RFM score, 0-3")
    frequency: int = Field(description="RFM score, 0-3")
    value: int = Field(description="RFM score, 0-3")
    segment: Segment
    favourites: list[Favourite]
    months: list[tuple[str, int]] = Field(description="Spend in each of the last 12 months")
    recent: list[RecentOrder]


class SegmentCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    segment: Segment
    members: int
    spend_365d_minor: int


class CrmService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def history(self, member_id: int, *, merchant_id: int | None) -> History:
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            m = visible_member(s, member_id, merchant_id)
            paid = list(
                s.execute(
                    select(Order.id, Order.kind, Order.total_minor, Order.paid_at)
                    .where(Order.member_id == m.id, Order.status == OrderStatus.PAID)
                    .order_by(Order.paid_at)
                )
            )
            sales = [(i, t, at) for i, k, t, at in paid if k is OrderKind.SALE]
            spend = sum(t if k is OrderKind.SALE else -t for _i, k, t, _at in paid)
            figures = _figures(s, m.merchant_id, now, [m.id]).get(m.id, Figures(m.id, None, 0, 0))
            r, f, v, seg = figures.rfm(now)
            days = {at.astimezone(BUSINESS_TZ).date() for _i, _t, at in sales if at}
            favourites = self._favourites(s, m.id)
            return History(
                member_id=m.id,
                spend_minor=spend,
                spend_365d_minor=figures.spend_365d_minor,
                sales=len(sales),
                returns=len(paid) - len(sales),
                visits=len(days),
                first_sale_at=sales[0][2] if sales else None,
                last_sale_at=sales[-1][2] if sales else None,
                average_sale_minor=(
                    (2 * sum(t for _i, t, _at in sales) + len(sales)) // (2 * len(sales))
                    if sales
                    else 0
                ),
                recency=r,
                frequency=f,
                value=v,
                segment=seg,
                favourites=favourites,
                months=_months(paid, now),
                recent=self._recent(s, m.id),
            )

    @staticmethod
    def _favourites(s: Session, member_id: int) -> list[Favourite]:
        sold = (
            select(
                OrderLine.product_id,
                func.max(OrderLine.name),
                func.sum(OrderLine.quantity_milli - OrderLine.returned_milli),
                func.sum(
                    OrderLine.amount_minor
                    - OrderLine.order_discount_minor
                    - (OrderLine.amount_minor - OrderLine.order_discount_minor)
                    * OrderLine.returned_milli
                    / OrderLine.quantity_milli
                ),
            )
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.member_id == member_id,
                Order.status == OrderStatus.PAID,
                Order.kind == OrderKind.SALE,
            )
            .group_by(OrderLine.product_id)
        )
        rows = [
            Favourite(product_id=p, name=n, quantity_milli=int(q or 0), net_minor=int(a or 0))
            for p, n, q, a in s.execute(sold)
        ]
        rows = [x for x in rows if x.quantity_milli > 0]
        rows.sort(key=lambda x: (-x.net_minor, -x.quantity_milli, x.name))
        return rows[:FAVOURITES]

    @staticmethod
    def _recent(s: Session, member_id: int) -> list[RecentOrder]:
        return [
            RecentOrder(
                id=o.id,
                kind=o.kind,
                receipt_no=o.receipt_no,
                shop_number=n,
                paid_at=o.paid_at,
                total_minor=o.total_minor,
            )
            for o, n in s.execute(
                select(Order, Shop.number)
                .join(Shop, Shop.id == Order.shop_id)
                .where(Order.member_id == member_id, Order.status == OrderStatus.PAID)
                .order_by(Order.id.desc())
                .limit(RECENT)
            )
        ]

    def segments(self, merchant_id: int) -> list[SegmentCount]:
        """How many of the merchant's members are in each segment, and their spend."""
        now = self.ctx.now()
        counts = {seg: [0, 0] for seg in Segment}
        with self.ctx.db.read() as s:
            figures = _figures(s, merchant_id, now, None)
            ids = s.scalars(
                select(Member.id).where(
                    Member.merchant_id == merchant_id, Member.status == MemberStatus.ACTIVE
                )
            )
            for member_id in ids:
                fig = figures.get(member_id) or Figures(member_id, None, 0, 0)
                seg = fig.rfm(now)[3]
                counts[seg][0] += 1
                counts[seg][1] += fig.spend_365d_minor
        return [
            SegmentCount(segment=k, members=n, spend_365d_minor=v) for k, (n, v) in counts.items()
        ]

    def member_list(
        self, merchant_id: int, *, segment_: Segment | None = None, tag: str | None = None
    ) -> MemberTable:
        return MemberTable(self.ctx, merchant_id, segment_, tag)


def _months(paid: Sequence[Any], now: datetime) -> list[tuple[str, int]]:
    """Spend in each of the last 12 months (Shanghai), oldest first: ``("2026-01", n)``."""
    today = now.astimezone(BUSINESS_TZ).date()
    months: list[tuple[int, int]] = []
    y, mo = today.year, today.month
    for _month in range(12):
        months.append((y, mo))
        y, mo = (y, mo - 1) if mo > 1 else (y - 1, 12)
    months.reverse()
    totals = dict.fromkeys(months, 0)
    for _i, kind, total, at in paid:
        if at is None:
            continue
        d = at.astimezone(BUSINESS_TZ).date()
        key = (d.year, d.month)
        if key in totals:
            totals[key] += total if kind is OrderKind.SALE else -total
    return [(f"{y:04d}-{mo:02d}", v) for (y, mo), v in totals.items()]


# --- lists of members, as files ----------------------------------------------------------------

COLUMNS = (
    N_("Member ID"),
    N_("Mobile"),
    N_("Name"),
    N_("Tags"),
    N_("Level"),
    N_("Points"),
    N_("Segment"),
    N_("Last sale"),
    N_("Sales (365 days)"),
    N_("Spend (365 days)"),
    N_("Marketing consent"),
    N_("Signed up"),
)
WIDTHS = (10, 14, 16, 24, 10, 10, 14, 12, 10, 14, 10, 12)


class MemberTable:
    """The merchant's active members (a segment's, a tag's) as rows of cells: a header,
    then one list a member, read a chunk at a time. Mobile numbers masked."""

    def __init__(
        self, ctx: Context, merchant_id: int, segment_: Segment | None, tag: str | None
    ) -> None:
        self.ctx, self.merchant_id, self.segment, self.tag = ctx, merchant_id, segment_, tag

    def header(self) -> list[str]:
        return [_(c) for c in COLUMNS]

    def rows(self) -> Iterator[list[Any]]:
        now, after = self.ctx.now(), 0
        yes, no = _("yes"), _("no")
        while True:
            with self.ctx.db.read() as s:
                levels = loyalty.levels_of(s, self.merchant_id)
                q = select(Member).where(
                    Member.merchant_id == self.merchant_id,
                    Member.status == MemberStatus.ACTIVE,
                    Member.id > after,
                )
                if self.tag:
                    q = q.where(
                        Member.id.in_(
                            select(MemberTag.member_id).where(
                                MemberTag.merchant_id == self.merchant_id, MemberTag.tag == self.tag
                            )
                        )
                    )
                members = list(s.scalars(q.order_by(Member.id).limit(CHUNK)))
                if not members:
                    return
                ids = [m.id for m in members]
                figures = _figures(s, self.merchant_id, now, ids)
                tags: dict[int, list[str]] = {}
                for member_id, t in s.execute(
                    select(MemberTag.member_id, MemberTag.tag)
                    .where(MemberTag.member_id.in_(ids))
                    .order_by(MemberTag.tag)
                ):
                    tags.setdefault(member_id, []).append(t)
                marketing = set(
                    s.scalars(
                        select(MemberConsent.member_id).where(
                            MemberConsent.member_id.in_(ids),
                            MemberConsent.purpose == ConsentPurpose.MARKETING,
                            MemberConsent.withdrawn_at.is_(None),
                        )
                    )
                )
            for m in members:
                fig = figures.get(m.id) or Figures(m.id, None, 0, 0)
                seg = fig.rfm(now)[3]
                if self.segment is not None and seg is not self.segment:
                    continue
                level = lr.level_for(fig.spend_365d_minor, levels)
                yield [
                    m.id,
                    m.mobile_masked,
                    m.name,
                    " ".join(tags.get(m.id, [])),
                    level.name if level else None,
                    m.points,
                    _(SEGMENT_LABELS[seg]),
                    _day(fig.last_sale),
                    fig.sales_365d,
                    Money(fig.spend_365d_minor).to_decimal(),
                    yes if m.id in marketing else no,
                    _day(m.created_at),
                ]
            after = members[-1].id


def _day(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(BUSINESS_TZ).date().isoformat()


def csv_file(table: MemberTable) -> Iterator[bytes]:
    """The list as CSV (UTF-8 with a byte-order mark, as Excel reads Chinese), made as
    the rows come; a text a spreadsheet would run as a formula gets an apostrophe."""
    from tillpoint.core.sheets import csv_pieces

    return csv_pieces(table.rows(), str, table.header(), _columns())


def xlsx_file(table: MemberTable, sheet_name: str) -> Iterator[bytes]:
    """The list as an XLSX workbook written as a stream: spend a number with two
    decimals, counts numbers, the rest text."""
    from tillpoint.core.sheets import xlsx_pieces

    return xlsx_pieces(table.rows(), str, table.header(), _columns(), sheet_name=sheet_name)


# Each cell of a member's row (``MemberTable.rows``): id, mobile, name, tags, level,
# points, segment, last sale, sales, spend, marketing consent, joined.
_KINDS = ("number", "text", "text", "text", "text", "number", "text", "text", "number",
          "money", "text", "text")  # fmt: skip


def _columns() -> list[Column]:
    from tillpoint.core.sheets import Column

    return [
        Column(title, kind, itemgetter(n), width)
        for n, (title, kind, width) in enumerate(zip(COLUMNS, _KINDS, WIDTHS, strict=True))
    ]


def file_name(merchant_label: str, fmt: str, today: date) -> str:
    return f"members-{merchant_label}-{today.isoformat()}.{fmt}"
