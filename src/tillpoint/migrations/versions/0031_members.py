"""members of a merchant (their mobile sealed, found by a keyed hash), their consents,
points ledger and coupons; the loyalty programme (levels, member prices, rates); an
order names its member

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "amount",
                "percent",
                name="couponkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("percent", tillpoint.core.db.DecimalText(length=24), nullable=True),
        sa.Column("min_spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'amount') = (amount_minor IS NOT NULL AND percent IS NULL)",
            name=op.f("ck_coupon_templates_kind_value"),
        ),
        sa.CheckConstraint(
            "amount_minor IS NULL OR amount_minor > 0", name=op.f("ck_coupon_templates_amount")
        ),
        sa.CheckConstraint("min_spend_minor >= 0", name=op.f("ck_coupon_templates_min_spend")),
        sa.CheckConstraint("uses > 0", name=op.f("ck_coupon_templates_uses")),
        sa.CheckConstraint("valid_days > 0", name=op.f("ck_coupon_templates_valid_days")),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_coupon_templates_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_templates")),
        sa.UniqueConstraint(
            "merchant_id", "name", name=op.f("uq_coupon_templates_merchant_id_name")
        ),
    )
    op.create_table(
        "member_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("min_spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_percent", tillpoint.core.db.DecimalText(length=24), nullable=False),
        sa.CheckConstraint("min_spend_minor >= 0", name=op.f("ck_member_levels_min_spend")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_member_levels_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_levels")),
        sa.UniqueConstraint(
            "merchant_id",
            "min_spend_minor",
            name=op.f("uq_member_levels_merchant_id_min_spend_minor"),
        ),
        sa.UniqueConstraint("merchant_id", "name", name=op.f("uq_member_levels_merchant_id_name")),
    )
    op.create_table(
        "loyalty_category_rates",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("multiplier", tillpoint.core.db.DecimalText(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_categories.id"],
            name=op.f("fk_loyalty_category_rates_category_id_product_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_loyalty_category_rates_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("category_id", name=op.f("pk_loyalty_category_rates")),
    )
    op.create_table(
        "loyalty_settings",
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column(
            "scope",
            sa.Enum(
                "merchant",
                "shop",
                name="memberscope",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("points_per_yuan", tillpoint.core.db.DecimalText(length=24), nullable=False),
        sa.Column("redeem_points", sa.Integer(), nullable=False),
        sa.Column("redeem_minor", sa.Integer(), nullable=False),
        sa.Column("signup_template_id", sa.Integer(), nullable=True),
        sa.Column("birthday_template_id", sa.Integer(), nullable=True),
        sa.Column("notice_version", sa.String(length=40), nullable=False),
        sa.Column("notice_text", sa.String(length=2000), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "redeem_points > 0 AND redeem_minor > 0", name=op.f("ck_loyalty_settings_redeem_rate")
        ),
        sa.ForeignKeyConstraint(
            ["birthday_template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_loyalty_settings_birthday_template_id_coupon_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_loyalty_settings_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["signup_template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_loyalty_settings_signup_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_loyalty_settings")),
    )
    op.create_table(
        "loyalty_shop_rates",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("points_per_yuan", tillpoint.core.db.DecimalText(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_loyalty_shop_rates_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_loyalty_shop_rates")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "erased",
                name="memberstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("mobile_token", sa.String(length=64), nullable=True),
        sa.Column("mobile_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("mobile_masked", sa.String(length=20), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "till",
                "portal",
                "api",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("erased_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'erased') = (mobile_token IS NULL AND erased_at IS NOT NULL)",
            name=op.f("ck_members_erased_without_mobile"),
        ),
        sa.CheckConstraint(
            "(mobile_token IS NULL) = (mobile_sealed IS NULL)",
            name=op.f("ck_members_mobile_sealed_with_token"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_members_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("merchant_id", "id", name=op.f("uq_members_merchant_id_id")),
        sa.UniqueConstraint(
            "merchant_id", "mobile_token", name=op.f("uq_members_merchant_id_mobile_token")
        ),
    )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_merchant_name", ["merchant_id", "name"], unique=False)

    op.create_table(
        "coupons",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column(
            "origin",
            sa.Enum(
                "manual",
                "signup",
                "birthday",
                name="couponorigin",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("birthday_year", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "amount",
                "percent",
                name="couponkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("percent", tillpoint.core.db.DecimalText(length=24), nullable=True),
        sa.Column("min_spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("uses_allowed", sa.Integer(), nullable=False),
        sa.Column("uses_made", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "void",
                name="couponstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("issued_by", sa.String(length=100), nullable=False),
        sa.Column("issued_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(kind = 'amount') = (amount_minor IS NOT NULL AND percent IS NULL)",
            name=op.f("ck_coupons_kind_value"),
        ),
        sa.CheckConstraint("min_spend_minor >= 0", name=op.f("ck_coupons_min_spend")),
        sa.CheckConstraint(
            "uses_made >= 0 AND uses_made <= uses_allowed", name=op.f("ck_coupons_uses")
        ),
        sa.CheckConstraint("valid_from <= valid_until", name=op.f("ck_coupons_window")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "member_id"],
            ["members.merchant_id", "members.id"],
            name="fk_coupons_merchant_member",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["coupon_templates.id"],
            name=op.f("fk_coupons_template_id_coupon_templates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupons")),
        sa.UniqueConstraint(
            "member_id", "birthday_year", name=op.f("uq_coupons_member_id_birthday_year")
        ),
        sa.UniqueConstraint("merchant_id", "code", name=op.f("uq_coupons_merchant_id_code")),
    )
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.create_index("ix_coupons_member", ["member_id", "id"], unique=False)
        batch_op.create_index("ix_coupons_merchant", ["merchant_id", "id"], unique=False)

    op.create_table(
        "member_consents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "purpose",
            sa.Enum(
                "membership",
                "marketing",
                name="consentpurpose",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("notice_version", sa.String(length=40), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "till",
                "portal",
                "api",
                name="channel",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("granted_by", sa.String(length=100), nullable=False),
        sa.Column("granted_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "withdrawn_channel",
            sa.Enum(
                "till",
                "portal",
                "api",
                name="withdrawn_channel",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=True,
        ),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdrawn_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(withdrawn_at IS NULL) = (withdrawn_channel IS NULL)",
            name=op.f("ck_member_consents_withdrawn_with_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_member_consents_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_consents")),
    )
    with op.batch_alter_table("member_consents", schema=None) as batch_op:
        batch_op.create_index("ix_member_consents_member", ["member_id", "id"], unique=False)

    op.create_table(
        "member_prices",
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_member_prices_price")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_member_prices_merchant_product",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_member_prices")),
    )
    with op.batch_alter_table("member_prices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_member_prices_merchant", ["merchant_id", "product_id"], unique=False
        )

    op.create_table(
        "member_tags",
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tag", sa.String(length=30), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_tags_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "tag", name=op.f("pk_member_tags")),
    )
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.create_index("ix_member_tags_merchant_tag", ["merchant_id", "tag"], unique=False)

    op.create_table(
        "coupon_uses",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "coupon_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("used_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("discount_minor >= 0", name=op.f("ck_coupon_uses_discount")),
        sa.ForeignKeyConstraint(
            ["coupon_id"], ["coupons.id"], name=op.f("fk_coupon_uses_coupon_id_coupons")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_coupon_uses_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_uses")),
        sa.UniqueConstraint(
            "coupon_id", "order_id", name=op.f("uq_coupon_uses_coupon_id_order_id")
        ),
    )
    with op.batch_alter_table("coupon_uses", schema=None) as batch_op:
        batch_op.create_index("ix_coupon_uses_order", ["order_id"], unique=False)

    op.create_table(
        "member_points",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "earned",
                "redeemed",
                "restored",
                "taken_back",
                "adjusted",
                "forfeited",
                name="pointskind",
                native_enum=False,
                create_constraint=True,
                length=12,
            ),
            nullable=False,
        ),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points <> 0", name=op.f("ck_member_points_moves")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "member_id"],
            ["members.merchant_id", "members.id"],
            name="fk_member_points_merchant_member",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_member_points_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_points")),
    )
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.create_index("ix_member_points_member", ["member_id", "id"], unique=False)
        batch_op.create_index("ix_member_points_order", ["order_id"], unique=False)

    op.create_table(
        "member_line_points",
        sa.Column("line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("micro", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("micro >= 0", name=op.f("ck_member_line_points_micro")),
        sa.ForeignKeyConstraint(
            ["line_id"], ["order_lines.id"], name=op.f("fk_member_line_points_line_id_order_lines")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_member_line_points_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("line_id", name=op.f("pk_member_line_points")),
    )
    with op.batch_alter_table("member_line_points", schema=None) as batch_op:
        batch_op.create_index("ix_member_line_points_order", ["order_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_id", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_orders_member", ["member_id", "created_at"], unique=False)
        batch_op.create_foreign_key(
            "fk_orders_merchant_member",
            "members",
            ["merchant_id", "member_id"],
            ["merchant_id", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("fk_orders_merchant_member", type_="foreignkey")
        batch_op.drop_index("ix_orders_member")
        batch_op.drop_column("member_id")

    with op.batch_alter_table("member_line_points", schema=None) as batch_op:
        batch_op.drop_index("ix_member_line_points_order")

    op.drop_table("member_line_points")
    with op.batch_alter_table("member_points", schema=None) as batch_op:
        batch_op.drop_index("ix_member_points_order")
        batch_op.drop_index("ix_member_points_member")

    op.drop_table("member_points")
    with op.batch_alter_table("coupon_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_coupon_uses_order")

    op.drop_table("coupon_uses")
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tags_merchant_tag")

    op.drop_table("member_tags")
    with op.batch_alter_table("member_prices", schema=None) as batch_op:
        batch_op.drop_index("ix_member_prices_merchant")

    op.drop_table("member_prices")
    with op.batch_alter_table("member_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_member_consents_member")

    op.drop_table("member_consents")
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_index("ix_coupons_merchant")
        batch_op.drop_index("ix_coupons_member")

    op.drop_table("coupons")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_merchant_name")

    op.drop_table("members")
    op.drop_table("loyalty_shop_rates")
    op.drop_table("loyalty_settings")
    op.drop_table("loyalty_category_rates")
    op.drop_table("member_levels")
    op.drop_table("coupon_templates")
