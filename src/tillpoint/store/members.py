"""Members: sign-up by mobile number with consent, look-up at the till, a member's
details and tags, consents given and withdrawn, the points ledger and adjustments, a
member's own data as a file, and erasure on request (docs/members.md).

The mobile number is never stored or logged in clear: it is sealed under the keystore
(bound to the member's token), found by its keyed hash (the keystore's HMAC over the
merchant, the shop when members are each shop's own, and the number) and shown masked
(``138****5678``). Errors never name it.

Consent follows China's personal information protection law: signing up needs the
member's consent to ``membership`` (what the merchant's privacy notice, of the version
recorded, says their data is for); ``marketing`` is separate and optional. Each consent
records its purpose, the notice's version, when, through which channel and by whose
hand; withdrawing one records the same. Withdrawing ``membership`` erases the member:
their number, name, birthday and tags go, their coupons are voided and their points
forfeited; the row stays, anonymous, so that the sales it made still add up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Shop
from tillpoint.store import coupons as cp
from tillpoint.store import loyalty
from tillpoint.store import loyalty_rules as lr
from tillpoint.store.catalogue import KEEP, Keep
from tillpoint.store.member_models import (
    Channel,
    ConsentPurpose,
    Coupon,
    CouponOrigin,
    CouponStatus,
    Member,
    MemberConsent,
    MemberScope,
    MemberStatus,
    MemberTag,
    PointsEntry,
    PointsKind,
)
from tillpoint.store.models import Order, OrderLine, OrderStatus

MAX_TAGS = 20  # a member's
MAX_TAG = 30
MAX_NAME = 100
MAX_NOTE = 200
MAX_ADJUST = 10**8  # points, by hand at once
EXPORT_ROWS = 10_000  # of each kind in a member's own file (the newest)
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SPACES = str.maketrans("", "", " -()\u00a0")


def clean_mobile(text: str) -> str:
    """A mainland China mobile number as typed (spaces, dashes, +86 allowed): 11 digits
    from 13x to 19x. The error never repeats it."""
    digits = text.strip().translate(_SPACES)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.match(digits):
        raise InvalidInput(
            "member.mobile", N_("A mobile number is 11 digits, starting 13 to 19 (China)")
        )
    return digits


def mask(mobile: str) -> str:
    """The most a page or a receipt shows: the first three and last four digits."""
    return f"{mobile[:3]}****{mobile[-4:]}"


def clean_tags(tags: list[str] | tuple[str, ...]) -> list[str]:
    cleaned: list[str] = []
    for tag in tags:
        t = " ".join(tag.split())
        if not 0 < len(t) <= MAX_TAG:
            raise InvalidInput("member.tag", N_("A tag is 1 to {max} characters"), max=MAX_TAG)
        if t not in cleaned:
            cleaned.append(t)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput("member.tags", N_("A member has at most {max} tags"), max=MAX_TAGS)
    return cleaned


def clean_name(name: str | None) -> str | None:
    cleaned = " ".join((name or "").split())
    if len(cleaned) > MAX_NAME:
        raise InvalidInput("member.name", N_("A name is at most {max} characters"), max=MAX_NAME)
    return cleaned or None


def check_birthday(day: date | None, today: date) -> date | None:
    if day is not None and not date(1900, 1, 1) <= day <= today:
        raise InvalidInput("member.birthday", N_("A birthday is a day from 1900 to today"))
    return day


# --- in and out ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberIn:
    mobile: str
    consent_membership: bool  # must be True: the member agreed to the notice
    consent_marketing: bool = False
    name: str | None = None
    birthday: date | None = None
    tags: tuple[str, ...] = ()
    shop_number: int | None = None  # where they sign up (required: members per shop)


@dataclass(frozen=True)
class MemberChanges:
    """What an update changes: every field left ``KEEP`` stays as it is."""

    mobile: str | Keep = KEEP
    name: str | Keep | None = KEEP
    birthday: date | Keep | None = KEEP
    tags: tuple[str, ...] | Keep = KEEP


class ConsentView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    purpose: ConsentPurpose
    notice_version: str
    channel: Channel
    granted_by: str
    granted_at: datetime
    withdrawn_channel: Channel | None
    withdrawn_by: str | None
    withdrawn_at: datetime | None


class MemberRow(BaseModel):
    """A member in a list."""

    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["member"] = "member"
    merchant_id: int
    status: MemberStatus
    mobile: str | None = Field(description="Masked: 138****5678 (none once erased)")
    name: str | None
    tags: list[str]
    points: int
    created_at: datetime


class MemberView(BaseModel):
    """A member as the till and the portal see them."""

    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["member"] = "member"
    merchant_id: int
    status: MemberStatus
    mobile: str | None = Field(description="Masked: 138****5678 (none once erased)")
    name: str | None
    birthday: date | None
    tags: list[str]
    shop_number: int | None = Field(description="The shop they signed up at")
    points: int = Field(description="The points ledger's balance")
    points_value_minor: int = Field(description="What the points can take off, at most")
    redeem_points: int = Field(description="Points are redeemed this many at a time ...")
    redeem_minor: int = Field(description="... each taking this much off")
    level: str | None = Field(description="Reached by spend over the last 365 days")
    level_percent: str | None = Field(description="The level's percentage off list prices")
    spend_365d_minor: int = Field(description="Paid over the last 365 days, less returns")
    marketing: bool = Field(description="Agreed to receive offers")
    consents: list[ConsentView]
    coupons: list[cp.CouponView] = Field(description="Coupons usable today")
    channel: Channel = Field(description="Where they signed up")
    created_at: datetime
    erased_at: datetime | None


class PointsEntryView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["points_entry"] = "points_entry"
    kind: PointsKind
    points: int = Field(description="+ in, - out")
    balance: int = Field(description="The balance after this entry")
    amount_minor: int | None = Field(description="Redeemed (or given back): the money")
    order_id: int | None
    receipt_no: str | None
    note: str | None
    created_by: str
    created_at: datetime


# --- the service -------------------------------------------------------------------------------


def _consent_view(c: MemberConsent) -> ConsentView:
    return ConsentView(
        id=c.id,
        purpose=c.purpose,
        notice_version=c.notice_version,
        channel=c.channel,
        granted_by=c.granted_by,
        granted_at=c.granted_at,
        withdrawn_channel=c.withdrawn_channel,
        withdrawn_by=c.withdrawn_by,
        withdrawn_at=c.withdrawn_at,
    )


def visible_member(
    s: Session, member_id: int, merchant_id: int | None, *, lock: bool = False
) -> Member:
    m = s.get(Member, member_id, with_for_update=lock) if 0 < member_id < 2**62 else None
    if m is None or (merchant_id is not None and m.merchant_id != merchant_id):
        raise NotFound("member.not_found", N_("No member {id}"), id=member_id)
    return m


def _active(m: Member) -> Member:
    if m.status is not MemberStatus.ACTIVE:
        raise Refused("member.erased", N_("Member {id}'s data has been erased"), id=m.id)
    return m


class MemberService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- the number, as kept ---------------------------------------------------------------

    def _token(self, merchant_id: int, shop_id: int | None, mobile: str) -> str:
        return self.ctx.keystore.token(f"{merchant_id}:{shop_id or '*'}:{mobile}", "member-mobile")

    def _tokens(
        self, s: Session, merchant_id: int, mobile: str, shop_number: int | None
    ) -> list[str]:
        """The tokens a number may be kept under: the merchant's; with members per
        shop, the shop's named (or, none named, every shop's: the portal's search)."""
        if loyalty.settings_of(s, merchant_id).scope is MemberScope.MERCHANT:
            return [self._token(merchant_id, None, mobile)]
        if shop_number is not None:
            return [self._token(merchant_id, _shop_id(s, merchant_id, shop_number), mobile)]
        shops = s.scalars(select(Shop.id).where(Shop.merchant_id == merchant_id))
        return [self._token(merchant_id, shop_id, mobile) for shop_id in shops]

    def _keep_mobile(self, m: Member, mobile: str, shop_id: int | None, scope: MemberScope) -> None:
        token = self._token(m.merchant_id, shop_id if scope is MemberScope.SHOP else None, mobile)
        m.mobile_token = token
        m.mobile_sealed = self.ctx.keystore.seal_text(mobile, f"member:{m.merchant_id}:{token}")
        m.mobile_masked = mask(mobile)

    def mobile_of(self, member_id: int, *, merchant_id: int | None) -> str:
        """A member's number in clear: for their own data's file, nothing else."""
        with self.ctx.db.read() as s:
            m = _active(visible_member(s, member_id, merchant_id))
            assert m.mobile_sealed is not None
            return self.ctx.keystore.open_text(
                m.mobile_sealed, f"member:{m.merchant_id}:{m.mobile_token}"
            )

    # --- signing up, finding ------------------------------------------------------------------

    def sign_up(self, merchant_id: int, new: MemberIn, *, channel: Channel, by: str) -> MemberView:
        """A new member, with their consent to membership (and to marketing, if they
        gave it) under the merchant's current notice; the sign-up coupon, if any."""
        by = check_actor(by)
        mobile = clean_mobile(new.mobile)
        if new.consent_membership is not True:
            raise InvalidInput(
                "member.consent_required",
                N_("A member signs up only with their consent to the privacy notice"),
            )
        name, tags = clean_name(new.name), clean_tags(list(new.tags))
        now = self.ctx.now()
        birthday = check_birthday(new.birthday, self.ctx.today())
        try:
            with self.ctx.db.transaction() as s:
                settings = loyalty.settings_of(s, merchant_id)
                shop_id = None
                if new.shop_number is not None:
                    shop_id = _shop_id(s, merchant_id, new.shop_number)
                elif settings.scope is MemberScope.SHOP:
                    raise InvalidInput(
                        "member.shop_required",
                        N_("Members are each shop's own: say which shop they join"),
                    )
                m = Member(
                    merchant_id=merchant_id,
                    shop_id=shop_id,
                    status=MemberStatus.ACTIVE,
                    name=name,
                    birthday=birthday,
                    points=0,
                    channel=channel,
                    created_by=by,
                    created_at=now,
                    updated_at=now,
                    erased_at=None,
                )
                self._keep_mobile(m, mobile, shop_id, settings.scope)
                if s.scalar(
                    select(Member.id).where(
                        Member.merchant_id == merchant_id, Member.mobile_token == m.mobile_token
                    )
                ):
                    raise _taken()
                s.add(m)
                s.flush()
                s.add_all(MemberTag(member_id=m.id, tag=t, merchant_id=merchant_id) for t in tags)
                purposes = [ConsentPurpose.MEMBERSHIP]
                if new.consent_marketing:
                    purposes.append(ConsentPurpose.MARKETING)
                for purpose in purposes:
                    s.add(
                        MemberConsent(
                            member_id=m.id,
                            purpose=purpose,
                            notice_version=settings.notice_version,
                            channel=channel,
                            granted_by=by,
                            granted_at=now,
                        )
                    )
                s.flush()
                cp.issue_template(s, settings.signup_template_id, m, CouponOrigin.SIGNUP, now, by)
                cp.birthday_coupon(s, m, now, by)
                return self._view(s, m)
        except IntegrityError:  # the same number signed up at another till meanwhile
            raise _taken() from None

    def lookup(
        self, merchant_id: int, mobile: str, *, shop_number: int | None = None, by: str
    ) -> MemberView:
        """The member with this number, at the till (the shop's, when members are each
        shop's own). Their first visit in their birthday month gives them their birthday
        coupon."""
        by = check_actor(by)
        number = clean_mobile(mobile)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            if (
                loyalty.settings_of(s, merchant_id).scope is MemberScope.SHOP
                and shop_number is None
            ):
                raise InvalidInput(
                    "member.shop_required",
                    N_("Members are each shop's own: say which shop they join"),
                )
            tokens = self._tokens(s, merchant_id, number, shop_number)
            m = s.scalars(
                select(Member)
                .where(Member.merchant_id == merchant_id, Member.mobile_token.in_(tokens))
                .with_for_update()
            ).first()
            if m is None:
                raise NotFound("member.mobile_not_found", N_("No member has that mobile number"))
            cp.birthday_coupon(s, m, now, by)
            return self._view(s, m)

    def get(self, member_id: int, *, merchant_id: int | None) -> MemberView:
        with self.ctx.db.read() as s:
            return self._view(s, visible_member(s, member_id, merchant_id))

    def search(
        self,
        merchant_id: int,
        *,
        name: str | None = None,
        mobile: str | None = None,
        tag: str | None = None,
        status: MemberStatus | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[MemberRow]:
        """Newest first: by the start of a name, a whole mobile number (its hash), a tag."""
        check_limit(limit)
        q = select(Member).where(Member.merchant_id == merchant_id)
        if name:
            q = q.where(Member.name.startswith(name.strip(), autoescape=True))
        if tag:
            q = q.where(
                Member.id.in_(
                    select(MemberTag.member_id).where(
                        MemberTag.merchant_id == merchant_id, MemberTag.tag == tag.strip()
                    )
                )
            )
        if status is not None:
            q = q.where(Member.status == status)
        if before_id is not None:
            q = q.where(Member.id < before_id)
        with self.ctx.db.read() as s:
            if mobile:
                q = q.where(
                    Member.mobile_token.in_(
                        self._tokens(s, merchant_id, clean_mobile(mobile), None)
                    )
                )
            members = list(s.scalars(q.order_by(Member.id.desc()).limit(limit)))
            tags = _tags(s, [m.id for m in members])
            return [
                MemberRow(
                    id=m.id,
                    merchant_id=m.merchant_id,
                    status=m.status,
                    mobile=m.mobile_masked,
                    name=m.name,
                    tags=tags.get(m.id, []),
                    points=m.points,
                    created_at=m.created_at,
                )
                for m in members
            ]

    def count(self, merchant_id: int) -> int:
        with self.ctx.db.read() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Member)
                    .where(Member.merchant_id == merchant_id, Member.status == MemberStatus.ACTIVE)
                )
                or 0
            )

    def tags(self, merchant_id: int) -> list[tuple[str, int]]:
        """The merchant's tags, with how many members carry each."""
        with self.ctx.db.read() as s:
            return [
                (t, int(n))
                for t, n in s.execute(
                    select(MemberTag.tag, func.count())
                    .where(MemberTag.merchant_id == merchant_id)
                    .group_by(MemberTag.tag)
                    .order_by(MemberTag.tag)
                    .limit(500)
                )
            ]

    # --- changes ------------------------------------------------------------------------------

    def update(
        self, member_id: int, changes: MemberChanges, *, merchant_id: int | None, by: str
    ) -> MemberView:
        check_actor(by)
        today = self.ctx.today()
        mobile = None if changes.mobile is KEEP else clean_mobile(changes.mobile)
        name = KEEP if changes.name is KEEP else clean_name(changes.name)
        birthday = KEEP if changes.birthday is KEEP else check_birthday(changes.birthday, today)
        tags = None if changes.tags is KEEP else clean_tags(list(changes.tags))
        try:
            with self.ctx.db.transaction() as s:
                m = _active(visible_member(s, member_id, merchant_id, lock=True))
                if mobile is not None:
                    scope = loyalty.settings_of(s, m.merchant_id).scope
                    self._keep_mobile(m, mobile, m.shop_id, scope)
                    if s.scalar(
                        select(Member.id).where(
                            Member.merchant_id == m.merchant_id,
                            Member.id != m.id,
                            Member.mobile_token == m.mobile_token,
                        )
                    ):
                        raise _taken()
                if not isinstance(name, Keep):
                    m.name = name
                if not isinstance(birthday, Keep):
                    m.birthday = birthday
                if tags is not None:
                    s.execute(delete(MemberTag).where(MemberTag.member_id == m.id))
                    s.add_all(
                        MemberTag(member_id=m.id, tag=t, merchant_id=m.merchant_id) for t in tags
                    )
                m.updated_at = self.ctx.now()
                s.flush()
                return self._view(s, m)
        except IntegrityError:
            raise _taken() from None

    def grant(
        self,
        member_id: int,
        purpose: ConsentPurpose,
        *,
        merchant_id: int | None,
        channel: Channel,
        by: str,
    ) -> MemberView:
        """A consent given (again): recorded under the current notice's version; one
        given already and not withdrawn stands as it is."""
        by = check_actor(by)
        with self.ctx.db.transaction() as s:
            m = _active(visible_member(s, member_id, merchant_id, lock=True))
            if _given(s, m.id, purpose) is None:
                s.add(
                    MemberConsent(
                        member_id=m.id,
                        purpose=purpose,
                        notice_version=loyalty.settings_of(s, m.merchant_id).notice_version,
                        channel=channel,
                        granted_by=by,
                        granted_at=self.ctx.now(),
                    )
                )
                s.flush()
            return self._view(s, m)

    def withdraw(
        self,
        member_id: int,
        purpose: ConsentPurpose,
        *,
        merchant_id: int | None,
        channel: Channel,
        by: str,
    ) -> MemberView:
        """A consent withdrawn, recorded with when, where and by whose hand. Withdrawing
        the consent to membership erases the member."""
        by = check_actor(by)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            m = _active(visible_member(s, member_id, merchant_id, lock=True))
            given = _given(s, m.id, purpose)
            if given is None:
                raise Refused(
                    "member.consent_not_given",
                    N_("Member {id} has not given that consent"),
                    id=m.id,
                )
            given.withdrawn_at, given.withdrawn_channel, given.withdrawn_by = now, channel, by
            s.flush()
            if purpose is ConsentPurpose.MEMBERSHIP:
                self._erase(s, m, channel, by, now)
            return self._view(s, m)

    def erase(
        self, member_id: int, *, merchant_id: int | None, channel: Channel, by: str
    ) -> MemberView:
        """Erase a member's personal data on request (their consents withdrawn with it):
        the anonymous row, its orders, points and coupons' figures stay."""
        by = check_actor(by)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            m = _active(visible_member(s, member_id, merchant_id, lock=True))
            self._erase(s, m, channel, by, now)
            return self._view(s, m)

    def _erase(self, s: Session, m: Member, channel: Channel, by: str, now: datetime) -> None:
        s.execute(
            update(MemberConsent)
            .where(MemberConsent.member_id == m.id, MemberConsent.withdrawn_at.is_(None))
            .values(withdrawn_at=now, withdrawn_channel=channel, withdrawn_by=by)
        )
        s.execute(delete(MemberTag).where(MemberTag.member_id == m.id))
        s.execute(
            update(Coupon)
            .where(Coupon.member_id == m.id, Coupon.status == CouponStatus.ACTIVE)
            .values(status=CouponStatus.VOID)
        )
        if m.points > 0:
            loyalty.entry(
                s, m, PointsKind.FORFEITED, -m.points, by=by, now=now, note="member erased"
            )
        m.status, m.erased_at, m.updated_at = MemberStatus.ERASED, now, now
        m.mobile_token = m.mobile_sealed = m.mobile_masked = None
        m.name = m.birthday = None
        s.flush()

    # --- points ---------------------------------------------------------------------------------

    def points(
        self,
        member_id: int,
        *,
        merchant_id: int | None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[PointsEntryView]:
        """The member's points ledger, newest first."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            m = visible_member(s, member_id, merchant_id)
            q = (
                select(PointsEntry, Order.receipt_no)
                .outerjoin(Order, Order.id == PointsEntry.order_id)
                .where(PointsEntry.member_id == m.id)
                .order_by(PointsEntry.id.desc())
                .limit(limit)
            )
            if before_id is not None:
                q = q.where(PointsEntry.id < before_id)
            return [_entry_view(e, receipt) for e, receipt in s.execute(q)]

    def adjust(
        self, member_id: int, points: int, note: str, *, merchant_id: int | None, by: str
    ) -> PointsEntryView:
        """Points given or taken by hand, with the reason (never below zero)."""
        by = check_actor(by)
        cleaned = " ".join(note.split())
        if not 0 < len(cleaned) <= MAX_NOTE:
            raise InvalidInput("points.note", N_("Say why (1 to {max} characters)"), max=MAX_NOTE)
        if points == 0 or not -MAX_ADJUST <= points <= MAX_ADJUST:
            raise InvalidInput(
                "points.adjust",
                N_("An adjustment moves 1 to {max} points, in or out"),
                max=MAX_ADJUST,
            )
        with self.ctx.db.transaction() as s:
            m = _active(visible_member(s, member_id, merchant_id, lock=True))
            if m.points + points < 0:
                raise Refused(
                    "points.short",
                    N_("The member has {balance} points: that takes more"),
                    balance=m.points,
                )
            e = loyalty.entry(
                s, m, PointsKind.ADJUSTED, points, by=by, now=self.ctx.now(), note=cleaned
            )
            return _entry_view(e, None)

    # --- a member's own data --------------------------------------------------------------------

    def export(self, member_id: int, *, merchant_id: int | None) -> dict[str, Any]:
        """Everything kept about the member, for them (their number in clear): details,
        consents, points ledger, coupons, purchases (the newest ``EXPORT_ROWS`` of each)."""
        mobile = self.mobile_of(member_id, merchant_id=merchant_id)
        with self.ctx.db.read() as s:
            m = visible_member(s, member_id, merchant_id)
            view = self._view(s, m)
            entries = [
                _entry_view(e, r).model_dump(mode="json", exclude={"object"})
                for e, r in s.execute(
                    select(PointsEntry, Order.receipt_no)
                    .outerjoin(Order, Order.id == PointsEntry.order_id)
                    .where(PointsEntry.member_id == m.id)
                    .order_by(PointsEntry.id.desc())
                    .limit(EXPORT_ROWS)
                )
            ]
            coupons = [
                cp.coupon_view(c, self.ctx.today()).model_dump(mode="json", exclude={"object"})
                for c in s.scalars(
                    select(Coupon)
                    .where(Coupon.member_id == m.id)
                    .order_by(Coupon.id.desc())
                    .limit(EXPORT_ROWS)
                )
            ]
            orders = list(
                s.scalars(
                    select(Order)
                    .where(Order.member_id == m.id, Order.status == OrderStatus.PAID)
                    .order_by(Order.id.desc())
                    .limit(EXPORT_ROWS)
                )
            )
            lines: dict[int, list[dict[str, Any]]] = {o.id: [] for o in orders}
            if orders:
                for x in s.scalars(
                    select(OrderLine)
                    .where(OrderLine.order_id.in_(lines))
                    .order_by(OrderLine.order_id, OrderLine.line_no)
                ):
                    lines[x.order_id].append(
                        {
                            "name": x.name,
                            "unit": x.unit,
                            "quantity_milli": x.quantity_milli,
                            "unit_price_minor": x.unit_price_minor,
                            "net_minor": x.amount_minor - x.order_discount_minor,
                        }
                    )
        details = view.model_dump(mode="json", exclude={"object", "coupons", "consents"})
        details["mobile"] = mobile
        return {
            "exported_at": self.ctx.now().isoformat(),
            "member": details,
            "consents": [c.model_dump(mode="json") for c in view.consents],
            "points": entries,
            "coupons": coupons,
            "purchases": [
                {
                    "order_id": o.id,
                    "kind": o.kind.value,
                    "receipt_no": o.receipt_no,
                    "paid_at": o.paid_at.isoformat() if o.paid_at else None,
                    "currency": o.currency,
                    "total_minor": o.total_minor,
                    "lines": lines[o.id],
                }
                for o in orders
            ],
        }

    # --- views ----------------------------------------------------------------------------------

    def _view(self, s: Session, m: Member) -> MemberView:
        now = self.ctx.now()
        settings = loyalty.settings_of(s, m.merchant_id)
        level, spent = loyalty.level_of(s, m, now)
        shop_number = (
            s.scalar(select(Shop.number).where(Shop.id == m.shop_id)) if m.shop_id else None
        )
        consents = list(
            s.scalars(
                select(MemberConsent)
                .where(MemberConsent.member_id == m.id)
                .order_by(MemberConsent.id)
            )
        )
        today = self.ctx.today()
        usable = [
            cp.coupon_view(c, today)
            for c in s.scalars(
                select(Coupon)
                .where(
                    Coupon.member_id == m.id,
                    Coupon.status == CouponStatus.ACTIVE,
                    Coupon.valid_until >= today,
                    Coupon.valid_from <= today,
                    Coupon.uses_made < Coupon.uses_allowed,
                )
                .order_by(Coupon.valid_until, Coupon.id)
                .limit(50)
            )
        ]
        most = lr.redeem_most(m.points, 10**15, settings.redeem_points, settings.redeem_minor)
        return MemberView(
            id=m.id,
            merchant_id=m.merchant_id,
            status=m.status,
            mobile=m.mobile_masked,
            name=m.name,
            birthday=m.birthday,
            tags=_tags(s, [m.id]).get(m.id, []),
            shop_number=shop_number,
            points=m.points,
            points_value_minor=lr.redeem_value(most, settings.redeem_points, settings.redeem_minor),
            redeem_points=settings.redeem_points,
            redeem_minor=settings.redeem_minor,
            level=level.name if level else None,
            level_percent=str(level.discount_percent) if level else None,
            spend_365d_minor=spent,
            marketing=any(
                c.purpose is ConsentPurpose.MARKETING and c.withdrawn_at is None for c in consents
            ),
            consents=[_consent_view(c) for c in consents],
            coupons=usable,
            channel=m.channel,
            created_at=m.created_at,
            erased_at=m.erased_at,
        )


def _shop_id(s: Session, merchant_id: int, number: int) -> int:
    found = s.scalar(select(Shop.id).where(Shop.merchant_id == merchant_id, Shop.number == number))
    if found is None:
        raise NotFound("shop.not_found", N_("No shop {number}"), number=number)
    return found


def _taken() -> Refused:
    return Refused("member.mobile_taken", N_("A member has this mobile number already"))


def _given(s: Session, member_id: int, purpose: ConsentPurpose) -> MemberConsent | None:
    return s.scalars(
        select(MemberConsent)
        .where(
            MemberConsent.member_id == member_id,
            MemberConsent.purpose == purpose,
            MemberConsent.withdrawn_at.is_(None),
        )
        .with_for_update()
    ).first()


def _tags(s: Session, member_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if member_ids:
        for member_id, tag in s.execute(
            select(MemberTag.member_id, MemberTag.tag)
            .where(MemberTag.member_id.in_(member_ids))
            .order_by(MemberTag.tag)
        ):
            found.setdefault(member_id, []).append(tag)
    return found


def _entry_view(e: PointsEntry, receipt_no: str | None) -> PointsEntryView:
    return PointsEntryView(
        id=e.id,
        kind=e.kind,
        points=e.points,
        balance=e.balance,
        amount_minor=e.amount_minor,
        order_id=e.order_id,
        receipt_no=receipt_no,
        note=e.note,
        created_by=e.created_by,
        created_at=e.created_at,
    )
