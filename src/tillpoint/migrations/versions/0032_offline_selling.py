"""selling offline: the till pages that sell offline, the blocks of receipt numbers
each took, what was noted of each offline order when it arrived (and of its lines);
receipt numbers up to 40 characters (a page's fallback numbers are longer)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "till_pages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("till", sa.String(length=20), nullable=False),
        sa.Column("page_ref", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("number >= 1", name=op.f("ck_till_pages_number")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_till_pages_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_till_pages")),
        sa.UniqueConstraint(
            "shop_id", "till", "number", name=op.f("uq_till_pages_shop_id_till_number")
        ),
        sa.UniqueConstraint(
            "shop_id", "till", "page_ref", name=op.f("uq_till_pages_shop_id_till_page_ref")
        ),
    )
    op.create_table(
        "till_receipt_blocks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("page_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("reserved_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "first_number >= 1 AND last_number >= first_number",
            name=op.f("ck_till_receipt_blocks_range"),
        ),
        sa.ForeignKeyConstraint(
            ["page_id"], ["till_pages.id"], name=op.f("fk_till_receipt_blocks_page_id_till_pages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_till_receipt_blocks")),
    )
    with op.batch_alter_table("till_receipt_blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_till_receipt_blocks_page", ["page_id", "first_number"], unique=False
        )

    op.create_table(
        "offline_line_flags",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("level_milli", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_offline_line_flags_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", "line_no", name=op.f("pk_offline_line_flags")),
    )
    op.create_table(
        "offline_orders",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("page_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("made_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("look", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_offline_orders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["page_id"], ["till_pages.id"], name=op.f("fk_offline_orders_page_id_till_pages")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_offline_orders")),
    )
    with op.batch_alter_table("offline_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offline_orders_look",
            ["merchant_id", "order_id"],
            unique=False,
            sqlite_where=sa.text("look"),
            postgresql_where=sa.text("look"),
        )
        batch_op.create_index("ix_offline_orders_page", ["page_id"], unique=False)

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column(
            "receipt_no",
            existing_type=sa.VARCHAR(length=32),
            type_=sa.String(length=40),
            existing_nullable=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column(
            "receipt_no",
            existing_type=sa.String(length=40),
            type_=sa.VARCHAR(length=32),
            existing_nullable=True,
        )

    with op.batch_alter_table("offline_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_offline_orders_page")
        batch_op.drop_index(
            "ix_offline_orders_look", sqlite_where=sa.text("look"), postgresql_where=sa.text("look")
        )

    op.drop_table("offline_orders")
    op.drop_table("offline_line_flags")
    with op.batch_alter_table("till_receipt_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_till_receipt_blocks_page")

    op.drop_table("till_receipt_blocks")
    op.drop_table("till_pages")
