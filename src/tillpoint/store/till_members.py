"""What a till keeps of the members (docs/members.md, "At the till"): the programme's
terms it prices with, the member prices, and a snapshot of the members for selling
offline.

**The mobile number is never in it**, not even hashed. A number has 11 digits, from
13x to 19x: about 7 x 10^9 possibilities, which a laptop hashes through in minutes.
A hash the browser could compute itself (a salted SHA-256, the salt given to the till)
would be the number in clear to anyone who copies the browser's storage; a keyed hash
(the server's HMAC) cannot be computed in the browser at all. So the snapshot carries
what the till shows anyway, the masked number (``138****5678``: the first three and
the last four digits), and the page, offline, masks the number the cashier types the
same way and lists the members it matches (rarely more than one in a merchant's
members: it then shows their names, and the cashier asks). The four hidden digits
are never in the browser.

Nothing here writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.store import loyalty
from tillpoint.store import loyalty_rules as lr
from tillpoint.store.member_models import (
    Member,
    MemberPrice,
    MemberScope,
    MemberStatus,
    ShopPointsRate,
)

SNAPSHOT_LIMIT = 5_000  # members in one page of the snapshot
MAX_MEMBER_PRICES = 100_000
# Changes are read from a little before the last snapshot's time: a member written in a
# transaction that began before it but committed after is not missed.
OVERLAP = timedelta(minutes=5)


class TillProgramme(BaseModel):
    """The programme's terms a till needs to sell to members and sign them up."""

    model_config = ConfigDict(frozen=True)

    scope: MemberScope
    points_per_yuan: Decimal = Field(description="This shop's points per yuan")
    redeem_points: int
    redeem_minor: int
    notice_version: str = Field(description="The privacy notice a sign-up consents to")
    notice_text: str


class TillMemberPrice(BaseModel):
    model_config = ConfigDict(frozen=True)

    product_id: int
    price_minor: int


class SnapshotMember(BaseModel):
    """A member as the till keeps them offline: no number, only its masked form."""

    model_config = ConfigDict(frozen=True)

    id: int
    status: MemberStatus = Field(description="erased: the till forgets them")
    mobile: str | None = Field(description="Masked: 138****5678, what the till matches")
    name: str | None
    level: str | None
    level_percent: str | None = Field(description="Off list prices, at their level now")
    points: int
    updated_at: datetime


class MemberSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    object: Literal["member_snapshot"] = "member_snapshot"
    as_of: datetime = Field(description="Send it back as since= for the changes after it")
    programme: TillProgramme
    member_prices: list[TillMemberPrice]
    members: list[SnapshotMember]
    next_after_id: int | None = Field(description="More members: ask again with after_id=")


class TillMembers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def programme(self, merchant_id: int, shop_id: int) -> TillProgramme:
        with self.ctx.db.read() as s:
            return _programme(s, merchant_id, shop_id)

    def member_prices(self, merchant_id: int) -> list[TillMemberPrice]:
        with self.ctx.db.read() as s:
            return _prices(s, merchant_id)

    def snapshot(
        self,
        merchant_id: int,
        shop_id: int,
        *,
        since: datetime | None = None,
        after_id: int = 0,
        limit: int = SNAPSHOT_LIMIT,
    ) -> MemberSnapshot:
        """The members a till of the shop may sell to (the merchant's; the shop's own when
        members are each shop's), by id from ``after_id``, with their level now; with
        ``since``, only those changed since (erased ones too, for the till to forget)."""
        if not 1 <= limit <= SNAPSHOT_LIMIT:
            raise InvalidInput(
                "snapshot.limit", N_("A page of the snapshot is 1 to {max} members"),
                max=SNAPSHOT_LIMIT,
            )  # fmt: skip
        if not 0 <= after_id < 2**62:
            raise InvalidInput("snapshot.after", N_("after_id is a member's id"))
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            programme = _programme(s, merchant_id, shop_id)
            q = select(Member).where(Member.merchant_id == merchant_id, Member.id > after_id)
            if programme.scope is MemberScope.SHOP:
                q = q.where(Member.shop_id == shop_id)
            if since is None:
                q = q.where(Member.status == MemberStatus.ACTIVE)
            else:
                q = q.where(Member.updated_at >= since - OVERLAP)
            rows = list(s.scalars(q.order_by(Member.id).limit(limit + 1)))
            more = len(rows) > limit
            rows = rows[:limit]
            spent = loyalty.spends(
                s, [m.id for m in rows], now - timedelta(days=loyalty.SPEND_DAYS)
            )
            levels = loyalty.levels_of(s, merchant_id)
            members = []
            for m in rows:
                level = lr.level_for(spent.get(m.id, 0), levels)
                members.append(
                    SnapshotMember(
                        id=m.id, status=m.status, mobile=m.mobile_masked, name=m.name,
                        level=level.name if level else None,
                        level_percent=str(level.discount_percent) if level else None,
                        points=m.points, updated_at=m.updated_at,
                    )
                )  # fmt: skip
            return MemberSnapshot(
                as_of=now,
                programme=programme,
                member_prices=_prices(s, merchant_id) if after_id == 0 else [],
                members=members,
                next_after_id=rows[-1].id if more else None,
            )


def _programme(s: Session, merchant_id: int, shop_id: int) -> TillProgramme:
    st = loyalty.settings_of(s, merchant_id)
    shop_rate = s.scalar(
        select(ShopPointsRate.points_per_yuan).where(ShopPointsRate.shop_id == shop_id)
    )
    return TillProgramme(
        scope=st.scope,
        points_per_yuan=st.points_per_yuan if shop_rate is None else shop_rate,
        redeem_points=st.redeem_points,
        redeem_minor=st.redeem_minor,
        notice_version=st.notice_version,
        notice_text=st.notice_text,
    )


def _prices(s: Session, merchant_id: int) -> list[TillMemberPrice]:
    return [
        TillMemberPrice(product_id=p, price_minor=m)
        for p, m in s.execute(
            select(MemberPrice.product_id, MemberPrice.price_minor)
            .where(MemberPrice.merchant_id == merchant_id)
            .order_by(MemberPrice.product_id)
            .limit(MAX_MEMBER_PRICES)
        )
    ]
