"""Members of a merchant's shops, their consent, their points and their coupons
(docs/members.md).

A member's mobile number is personal data: it is kept sealed (AES-GCM under the
keystore's data key, bound to the member's row), found again by a keyed hash
(``mobile_token``: the keystore's HMAC, so nobody without the master key can test
guesses against it), and shown masked (``138****5678``). Erasing a member clears all
three, the name, the birthday and the tags; the row stays, anonymous, so that the sales
it made still add up.

Points change only by an entry in ``member_points`` (the ledger); ``members.points``
is the sum of a member's entries, written in the same unit of work as each entry.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, DecimalText, UTCDateTime, str_enum


class MemberScope(StrEnum):
    """Whose members they are: the merchant's, in all its shops, or each shop's own."""

    MERCHANT = "merchant"
    SHOP = "shop"


class Channel(StrEnum):
    """Where something was asked for: a consent given or withdrawn, a sign-up."""

    TILL = "till"  # at the cashier (the REST API, a till's key)
    PORTAL = "portal"  # in the merchant portal, by the merchant's people
    API = "api"  # another program of the merchant's


# --- settings ----------------------------------------------------------------------------


class LoyaltySettings(Base):
    """A merchant's loyalty programme: whose members, how points are earned and spent,
    the coupons given on sign-up and on the birthday, and the privacy notice members
    agree to (its version is kept with each consent)."""

    __tablename__ = "loyalty_settings"
    __table_args__ = (
        CheckConstraint("redeem_points > 0 AND redeem_minor > 0", name="redeem_rate"),
    )

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    scope: Mapped[MemberScope] = mapped_column(str_enum(MemberScope, length=10))
    points_per_yuan: Mapped[Decimal] = mapped_column(DecimalText())  # earned, per yuan paid
    redeem_points: Mapped[int] = mapped_column(Integer)  # this many points ...
    redeem_minor: Mapped[int] = mapped_column(Integer)  # ... take this much off
    signup_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    birthday_template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    notice_version: Mapped[str] = mapped_column(String(40))
    notice_text: Mapped[str] = mapped_column(String(2000))
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ShopPointsRate(Base):
    """A shop's own points per yuan, where it differs from the merchant's."""

    __tablename__ = "loyalty_shop_rates"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_loyalty_shop_rates_merchant_shop",
        ),
    )

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    points_per_yuan: Mapped[Decimal] = mapped_column(DecimalText())


class CategoryMultiplier(Base):
    """Points in a product category earned at this multiple (2: double points)."""

    __tablename__ = "loyalty_category_rates"

    category_id: Mapped[int] = mapped_column(
        ForeignKey("product_categories.id", ondelete="CASCADE"), primary_key=True
    )
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    multiplier: Mapped[Decimal] = mapped_column(DecimalText())


class MemberLevel(Base):
    """A level members reach by what they spent over the last 12 months (365 days),
    with its percentage off the list prices."""

    __tablename__ = "member_levels"
    __table_args__ = (
        UniqueConstraint("merchant_id", "name"),
        UniqueConstraint("merchant_id", "min_spend_minor"),
        CheckConstraint("min_spend_minor >= 0", name="min_spend"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(40))
    min_spend_minor: Mapped[int] = mapped_column(BigInteger)
    discount_percent: Mapped[Decimal] = mapped_column(DecimalText())


class MemberPrice(Base):
    """A product's price for members, where it has one."""

    __tablename__ = "member_prices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_member_prices_merchant_product",
            ondelete="CASCADE",
        ),
        CheckConstraint("price_minor >= 0", name="price"),
        Index("ix_member_prices_merchant", "merchant_id", "product_id"),
    )

    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)


# --- members ---------------------------------------------------------------------------------


class MemberStatus(StrEnum):
    ACTIVE = "active"
    ERASED = "erased"  # personal data erased on request: anonymous from then on


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_members_merchant_shop",
        ),
        # The lookup by mobile number: its keyed hash, within the merchant (the token
        # covers the shop too when members are each shop's own).
        UniqueConstraint("merchant_id", "mobile_token"),
        # Lets orders name (merchant, member): a member is always its merchant's own.
        UniqueConstraint("merchant_id", "id"),
        Index("ix_members_merchant_name", "merchant_id", "name"),
        CheckConstraint(
            "(status = 'erased') = (mobile_token IS NULL AND erased_at IS NOT NULL)",
            name="erased_without_mobile",
        ),
        CheckConstraint(
            "(mobile_token IS NULL) = (mobile_sealed IS NULL)", name="mobile_sealed_with_token"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int | None] = mapped_column(Integer)  # where they signed up
    status: Mapped[MemberStatus] = mapped_column(str_enum(MemberStatus, length=10))
    mobile_token: Mapped[str | None] = mapped_column(String(64))
    mobile_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    mobile_masked: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(100))
    birthday: Mapped[date | None] = mapped_column(Date)
    points: Mapped[int] = mapped_column(BigInteger, default=0)  # the ledger's sum
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, length=10))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MemberTag(Base):
    __tablename__ = "member_tags"
    __table_args__ = (Index("ix_member_tags_merchant_tag", "merchant_id", "tag"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(30), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)


class ConsentPurpose(StrEnum):
    """What a member agrees their data is used for."""

    MEMBERSHIP = "membership"  # points, coupons, member prices, their purchase history
    MARKETING = "marketing"  # offers sent to them (SMS and the like)


class MemberConsent(Base):
    """A consent given: to what (purpose and the notice's version), when, through which
    channel, by whose hand; and, once withdrawn, when and through which channel."""

    __tablename__ = "member_consents"
    __table_args__ = (
        Index("ix_member_consents_member", "member_id", "id"),
        CheckConstraint(
            "(withdrawn_at IS NULL) = (withdrawn_channel IS NULL)", name="withdrawn_with_channel"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    purpose: Mapped[ConsentPurpose] = mapped_column(str_enum(ConsentPurpose, length=20))
    notice_version: Mapped[str] = mapped_column(String(40))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel, length=10))
    granted_by: Mapped[str] = mapped_column(String(100))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_channel: Mapped[Channel | None] = mapped_column(
        str_enum(Channel, length=10, name="withdrawn_channel")
    )
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- points ----------------------------------------------------------------------------------


class PointsKind(StrEnum):
    EARNED = "earned"  # a paid sale
    REDEEMED = "redeemed"  # spent on an order (taken when the order is made)
    RESTORED = "restored"  # redeemed points back: the order canceled, or returned
    TAKEN_BACK = "taken_back"  # earned points back out: a return
    ADJUSTED = "adjusted"  # by hand, with a note
    FORFEITED = "forfeited"  # the member erased: what was left


class PointsEntry(Base):
    """One movement of a member's points: the only way points change."""

    __tablename__ = "member_points"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "member_id"],
            ["members.merchant_id", "members.id"],
            name="fk_member_points_merchant_member",
        ),
        Index("ix_member_points_member", "member_id", "id"),
        Index("ix_member_points_order", "order_id"),
        CheckConstraint("points <> 0", name="moves"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    member_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[PointsKind] = mapped_column(str_enum(PointsKind, length=12))
    points: Mapped[int] = mapped_column(BigInteger)  # + in, - out
    balance: Mapped[int] = mapped_column(BigInteger)  # after this entry
    # Redeemed points: the money they took off the order (restored: given back).
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LinePoints(Base):
    """What a member's sale line earned, exactly, in millionths of a point (the line's
    net fen x points per yuan x the category's multiple, both to 2 places), so that
    returns take back exactly what each line gave, whatever the rules are by then."""

    __tablename__ = "member_line_points"
    __table_args__ = (
        Index("ix_member_line_points_order", "order_id"),
        CheckConstraint("micro >= 0", name="micro"),
    )

    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    micro: Mapped[int] = mapped_column(BigInteger)


# --- coupons -------------------------------------------------------------------------------


class CouponKind(StrEnum):
    AMOUNT = "amount"  # so much off
    PERCENT = "percent"  # a percentage off


class CouponOrigin(StrEnum):
    MANUAL = "manual"  # issued by hand (portal, API)
    SIGNUP = "signup"  # on joining
    BIRTHDAY = "birthday"  # in the birthday month, at the first visit


class CouponTemplate(Base):
    """A kind of coupon the merchant issues (by hand, on sign-up, on birthdays): what
    each coupon of it takes off, from what spend, for how many days, how many uses."""

    __tablename__ = "coupon_templates"
    __table_args__ = (
        UniqueConstraint("merchant_id", "name"),
        CheckConstraint(
            "(kind = 'amount') = (amount_minor IS NOT NULL AND percent IS NULL)", name="kind_value"
        ),
        CheckConstraint("amount_minor IS NULL OR amount_minor > 0", name="amount"),
        CheckConstraint("min_spend_minor >= 0", name="min_spend"),
        CheckConstraint("valid_days > 0", name="valid_days"),
        CheckConstraint("uses > 0", name="uses"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[CouponKind] = mapped_column(str_enum(CouponKind, length=10))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    percent: Mapped[Decimal | None] = mapped_column(DecimalText())
    min_spend_minor: Mapped[int] = mapped_column(BigInteger)
    valid_days: Mapped[int] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CouponStatus(StrEnum):
    ACTIVE = "active"  # usable within its window while uses are left
    VOID = "void"  # withdrawn by the merchant (or its member erased)


class Coupon(Base):
    """A coupon issued: its code (unguessable, unique within the merchant), its member
    (none: whoever shows the code), what it takes off and when it may be used. Its
    window is in Shanghai's days, both ends included."""

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("merchant_id", "code"),
        # One birthday coupon a member a year, however many tills ask at once.
        UniqueConstraint("member_id", "birthday_year"),
        ForeignKeyConstraint(
            ["merchant_id", "member_id"],
            ["members.merchant_id", "members.id"],
            name="fk_coupons_merchant_member",
        ),
        Index("ix_coupons_member", "member_id", "id"),
        Index("ix_coupons_merchant", "merchant_id", "id"),
        CheckConstraint(
            "(kind = 'amount') = (amount_minor IS NOT NULL AND percent IS NULL)", name="kind_value"
        ),
        CheckConstraint("uses_made >= 0 AND uses_made <= uses_allowed", name="uses"),
        CheckConstraint("valid_from <= valid_until", name="window"),
        CheckConstraint("min_spend_minor >= 0", name="min_spend"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(BigInteger)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_templates.id"))
    origin: Mapped[CouponOrigin] = mapped_column(str_enum(CouponOrigin, length=10))
    birthday_year: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[CouponKind] = mapped_column(str_enum(CouponKind, length=10))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    percent: Mapped[Decimal | None] = mapped_column(DecimalText())
    min_spend_minor: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    uses_allowed: Mapped[int] = mapped_column(Integer)
    uses_made: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[CouponStatus] = mapped_column(str_enum(CouponStatus, length=10))
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CouponUse(Base):
    """A coupon used on an order, and what it took off. An order canceled gives its
    uses back (the row goes); returns do not."""

    __tablename__ = "coupon_uses"
    __table_args__ = (
        UniqueConstraint("coupon_id", "order_id"),
        Index("ix_coupon_uses_order", "order_id"),
        CheckConstraint("discount_minor >= 0", name="discount"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    discount_minor: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
