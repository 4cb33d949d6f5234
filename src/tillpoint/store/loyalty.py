"""Loyalty: a merchant's programme (points earned and redeemed, levels, member prices)
and what it does to an order (docs/members.md, "Loyalty").

The settings service keeps the programme; the order's hooks (called by
store/orders.py inside the order's own unit of work) price a member's lines, take the
points and coupons an order redeems, give them back when the order is canceled, and
write the points a paid sale earns and a paid return takes back and gives back. Every
points movement is a ledger entry (``member_points``) written with the balance it
leaves, the member's row locked: the entries always sum to the balance.

The arithmetic is in store/loyalty_rules.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, NotFound, Refused, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.merchants.models import Shop
from tillpoint.store import coupons as cp
from tillpoint.store import loyalty_rules as lr
from tillpoint.store.member_models import (
    CategoryMultiplier,
    CouponTemplate,
    LinePoints,
    LoyaltySettings,
    Member,
    MemberLevel,
    MemberPrice,
    MemberScope,
    MemberStatus,
    PointsEntry,
    PointsKind,
    ShopPointsRate,
)
from tillpoint.store.models import (
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    Product,
    ProductCategory,
)
from tillpoint.store.order_rules import divide_half_up

SPEND_DAYS = 365  # a level is reached by what was spent in this many days
MAX_RATE = Decimal(1000)  # points per yuan, a multiple
MAX_LEVELS = 10
MAX_RULES = 500  # shop rates, category multiples
MAX_NOTICE = 2000
MAX_REDEEM_POINTS = 10**9
DEFAULT_NOTICE = (
    "我们保存您的手机号（加密）、姓名和生日，用于积分、优惠券、会员价和您的购物记录；"
    "您可随时导出或删除您的资料，或撤回同意。 We keep your mobile number (encrypted), "
    "name and birthday for points, coupons, member prices and your purchase history; you "
    "may export or delete your data, or withdraw your consent, at any time."
)


# --- the programme -----------------------------------------------------------------------------


class LevelView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    min_spend_minor: int = Field(description="Spent over the last 365 days to reach it")
    discount_percent: Decimal = Field(description="Off the list prices, for members at it")


class ShopRateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    shop_number: int
    points_per_yuan: Decimal


class CategoryRateView(BaseModel):
    model_config = ConfigDict(frozen=True)

    category_id: int
    category: str
    multiplier: Decimal


class LoyaltyView(BaseModel):
    model_config = ConfigDict(frozen=True)

    object: Literal["loyalty"] = "loyalty"
    scope: MemberScope = Field(description="merchant: members of every shop; shop: each shop's")
    points_per_yuan: Decimal = Field(description="Points earned per yuan paid (rounded down)")
    shop_rates: list[ShopRateView]
    category_multipliers: list[CategoryRateView]
    redeem_points: int = Field(description="This many points ...")
    redeem_minor: int = Field(description="... take this much (fen) off an order")
    levels: list[LevelView]
    signup_template_id: int | None = Field(description="The coupon given on joining")
    birthday_template_id: int | None = Field(description="The coupon of the birthday month")
    notice_version: str = Field(description="The privacy notice's version consents refer to")
    notice_text: str
    updated_at: datetime | None


@dataclass(frozen=True)
class LevelIn:
    name: str
    min_spend_minor: int
    discount_percent: Decimal = Decimal(0)


@dataclass(frozen=True)
class LoyaltyIn:
    """The whole programme, as it is to be (what is not listed goes)."""

    scope: MemberScope = MemberScope.MERCHANT
    points_per_yuan: Decimal = Decimal(1)
    shop_rates: tuple[tuple[int, Decimal], ...] = ()  # shop number, points per yuan
    category_multipliers: tuple[tuple[int, Decimal], ...] = ()  # category id, multiple
    redeem_points: int = 100
    redeem_minor: int = 100
    levels: tuple[LevelIn, ...] = ()
    signup_template_id: int | None = None
    birthday_template_id: int | None = None
    notice_version: str = "1"
    notice_text: str = DEFAULT_NOTICE


class MemberPriceView(BaseModel):
    model_config = ConfigDict(frozen=True)

    merchant_id: int
    product_id: int
    sku: str
    name: str
    price_minor: int = Field(description="The product's own price")
    member_price_minor: int


RATE_MESSAGES = {
    "points": N_("Points per yuan are 0 to {max}, to two decimal places"),
    "shop": N_("A shop's points per yuan are 0 to {max}, to two decimal places"),
    "category": N_("A category's multiple is 0 to {max}, to two decimal places"),
}


def _rate(value: Decimal, what: str) -> Decimal:
    if not (Decimal(0) <= value <= MAX_RATE) or value != value.quantize(lr.TWO_PLACES):
        raise InvalidInput(f"loyalty.rate_{what}", RATE_MESSAGES[what], max=MAX_RATE)
    return lr.plain(value.quantize(lr.TWO_PLACES).normalize()) if value else Decimal(0)


def _percent(value: Decimal) -> Decimal:
    if not (Decimal(0) <= value < Decimal(100)) or value != value.quantize(lr.TWO_PLACES):
        raise InvalidInput(
            "loyalty.level_percent", N_("A level's percentage off is 0 to 99.99, to two places")
        )
    return lr.plain(value)


def settings_of(s: Session, merchant_id: int) -> LoyaltySettings:
    """The merchant's programme, or the defaults (not written) when it has none."""
    found = s.get(LoyaltySettings, merchant_id)
    if found is not None:
        return found
    return LoyaltySettings(
        merchant_id=merchant_id,
        scope=MemberScope.MERCHANT,
        points_per_yuan=Decimal(1),
        redeem_points=100,
        redeem_minor=100,
        signup_template_id=None,
        birthday_template_id=None,
        notice_version="1",
        notice_text=DEFAULT_NOTICE,
        updated_by="",
        updated_at=None,
    )


def levels_of(s: Session, merchant_id: int) -> list[lr.Level]:
    return [
        lr.Level(lv.id, lv.name, lv.min_spend_minor, lv.discount_percent)
        for lv in s.scalars(
            select(MemberLevel)
            .where(MemberLevel.merchant_id == merchant_id)
            .order_by(MemberLevel.min_spend_minor)
        )
    ]


def spend(s: Session, member_id: int, since: datetime) -> int:
    """What a member paid for sales since ``since``, less what returns paid back."""
    signed = case((Order.kind == OrderKind.RETURN, -Order.total_minor), else_=Order.total_minor)
    total = s.scalar(
        select(func.coalesce(func.sum(signed), 0)).where(
            Order.member_id == member_id, Order.status == OrderStatus.PAID, Order.paid_at >= since
        )
    )
    return int(total or 0)


def spends(s: Session, member_ids: Sequence[int], since: datetime) -> dict[int, int]:
    """What each member paid since ``since`` (``spend``, for many in one query)."""
    if not member_ids:
        return {}
    signed = case((Order.kind == OrderKind.RETURN, -Order.total_minor), else_=Order.total_minor)
    rows = s.execute(
        select(Order.member_id, func.sum(signed))
        .where(Order.member_id.in_(list(member_ids)), Order.status == OrderStatus.PAID,
               Order.paid_at >= since)
        .group_by(Order.member_id)
    ).all()  # fmt: skip
    return {int(m): int(v or 0) for m, v in rows if m is not None}


def level_of(s: Session, member: Member, now: datetime) -> tuple[lr.Level | None, int]:
    """The member's level now, and what they spent over the last 365 days."""
    spent = spend(s, member.id, now - timedelta(days=SPEND_DAYS))
    return lr.level_for(spent, levels_of(s, member.merchant_id)), spent


class LoyaltyService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def get(self, merchant_id: int) -> LoyaltyView:
        with self.ctx.db.read() as s:
            return _view(s, settings_of(s, merchant_id))

    def update(self, merchant_id: int, new: LoyaltyIn, by: str) -> LoyaltyView:
        """Replace the programme. Whose members they are (the scope) changes only while
        the merchant has no members."""
        by = check_actor(by)
        new = _checked(new)
        rate, levels = new.points_per_yuan, new.levels
        version, notice = new.notice_version, new.notice_text
        shop_rates, multiples = new.shop_rates, new.category_multipliers
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            current = s.get(LoyaltySettings, merchant_id, with_for_update=True)
            old_scope = current.scope if current else MemberScope.MERCHANT
            if new.scope is not old_scope and s.scalar(
                select(Member.id).where(Member.merchant_id == merchant_id).limit(1)
            ):
                raise Refused(
                    "loyalty.scope_fixed",
                    N_("Members are already signed up: whose members they are cannot change"),
                )
            for template_id in (new.signup_template_id, new.birthday_template_id):
                if template_id is not None:
                    t = s.get(CouponTemplate, template_id) if 0 < template_id < 2**31 else None
                    if t is None or t.merchant_id != merchant_id:
                        raise NotFound(
                            "coupon_template.not_found",
                            N_("No kind of coupon {id}"),
                            id=template_id,
                        )
            shops = dict(
                s.execute(select(Shop.number, Shop.id).where(Shop.merchant_id == merchant_id)).all()
            )
            for number, _r in shop_rates:
                if number not in shops:
                    raise NotFound("shop.not_found", N_("No shop {number}"), number=number)
            categories = set(
                s.scalars(
                    select(ProductCategory.id).where(ProductCategory.merchant_id == merchant_id)
                )
            )
            for category_id, _m in multiples:
                if category_id not in categories:
                    raise NotFound(
                        "category.not_found", N_("No product category {id}"), id=category_id
                    )
            row = current or LoyaltySettings(merchant_id=merchant_id)
            row.scope, row.points_per_yuan = new.scope, rate
            row.redeem_points, row.redeem_minor = new.redeem_points, new.redeem_minor
            row.signup_template_id, row.birthday_template_id = (
                new.signup_template_id,
                new.birthday_template_id,
            )
            row.notice_version, row.notice_text = version, notice
            row.updated_by, row.updated_at = by, now
            if current is None:
                s.add(row)
            s.execute(delete(ShopPointsRate).where(ShopPointsRate.merchant_id == merchant_id))
            s.execute(
                delete(CategoryMultiplier).where(CategoryMultiplier.merchant_id == merchant_id)
            )
            s.execute(delete(MemberLevel).where(MemberLevel.merchant_id == merchant_id))
            s.flush()
            s.add_all(
                ShopPointsRate(shop_id=shops[n], merchant_id=merchant_id, points_per_yuan=r)
                for n, r in shop_rates
            )
            s.add_all(
                CategoryMultiplier(category_id=c, merchant_id=merchant_id, multiplier=m)
                for c, m in multiples
            )
            s.add_all(
                MemberLevel(
                    merchant_id=merchant_id,
                    name=lv.name,
                    min_spend_minor=lv.min_spend_minor,
                    discount_percent=lv.discount_percent,
                )
                for lv in levels
            )
            s.flush()
            return _view(s, row)

    # member prices

    def product_by_sku(self, merchant_id: int, sku: str) -> int:
        with self.ctx.db.read() as s:
            found = s.scalar(
                select(Product.id).where(Product.merchant_id == merchant_id,
                                         Product.sku == sku.strip())
            )  # fmt: skip
        if found is None:
            raise NotFound("product.not_found", N_("No product {ref}"), ref=sku.strip()[:40])
        return found

    def member_prices(self, merchant_id: int) -> list[MemberPriceView]:
        with self.ctx.db.read() as s:
            return [
                MemberPriceView(
                    merchant_id=merchant_id,
                    product_id=p.id,
                    sku=p.sku,
                    name=p.name,
                    price_minor=p.price_minor,
                    member_price_minor=price,
                )
                for p, price in s.execute(
                    select(Product, MemberPrice.price_minor)
                    .join(MemberPrice, MemberPrice.product_id == Product.id)
                    .where(MemberPrice.merchant_id == merchant_id)
                    .order_by(Product.sku)
                )
            ]

    def set_member_price(
        self, merchant_id: int, product_id: int, price_minor: int | None
    ) -> MemberPriceView | None:
        """A product's member price (None: it has none)."""
        if price_minor is not None and not 0 <= price_minor <= 10**10:
            raise InvalidInput("member_price.price", N_("A price is 0 or more fen"))
        with self.ctx.db.transaction() as s:
            p = s.get(Product, product_id) if 0 < product_id < 2**62 else None
            if p is None or p.merchant_id != merchant_id:
                raise NotFound("product.not_found", N_("No product {ref}"), ref=product_id)
            found = s.get(MemberPrice, product_id)
            if price_minor is None:
                if found is not None:
                    s.delete(found)
                return None
            if found is None:
                s.add(
                    MemberPrice(product_id=p.id, merchant_id=merchant_id, price_minor=price_minor)
                )
            else:
                found.price_minor = price_minor
            s.flush()
            return MemberPriceView(
                merchant_id=merchant_id,
                product_id=p.id,
                sku=p.sku,
                name=p.name,
                price_minor=p.price_minor,
                member_price_minor=price_minor,
            )


def _checked(new: LoyaltyIn) -> LoyaltyIn:
    """The programme as it may be stored, or a clear refusal."""
    rate = _rate(new.points_per_yuan, "points")
    if not 0 < new.redeem_points <= 10**6 or not 0 < new.redeem_minor <= 10**6:
        raise InvalidInput(
            "loyalty.redeem_rate", N_("Redeeming takes 1 or more points for 1 or more fen")
        )
    if len(new.levels) > MAX_LEVELS:
        raise InvalidInput("loyalty.levels", N_("At most {max} levels"), max=MAX_LEVELS)
    if len(new.shop_rates) > MAX_RULES or len(new.category_multipliers) > MAX_RULES:
        raise InvalidInput("loyalty.rules", N_("At most {max} rates"), max=MAX_RULES)
    levels = tuple(_level(lv) for lv in new.levels)
    names, spends = {lv.name for lv in levels}, {lv.min_spend_minor for lv in levels}
    if len(names) != len(levels) or len(spends) != len(levels):
        raise InvalidInput("loyalty.levels_differ", N_("Levels have names and spends of their own"))
    version, notice = new.notice_version.strip(), new.notice_text.strip()
    if not 0 < len(version) <= 40 or not 0 < len(notice) <= MAX_NOTICE:
        raise InvalidInput(
            "loyalty.notice",
            N_("The privacy notice has a version (1-40 characters) and a text (at most {max})"),
            max=MAX_NOTICE,
        )
    shop_rates = tuple((n, _rate(r, "shop")) for n, r in new.shop_rates)
    multiples = tuple((c, _rate(m, "category")) for c, m in new.category_multipliers)
    if len({n for n, _r in shop_rates}) != len(shop_rates) or len(
        {c for c, _m in multiples}
    ) != len(multiples):
        raise InvalidInput("loyalty.rate_twice", N_("Give each shop or category one rate"))
    return replace(
        new,
        points_per_yuan=rate,
        levels=levels,
        notice_version=version,
        notice_text=notice,
        shop_rates=shop_rates,
        category_multipliers=multiples,
    )


def _level(lv: LevelIn) -> LevelIn:
    name = " ".join(lv.name.split())
    if not 0 < len(name) <= 40:
        raise InvalidInput("loyalty.level_name", N_("A level's name is 1 to 40 characters"))
    if not 0 <= lv.min_spend_minor <= 10**12:
        raise InvalidInput("loyalty.level_spend", N_("A level's spend is 0 or more fen"))
    return LevelIn(name, lv.min_spend_minor, _percent(lv.discount_percent))


def _view(s: Session, row: LoyaltySettings) -> LoyaltyView:
    m = row.merchant_id
    shop_rates = [
        ShopRateView(shop_number=n, points_per_yuan=r)
        for n, r in s.execute(
            select(Shop.number, ShopPointsRate.points_per_yuan)
            .join(Shop, Shop.id == ShopPointsRate.shop_id)
            .where(ShopPointsRate.merchant_id == m)
            .order_by(Shop.number)
        )
    ]
    multiples = [
        CategoryRateView(category_id=c, category=name, multiplier=x)
        for c, name, x in s.execute(
            select(
                CategoryMultiplier.category_id, ProductCategory.name, CategoryMultiplier.multiplier
            )
            .join(ProductCategory, ProductCategory.id == CategoryMultiplier.category_id)
            .where(CategoryMultiplier.merchant_id == m)
            .order_by(ProductCategory.name)
        )
    ]
    return LoyaltyView(
        scope=row.scope,
        points_per_yuan=row.points_per_yuan,
        shop_rates=shop_rates,
        category_multipliers=multiples,
        redeem_points=row.redeem_points,
        redeem_minor=row.redeem_minor,
        levels=[
            LevelView(
                id=lv.id,
                name=lv.name,
                min_spend_minor=lv.min_spend_minor,
                discount_percent=lv.discount_percent,
            )
            for lv in levels_of(s, m)
        ],
        signup_template_id=row.signup_template_id,
        birthday_template_id=row.birthday_template_id,
        notice_version=row.notice_version,
        notice_text=row.notice_text,
        updated_at=row.updated_at,
    )


# --- the ledger ----------------------------------------------------------------------------------


def lock_member(s: Session, member_id: int) -> Member:
    return s.get_one(Member, member_id, with_for_update=True)


def entry(
    s: Session,
    member: Member,
    kind: PointsKind,
    points: int,
    *,
    by: str,
    now: datetime,
    order_id: int | None = None,
    amount_minor: int | None = None,
    note: str | None = None,
) -> PointsEntry:
    """One movement of the member's points (their row locked by the caller), and the
    balance it leaves, in the same flush."""
    invariant(points != 0, "an entry moves points")
    member.points += points
    member.updated_at = now
    e = PointsEntry(
        merchant_id=member.merchant_id,
        member_id=member.id,
        kind=kind,
        points=points,
        balance=member.points,
        amount_minor=amount_minor,
        order_id=order_id,
        note=note,
        created_by=by,
        created_at=now,
    )
    s.add(e)
    s.flush()
    return e


# --- an order's member ---------------------------------------------------------------------


@dataclass
class MemberTerms:
    """What a member's order is priced with."""

    member: Member
    level: lr.Level | None
    settings: LoyaltySettings

    @property
    def percent(self) -> Decimal | None:
        return self.level.discount_percent if self.level else None


def member_terms(
    s: Session,
    merchant_id: int,
    shop_id: int,
    member_id: int,
    now: datetime,
    by: str,
    *,
    lock: bool = True,
) -> MemberTerms:
    """The member an order names (locked), if it may buy as one here: the merchant's,
    not erased, and of this shop when members are each shop's own. Their first visit in
    their birthday month gives them their birthday coupon. ``lock=False`` (a quote):
    read only, no coupon given."""
    member = s.get(Member, member_id, with_for_update=lock) if 0 < member_id < 2**62 else None
    settings = settings_of(s, merchant_id)
    if (
        member is None
        or member.merchant_id != merchant_id
        or member.status is not MemberStatus.ACTIVE
        or (settings.scope is MemberScope.SHOP and member.shop_id != shop_id)
    ):
        raise NotFound("member.not_found", N_("No member {id}"), id=member_id)
    if lock:
        cp.birthday_coupon(s, member, now, by)
    level, _spent = level_of(s, member, now)
    return MemberTerms(member, level, settings)


def member_prices(s: Session, merchant_id: int, product_ids: set[int]) -> dict[int, int]:
    if not product_ids:
        return {}
    return dict(
        s.execute(
            select(MemberPrice.product_id, MemberPrice.price_minor).where(
                MemberPrice.merchant_id == merchant_id, MemberPrice.product_id.in_(product_ids)
            )
        ).all()
    )


Redeem = int | Literal["max"]


@dataclass(frozen=True)
class Perks:
    """What a member's coupons and points take off an order."""

    coupons: list[cp.Applied] = field(default_factory=list)
    points: int = 0
    points_minor: int = 0

    @property
    def minor(self) -> int:
        return sum(c.discount_minor for c in self.coupons) + self.points_minor


def perks(
    s: Session,
    merchant_id: int,
    terms: MemberTerms | None,
    codes: Sequence[str],
    redeem: Redeem,
    left_minor: int,
    now: datetime,
    *,
    lock: bool = True,
) -> Perks:
    """The coupons (checked against ``left_minor``: what the order comes to before
    them; locked unless ``lock`` is False, a quote) and the points an order redeems;
    refused if one cannot be used."""
    member_id = terms.member.id if terms else None
    applied = cp.claim(
        s, merchant_id, member_id, codes, left_minor, cp.shanghai_day(now), lock=lock
    )
    left = left_minor - sum(a.discount_minor for a in applied)
    if redeem == 0:
        return Perks(applied)
    if terms is None:
        raise InvalidInput("order.redeem_member", N_("Points are redeemed by a member: name one"))
    st, balance = terms.settings, terms.member.points
    most = lr.redeem_most(balance, left, st.redeem_points, st.redeem_minor)
    if redeem == "max":
        points = most
    else:
        points = redeem
        if points % st.redeem_points:
            raise InvalidInput(
                "order.redeem_step",
                N_("Points are redeemed {step} at a time"),
                step=st.redeem_points,
            )
        if points > balance:
            raise Refused(
                "order.points_short",
                N_("The member has {balance} points, not {points}"),
                balance=balance,
                points=points,
            )
        if points > most:
            raise Refused(
                "order.redeem_too_many",
                N_("This order takes at most {most} points ({value}): never more than it costs"),
                most=most,
                value=Money(lr.redeem_value(most, st.redeem_points, st.redeem_minor)).format(),
            )
    value = lr.redeem_value(points, st.redeem_points, st.redeem_minor)
    return Perks(applied, points, value)


def record_perks(
    s: Session, order: Order, terms: MemberTerms | None, p: Perks, now: datetime, by: str
) -> None:
    """The order's coupon uses and its redeemed points, in its unit of work."""
    if not p.coupons and not p.points:
        return
    cp.use(s, order.id, p.coupons, now)
    if terms is not None and p.points:
        entry(
            s,
            terms.member,
            PointsKind.REDEEMED,
            -p.points,
            by=by,
            now=now,
            order_id=order.id,
            amount_minor=p.points_minor,
        )


def on_canceled(s: Session, order: Order, now: datetime) -> None:
    """A sale given up: its coupons' uses and its redeemed points come back."""
    if order.kind is not OrderKind.SALE:
        return
    cp.give_back(s, order.id)
    if order.member_id is None:
        return
    rows = s.execute(
        select(PointsEntry.kind, PointsEntry.points, PointsEntry.amount_minor).where(
            PointsEntry.order_id == order.id
        )
    ).all()
    redeemed = -sum(p for k, p, _a in rows if k is PointsKind.REDEEMED)
    restored = sum(p for k, p, _a in rows if k is PointsKind.RESTORED)
    minor = sum(a or 0 for k, _p, a in rows if k is PointsKind.REDEEMED) - sum(
        a or 0 for k, _p, a in rows if k is PointsKind.RESTORED
    )
    if redeemed - restored > 0:
        member = lock_member(s, order.member_id)
        entry(
            s,
            member,
            PointsKind.RESTORED,
            redeemed - restored,
            by=_by(order),
            now=now,
            order_id=order.id,
            amount_minor=minor,
            note="order canceled",
        )


def on_paid(s: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> None:
    """A member's sale paid earns its points; a return of one, paid back, takes back
    what the returned goods earned and gives back the redeemed points' share."""
    if order.member_id is None:
        return
    member = lock_member(s, order.member_id)
    if member.status is not MemberStatus.ACTIVE:
        return  # erased since: nothing to give or take
    if order.kind is OrderKind.SALE:
        _earn(s, order, member, lines, now)
    else:
        _return(s, order, member, now)


def _by(order: Order) -> str:
    return f"account {order.account_id}" if order.account_id else "till"


def line_micros(
    s: Session, merchant_id: int, shop_id: int, lines: Sequence[tuple[int, int | None]]
) -> list[int]:
    """Each line's points in millionths, from its net (fen) and its product's category:
    the shop's rate (else the merchant's) x the category's multiple. What a paid sale
    earns, a quote shows and an offline sale earns when it syncs: one reckoning."""
    settings = settings_of(s, merchant_id)
    shop_rate = s.scalar(
        select(ShopPointsRate.points_per_yuan).where(ShopPointsRate.shop_id == shop_id)
    )
    rate = settings.points_per_yuan if shop_rate is None else shop_rate
    categories = {c for _net, c in lines if c is not None}
    multiples: dict[int, Decimal] = {}
    if categories:
        multiples = dict(
            s.execute(
                select(CategoryMultiplier.category_id, CategoryMultiplier.multiplier).where(
                    CategoryMultiplier.merchant_id == merchant_id,
                    CategoryMultiplier.category_id.in_(categories),
                )
            ).all()
        )
    return [
        lr.line_micro(net, rate, multiples.get(c, Decimal(1)) if c else Decimal(1))
        for net, c in lines
    ]


def earn(
    s: Session,
    merchant_id: int,
    shop_id: int,
    order_id: int,
    member: Member,
    lines: Sequence[tuple[int, int, int | None]],
    now: datetime,
    by: str,
) -> int:
    """A paid sale's points (the member's row locked by the caller): each line's exact
    points kept (line id, net, category), the order's whole points in the ledger."""
    micros = line_micros(s, merchant_id, shop_id, [(net, c) for _id, net, c in lines])
    s.add_all(
        LinePoints(line_id=line_id, order_id=order_id, micro=micro)
        for (line_id, _net, _c), micro in zip(lines, micros, strict=True)
    )
    s.flush()
    points = lr.earned(micros)
    if points:
        entry(s, member, PointsKind.EARNED, points, by=by, now=now, order_id=order_id)
    return points


def _earn(
    s: Session, order: Order, member: Member, lines: Sequence[OrderLine], now: datetime
) -> None:
    nets = [(x.id, x.amount_minor - x.order_discount_minor, x.category_id) for x in lines]
    earn(s, order.merchant_id, order.shop_id, order.id, member, nets, now, _by(order))


def _return(s: Session, order: Order, member: Member, now: datetime) -> None:
    """The paid returns of the sale so far (this one included) decide what has been
    taken back and given back in all; this return moves the difference."""
    sale_id = order.original_order_id
    invariant(sale_id is not None, "a return names its sale")
    s.flush()
    sale_lines = list(s.scalars(select(OrderLine).where(OrderLine.order_id == sale_id)))
    returns = select(Order.id).where(
        Order.original_order_id == sale_id, Order.status == OrderStatus.PAID
    )
    back = dict(
        s.execute(
            select(OrderLine.original_line_id, func.sum(OrderLine.quantity_milli))
            .where(OrderLine.order_id.in_(returns))
            .group_by(OrderLine.original_line_id)
        ).all()
    )
    micro = dict(
        s.execute(
            select(LinePoints.line_id, LinePoints.micro).where(LinePoints.order_id == sale_id)
        ).all()
    )
    moved = s.execute(
        select(PointsEntry.kind, func.sum(PointsEntry.points))
        .where(
            PointsEntry.order_id.in_(
                select(Order.id).where((Order.id == sale_id) | (Order.original_order_id == sale_id))
            )
        )
        .group_by(PointsEntry.kind)
    ).all()
    sums = {k: int(v or 0) for k, v in moved}
    earned, redeemed = sums.get(PointsKind.EARNED, 0), -sums.get(PointsKind.REDEEMED, 0)
    taken, given = -sums.get(PointsKind.TAKEN_BACK, 0), sums.get(PointsKind.RESTORED, 0)
    returned_micro = sum(
        lr.returned_micro(micro.get(x.id, 0), x.quantity_milli, int(back.get(x.id) or 0))
        for x in sale_lines
    )
    amount_total = sum(x.amount_minor for x in sale_lines)
    amount_back = sum(
        divide_half_up(x.amount_minor * int(back.get(x.id) or 0), x.quantity_milli)
        for x in sale_lines
    )
    by = _by(order)
    giving = lr.give_back(redeemed, amount_total, amount_back, given) if redeemed else 0
    if giving:
        settings = settings_of(s, order.merchant_id)
        entry(
            s,
            member,
            PointsKind.RESTORED,
            giving,
            by=by,
            now=now,
            order_id=order.id,
            amount_minor=giving * settings.redeem_minor // settings.redeem_points,
            note="returned",
        )
    taking = lr.take_back(earned, returned_micro, taken) if earned else 0
    if taking:
        entry(s, member, PointsKind.TAKEN_BACK, -taking, by=by, now=now, order_id=order.id)


# --- an order's loyalty, as its view shows it -------------------------------------------


class CouponApplied(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    discount_minor: int


class OrderLoyalty(BaseModel):
    """What the order did with its member's points and coupons."""

    model_config = ConfigDict(frozen=True)

    member_id: int
    member_mobile: str | None = Field(description="Masked: 138****5678")
    points_balance: int = Field(description="The member's points now")
    points_earned: int = Field(description="A sale: earned when paid")
    points_redeemed: int = Field(description="A sale: spent on it (less any given back)")
    redeemed_minor: int = Field(description="What the redeemed points took off")
    points_taken_back: int = Field(description="A return: earned points taken back")
    points_restored: int = Field(description="A return, or a canceled sale: redeemed points back")
    coupons: list[CouponApplied]
    points_balance_after: int | None = Field(
        default=None, description="The balance the order's last points movement left"
    )


def order_loyalty(s: Session, order: Order) -> OrderLoyalty | None:
    if order.member_id is None:
        return None
    member = s.get_one(Member, order.member_id)
    sums: dict[PointsKind, tuple[int, int]] = {
        k: (int(p or 0), int(a or 0))
        for k, p, a in s.execute(
            select(
                PointsEntry.kind, func.sum(PointsEntry.points), func.sum(PointsEntry.amount_minor)
            )
            .where(PointsEntry.order_id == order.id)
            .group_by(PointsEntry.kind)
        )
    }

    def pts(kind: PointsKind) -> int:
        return abs(sums.get(kind, (0, 0))[0])

    after = (
        s.scalar(
            select(PointsEntry.balance)
            .where(PointsEntry.order_id == order.id)
            .order_by(PointsEntry.id.desc())
            .limit(1)
        )
        if sums
        else None
    )

    return OrderLoyalty(
        member_id=member.id,
        member_mobile=member.mobile_masked,
        points_balance=member.points,
        points_earned=pts(PointsKind.EARNED),
        points_redeemed=pts(PointsKind.REDEEMED),
        redeemed_minor=sums.get(PointsKind.REDEEMED, (0, 0))[1],
        points_taken_back=pts(PointsKind.TAKEN_BACK),
        points_restored=pts(PointsKind.RESTORED),
        coupons=[
            CouponApplied(code=a.code, name=a.name, discount_minor=a.discount_minor)
            for a in cp.used_on(s, order.id)
        ],
        points_balance_after=after,
    )
