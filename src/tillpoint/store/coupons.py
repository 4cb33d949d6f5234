"""Coupons: the kinds a merchant issues (templates), coupons issued by hand, on sign-up
and on the birthday, and their use on orders (docs/members.md, "Coupons").

A coupon takes an amount, or a percentage of what is left to pay, off an order whose
amount (after member prices, line discounts and the cashier's discount, before any
coupon) reaches its minimum spend, between its first and last day (Shanghai's days,
both included), as many times as it allows. A member's coupon is used only on an order
naming that member; a coupon issued to nobody is used by whoever shows its code. An
order takes at most ``MAX_COUPONS``, each once, applied in the order listed, each to
what the ones before it left. An order canceled gives its uses back; a return does not.

The birthday coupon is issued at the member's first visit in their birthday month (the
till's look-up of the member, or an order naming them): once a calendar year, whatever
the number of tills asking at once (a unique key per member and year). No daily job:
a member who does not come in that month gets none, and nobody gets a coupon that will
never be seen.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tillpoint.context import Context, check_actor
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.errors import InvalidInput, NotFound, Refused, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.core.paging import check_limit
from tillpoint.store import loyalty_rules as lr
from tillpoint.store.member_models import (
    Coupon,
    CouponKind,
    CouponOrigin,
    CouponStatus,
    CouponTemplate,
    CouponUse,
    LoyaltySettings,
    Member,
    MemberStatus,
)

MAX_COUPONS = 3  # on one order
MAX_TEMPLATES = 200  # per merchant
MAX_ISSUE = 500  # coupons issued at once (bearer coupons to print)
MAX_VALID_DAYS = 3660
MAX_USES = 1000
MAX_COUPON_MINOR = 10**9
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's: no I, L, O, U
CODE_LENGTH = 12  # 60 bits: not guessed, even with many tries
MAX_NAME = 60


def shanghai_day(at: datetime) -> date:
    return at.astimezone(BUSINESS_TZ).date()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(code: str) -> str:
    """A code as typed or scanned: spaces and dashes gone, capitals, the letters people
    misread taken as the digits they look like (O -> 0, I and L -> 1)."""
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    cleaned = cleaned.translate(str.maketrans("OIL", "011"))
    if not (len(cleaned) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in cleaned)):
        raise InvalidInput("coupon.code", N_("That is not a coupon code"))
    return cleaned


# --- what comes in, what goes out ----------------------------------------------------------


@dataclass(frozen=True)
class CouponValue:
    """What a coupon takes off: an amount, or a percentage; from what spend; for how
    many days from its first; how many uses."""

    name: str
    kind: CouponKind
    amount_minor: int | None = None
    percent: Decimal | None = None
    min_spend_minor: int = 0
    valid_days: int = 30
    uses: int = 1


class TemplateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["coupon_template"] = "coupon_template"
    merchant_id: int
    name: str
    kind: CouponKind
    amount_minor: int | None
    percent: Decimal | None
    min_spend_minor: int
    valid_days: int
    uses: int
    active: bool
    created_at: datetime


class CouponView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["coupon"] = "coupon"
    merchant_id: int
    code: str
    member_id: int | None = Field(description="None: whoever shows the code uses it")
    template_id: int | None
    origin: CouponOrigin
    name: str
    kind: CouponKind
    amount_minor: int | None = Field(description="An amount coupon: what it takes off")
    percent: Decimal | None = Field(description="A percentage coupon: the percentage off")
    min_spend_minor: int
    valid_from: date = Field(description="First day (Shanghai), included")
    valid_until: date = Field(description="Last day (Shanghai), included")
    uses_allowed: int
    uses_made: int
    status: CouponStatus
    usable: bool = Field(description="Usable today (in its window, uses left, not void)")
    issued_by: str
    issued_at: datetime


def check_value(v: CouponValue) -> CouponValue:
    name = " ".join(v.name.split())
    if not 0 < len(name) <= MAX_NAME:
        raise InvalidInput(
            "coupon.name", N_("A coupon's name is 1 to {max} characters"), max=MAX_NAME
        )
    if v.kind is CouponKind.AMOUNT:
        if v.amount_minor is None or v.percent is not None:
            raise InvalidInput("coupon.amount", N_("An amount coupon takes an amount, only"))
        if not 0 < v.amount_minor <= MAX_COUPON_MINOR:
            raise InvalidInput("coupon.amount", N_("A coupon's amount is more than 0 fen"))
    else:
        if v.percent is None or v.amount_minor is not None:
            raise InvalidInput("coupon.percent", N_("A percentage coupon takes a percentage, only"))
        if not (Decimal(0) < v.percent <= Decimal(100)) or v.percent != v.percent.quantize(
            lr.TWO_PLACES
        ):
            raise InvalidInput(
                "coupon.percent",
                N_("A coupon's percentage is more than 0, at most 100, to two places"),
            )
    if not 0 <= v.min_spend_minor <= MAX_COUPON_MINOR:
        raise InvalidInput("coupon.min_spend", N_("A minimum spend is 0 or more fen"))
    if not 0 < v.valid_days <= MAX_VALID_DAYS:
        raise InvalidInput(
            "coupon.valid_days", N_("A coupon is valid for 1 to {max} days"), max=MAX_VALID_DAYS
        )
    if not 0 < v.uses <= MAX_USES:
        raise InvalidInput("coupon.uses", N_("A coupon has 1 to {max} uses"), max=MAX_USES)
    percent = None if v.percent is None else lr.plain(v.percent)
    return CouponValue(
        name, v.kind, v.amount_minor, percent, v.min_spend_minor, v.valid_days, v.uses
    )


def terms(c: Coupon) -> lr.CouponTerms:
    return lr.CouponTerms(
        c.amount_minor,
        c.percent,
        c.min_spend_minor,
        c.valid_from,
        c.valid_until,
        c.uses_allowed,
        c.uses_made,
        c.status is CouponStatus.VOID,
        c.member_id,
    )


def coupon_view(c: Coupon, today: date) -> CouponView:
    usable = lr.coupon_refusal(terms(c), today, c.member_id, c.min_spend_minor) == ""
    return CouponView(
        id=c.id,
        merchant_id=c.merchant_id,
        code=c.code,
        member_id=c.member_id,
        template_id=c.template_id,
        origin=c.origin,
        name=c.name,
        kind=c.kind,
        amount_minor=c.amount_minor,
        percent=c.percent,
        min_spend_minor=c.min_spend_minor,
        valid_from=c.valid_from,
        valid_until=c.valid_until,
        uses_allowed=c.uses_allowed,
        uses_made=c.uses_made,
        status=c.status,
        usable=usable,
        issued_by=c.issued_by,
        issued_at=c.issued_at,
    )


def template_view(t: CouponTemplate) -> TemplateView:
    return TemplateView(
        id=t.id,
        merchant_id=t.merchant_id,
        name=t.name,
        kind=t.kind,
        amount_minor=t.amount_minor,
        percent=t.percent,
        min_spend_minor=t.min_spend_minor,
        valid_days=t.valid_days,
        uses=t.uses,
        active=t.active,
        created_at=t.created_at,
    )


# --- inside other units of work (members, orders) --------------------------------------------


def issue(
    s: Session,
    merchant_id: int,
    value: CouponValue,
    *,
    member_id: int | None,
    origin: CouponOrigin,
    today: date,
    by: str,
    now: datetime,
    template_id: int | None = None,
    valid_from: date | None = None,
    birthday_year: int | None = None,
) -> Coupon:
    """A new coupon, valid from ``valid_from`` (today) for its days."""
    start = valid_from or today
    for _attempt in range(5):
        code = new_code()
        taken = s.scalar(
            select(Coupon.id).where(Coupon.merchant_id == merchant_id, Coupon.code == code)
        )
        if taken is None:
            break
    else:  # pragma: no cover - 60 random bits, five times over
        raise Refused("coupon.code_taken", N_("No free coupon code was found: try again"))
    c = Coupon(
        merchant_id=merchant_id,
        code=code,
        member_id=member_id,
        template_id=template_id,
        origin=origin,
        birthday_year=birthday_year,
        name=value.name,
        kind=value.kind,
        amount_minor=value.amount_minor,
        percent=value.percent,
        min_spend_minor=value.min_spend_minor,
        valid_from=start,
        valid_until=start + timedelta(days=value.valid_days - 1),
        uses_allowed=value.uses,
        uses_made=0,
        status=CouponStatus.ACTIVE,
        issued_by=by,
        issued_at=now,
    )
    s.add(c)
    s.flush()
    return c


def from_template(t: CouponTemplate) -> CouponValue:
    return CouponValue(
        t.name, t.kind, t.amount_minor, t.percent, t.min_spend_minor, t.valid_days, t.uses
    )


def issue_template(
    s: Session,
    template_id: int | None,
    member: Member,
    origin: CouponOrigin,
    now: datetime,
    by: str,
    birthday_year: int | None = None,
) -> Coupon | None:
    """A coupon of the template for the member (none if the template is gone or off)."""
    if template_id is None:
        return None
    t = s.get(CouponTemplate, template_id)
    if t is None or not t.active or t.merchant_id != member.merchant_id:
        return None
    return issue(
        s,
        member.merchant_id,
        from_template(t),
        member_id=member.id,
        origin=origin,
        today=shanghai_day(now),
        by=by,
        now=now,
        template_id=t.id,
        birthday_year=birthday_year,
    )


def birthday_coupon(s: Session, member: Member, now: datetime, by: str) -> Coupon | None:
    """The member's birthday coupon, at their first visit in their birthday month (the
    member's row is locked by the caller: one a year)."""
    today = shanghai_day(now)
    if member.status is not MemberStatus.ACTIVE or member.birthday is None:
        return None
    if member.birthday.month != today.month:
        return None
    settings = s.get(LoyaltySettings, member.merchant_id)
    if settings is None or settings.birthday_template_id is None:
        return None
    had = s.scalar(
        select(Coupon.id).where(Coupon.member_id == member.id, Coupon.birthday_year == today.year)
    )
    if had is not None:
        return None
    return issue_template(
        s,
        settings.birthday_template_id,
        member,
        CouponOrigin.BIRTHDAY,
        now,
        by,
        birthday_year=today.year,
    )


@dataclass(frozen=True)
class Applied:
    coupon_id: int
    code: str
    name: str
    discount_minor: int


def claim(
    s: Session,
    merchant_id: int,
    member_id: int | None,
    codes: Sequence[str],
    spend_minor: int,
    today: date,
    *,
    lock: bool = True,
) -> list[Applied]:
    """The order's coupons (locked, unless ``lock`` is False: a quote), each with what
    it takes off, in the order listed; refused (and nothing changes) if one cannot be
    used."""
    cleaned = [clean_code(c) for c in codes]
    if len(cleaned) > MAX_COUPONS:
        raise InvalidInput(
            "order.coupons", N_("An order takes at most {max} coupons"), max=MAX_COUPONS
        )
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInput("order.coupon_twice", N_("Each coupon is used once on an order"))
    if not cleaned:
        return []
    query = select(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.code.in_(cleaned))
    found = {c.code: c for c in s.scalars(query.with_for_update() if lock else query)}
    applied = []
    left = spend_minor
    for code in cleaned:
        c = found.get(code)
        if c is None:
            raise NotFound("coupon.not_found", N_("No coupon {code}"), code=code)
        why = lr.coupon_refusal(terms(c), today, member_id, spend_minor)
        if why:
            raise _refusal(c, why)
        off = lr.coupon_discount(terms(c), left)
        left -= off
        applied.append(Applied(c.id, c.code, c.name, off))
    return applied


def _refusal(c: Coupon, why: str) -> Refused:
    messages = {
        "void": N_("Coupon {code} has been withdrawn"),
        "not_yet": N_("Coupon {code} may be used from {day}"),
        "expired": N_("Coupon {code} ran out on {day}"),
        "used_up": N_("Coupon {code} has been used up"),
        "other_member": N_("Coupon {code} is another member's: name its member on the order"),
        "min_spend": N_("Coupon {code} needs a spend of {min} or more"),
    }
    day = c.valid_from if why == "not_yet" else c.valid_until
    return Refused(
        f"coupon.{why}",
        messages[why],
        code=c.code,
        day=day.isoformat(),
        min=Money(c.min_spend_minor).format(),
    )


def use(s: Session, order_id: int, applied: Sequence[Applied], now: datetime) -> None:
    """Count the order's uses (the coupons are locked by ``claim``)."""
    for a in applied:
        done = s.execute(
            update(Coupon)
            .where(Coupon.id == a.coupon_id, Coupon.uses_made < Coupon.uses_allowed)
            .values(uses_made=Coupon.uses_made + 1)
        )
        invariant(getattr(done, "rowcount", 1) == 1, "a claimed coupon has a use left")
        s.add(
            CouponUse(
                coupon_id=a.coupon_id,
                order_id=order_id,
                discount_minor=a.discount_minor,
                used_at=now,
            )
        )
    s.flush()


def give_back(s: Session, order_id: int) -> None:
    """A canceled order's coupon uses, given back."""
    uses = list(s.scalars(select(CouponUse).where(CouponUse.order_id == order_id)))
    for u in uses:
        s.execute(
            update(Coupon).where(Coupon.id == u.coupon_id).values(uses_made=Coupon.uses_made - 1)
        )
        s.delete(u)
    s.flush()


def used_on(s: Session, order_id: int) -> list[Applied]:
    return [
        Applied(cid, code, name, off)
        for cid, code, name, off in s.execute(
            select(Coupon.id, Coupon.code, Coupon.name, CouponUse.discount_minor)
            .join(Coupon, Coupon.id == CouponUse.coupon_id)
            .where(CouponUse.order_id == order_id)
            .order_by(CouponUse.id)
        )
    ]


# --- the service -------------------------------------------------------------------------------


class CouponService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # templates

    def create_template(self, merchant_id: int, value: CouponValue) -> TemplateView:
        v = check_value(value)
        with self.ctx.db.transaction() as s:
            n = s.scalar(
                select(func.count())
                .select_from(CouponTemplate)
                .where(CouponTemplate.merchant_id == merchant_id)
            )
            if (n or 0) >= MAX_TEMPLATES:
                raise Refused(
                    "coupon_template.too_many",
                    N_("A merchant has at most {max} kinds of coupon"),
                    max=MAX_TEMPLATES,
                )
            if s.scalar(
                select(CouponTemplate.id).where(
                    CouponTemplate.merchant_id == merchant_id, CouponTemplate.name == v.name
                )
            ):
                raise Refused(
                    "coupon_template.name_taken",
                    N_("There is a kind of coupon named {name} already"),
                    name=v.name,
                )
            t = CouponTemplate(
                merchant_id=merchant_id,
                name=v.name,
                kind=v.kind,
                amount_minor=v.amount_minor,
                percent=v.percent,
                min_spend_minor=v.min_spend_minor,
                valid_days=v.valid_days,
                uses=v.uses,
                active=True,
                created_at=self.ctx.now(),
            )
            s.add(t)
            s.flush()
            return template_view(t)

    def templates(self, merchant_id: int) -> list[TemplateView]:
        with self.ctx.db.read() as s:
            return [
                template_view(t)
                for t in s.scalars(
                    select(CouponTemplate)
                    .where(CouponTemplate.merchant_id == merchant_id)
                    .order_by(CouponTemplate.id)
                )
            ]

    def set_template_active(self, merchant_id: int, template_id: int, active: bool) -> TemplateView:
        with self.ctx.db.transaction() as s:
            t = _template(s, merchant_id, template_id)
            t.active = active
            s.flush()
            return template_view(t)

    # coupons

    def issue(
        self,
        merchant_id: int,
        *,
        template_id: int | None = None,
        value: CouponValue | None = None,
        member_id: int | None = None,
        valid_from: date | None = None,
        count: int = 1,
        by: str,
    ) -> list[CouponView]:
        """Coupons issued by hand: of a template, or of a value given here; to a member,
        or to nobody (bearer coupons, ``count`` of them, to hand out or print)."""
        by = check_actor(by)
        if (template_id is None) == (value is None):
            raise InvalidInput(
                "coupon.template_or_value",
                N_("Name a kind of coupon, or say what the coupon takes off"),
            )
        if value is not None:
            value = check_value(value)
        if not 0 < count <= MAX_ISSUE:
            raise InvalidInput(
                "coupon.count", N_("Issue 1 to {max} coupons at once"), max=MAX_ISSUE
            )
        if member_id is not None and count != 1:
            raise InvalidInput("coupon.count_member", N_("A member is given one coupon at a time"))
        now = self.ctx.now()
        today = shanghai_day(now)
        if valid_from is not None and not today - timedelta(
            days=1
        ) <= valid_from <= today + timedelta(days=MAX_VALID_DAYS):
            raise InvalidInput("coupon.valid_from", N_("A coupon starts today or later"))
        with self.ctx.db.transaction() as s:
            if template_id is not None:
                t = _template(s, merchant_id, template_id)
                if not t.active:
                    raise Refused(
                        "coupon_template.inactive",
                        N_("Coupons of {name} are no longer issued"),
                        name=t.name,
                    )
                value = from_template(t)
            if member_id is not None:
                m = s.get(Member, member_id) if 0 < member_id < 2**62 else None
                if m is None or m.merchant_id != merchant_id or m.status is not MemberStatus.ACTIVE:
                    raise NotFound("member.not_found", N_("No member {id}"), id=member_id)
            assert value is not None
            made = [
                issue(
                    s,
                    merchant_id,
                    value,
                    member_id=member_id,
                    origin=CouponOrigin.MANUAL,
                    today=today,
                    by=by,
                    now=now,
                    template_id=template_id,
                    valid_from=valid_from,
                )
                for _ in range(count)
            ]
            return [coupon_view(c, today) for c in made]

    def get(self, merchant_id: int, code: str) -> CouponView:
        """A coupon by its code (as scanned at the till), with whether it is usable."""
        cleaned = clean_code(code)
        with self.ctx.db.read() as s:
            c = s.scalars(
                select(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.code == cleaned)
            ).one_or_none()
            if c is None:
                raise NotFound("coupon.not_found", N_("No coupon {code}"), code=cleaned)
            return coupon_view(c, self.ctx.today())

    def search(
        self,
        merchant_id: int | None,
        *,
        member_id: int | None = None,
        usable: bool | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[CouponView]:
        """Newest first; ``usable``: only those usable today (or only those not)."""
        check_limit(limit)
        today = self.ctx.today()
        q = select(Coupon).order_by(Coupon.id.desc())
        if merchant_id is not None:
            q = q.where(Coupon.merchant_id == merchant_id)
        if member_id is not None:
            q = q.where(Coupon.member_id == member_id)
        if before_id is not None:
            q = q.where(Coupon.id < before_id)
        if usable is not None:
            live = (
                (Coupon.status == CouponStatus.ACTIVE)
                & (Coupon.valid_from <= today)
                & (Coupon.valid_until >= today)
                & (Coupon.uses_made < Coupon.uses_allowed)
            )
            q = q.where(live if usable else ~live)
        with self.ctx.db.read() as s:
            return [coupon_view(c, today) for c in s.scalars(q.limit(limit))]

    def void(self, merchant_id: int | None, coupon_id: int) -> CouponView:
        with self.ctx.db.transaction() as s:
            c = s.get(Coupon, coupon_id, with_for_update=True) if 0 < coupon_id < 2**62 else None
            if c is None or (merchant_id is not None and c.merchant_id != merchant_id):
                raise NotFound("coupon.not_found", N_("No coupon {code}"), code=coupon_id)
            c.status = CouponStatus.VOID
            s.flush()
            return coupon_view(c, self.ctx.today())


def _template(s: Session, merchant_id: int, template_id: int) -> CouponTemplate:
    t = s.get(CouponTemplate, template_id) if 0 < template_id < 2**31 else None
    if t is None or t.merchant_id != merchant_id:
        raise NotFound("coupon_template.not_found", N_("No kind of coupon {id}"), id=template_id)
    return t
