"""the shop's reports: sales added up per shop, day and month (by hour, by cashier,
by product, by tender) and the orders that are in them

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_roll_days",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "span",
            sa.Enum("d", "m", name="span", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "sale",
                "return",
                name="orderkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("costed_net_minor", sa.BigInteger(), nullable=False),
        sa.Column("uncosted_lines", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shop_id",
            "span",
            "day",
            "counter_id",
            "account_id",
            "kind",
            name=op.f("pk_store_roll_days"),
        ),
    )
    op.create_table(
        "store_roll_hours",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "span",
            sa.Enum("d", "m", name="span", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "sale",
                "return",
                name="orderkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("costed_net_minor", sa.BigInteger(), nullable=False),
        sa.Column("uncosted_lines", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shop_id", "span", "day", "hour", "counter_id", "kind", name=op.f("pk_store_roll_hours")
        ),
    )
    op.create_table(
        "store_roll_products",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "span",
            sa.Enum("d", "m", name="span", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "sale",
                "return",
                name="orderkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=False),
        sa.Column("costed_net_minor", sa.BigInteger(), nullable=False),
        sa.Column("uncosted_lines", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shop_id",
            "span",
            "day",
            "counter_id",
            "product_id",
            "category_id",
            "kind",
            name=op.f("pk_store_roll_products"),
        ),
    )
    op.create_table(
        "store_roll_tenders",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "span",
            sa.Enum("d", "m", name="span", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "sale",
                "return",
                name="orderkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column(
            "tender",
            sa.Enum(
                "cash",
                "card",
                "wallet",
                "qr",
                name="tenderkind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("tenders", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("fee_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shop_id",
            "span",
            "day",
            "counter_id",
            "kind",
            "tender",
            name=op.f("pk_store_roll_tenders"),
        ),
    )
    op.create_table(
        "store_rolled_orders",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_store_rolled_orders_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_store_rolled_orders")),
    )
    op.create_index("ix_store_rolled_orders_shop_day", "store_rolled_orders", ["shop_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_store_rolled_orders_shop_day", table_name="store_rolled_orders")

    op.drop_table("store_rolled_orders")
    op.drop_table("store_roll_tenders")
    op.drop_table("store_roll_products")
    op.drop_table("store_roll_hours")
    op.drop_table("store_roll_days")
