"""the shop's own point of sale: catalogue (categories, products, barcodes, shop
prices, images), stock (movements, levels, transfers, counts), mall counters, till
shifts and receipt numbers, orders with their lines and tenders

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_product_categories_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_categories")),
        sa.UniqueConstraint(
            "merchant_id", "name", name=op.f("uq_product_categories_merchant_id_name")
        ),
    )
    op.create_table(
        "store_revisions",
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_store_revisions_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_store_revisions")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column(
            "sold_by",
            sa.Enum(
                "piece",
                "weight",
                name="soldby",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("plu", sa.Integer(), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cost_minor IS NULL OR cost_minor >= 0", name=op.f("ck_products_cost")),
        sa.CheckConstraint(
            "plu IS NULL OR plu BETWEEN 1 AND 999999", name=op.f("ck_products_plu_range")
        ),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_products_price")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_categories.id"],
            name=op.f("fk_products_category_id_product_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_products_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("merchant_id", "id", name=op.f("uq_products_merchant_id_id")),
        sa.UniqueConstraint("merchant_id", "sku", name=op.f("uq_products_merchant_id_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index("ix_products_merchant_name", ["merchant_id", "name"], unique=False)
        batch_op.create_index(
            "ix_products_merchant_revision", ["merchant_id", "revision"], unique=False
        )
        batch_op.create_index(
            "uq_products_merchant_plu",
            ["merchant_id", "plu"],
            unique=True,
            sqlite_where=sa.text("plu IS NOT NULL"),
            postgresql_where=sa.text("plu IS NOT NULL"),
        )

    op.create_table(
        "stock_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "booked",
                "canceled",
                name="countstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("opened_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_counts_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_counts")),
    )
    with op.batch_alter_table("stock_counts", schema=None) as batch_op:
        batch_op.create_index("ix_stock_counts_shop", ["shop_id", "id"], unique=False)

    op.create_table(
        "stock_transfers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("from_shop_id", sa.Integer(), nullable=False),
        sa.Column("to_shop_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "sent",
                "received",
                "canceled",
                name="transferstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("sent_by", sa.String(length=100), nullable=False),
        sa.Column("sent_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("from_shop_id <> to_shop_id", name=op.f("ck_stock_transfers_two_shops")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "from_shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_transfers_merchant_from_shop",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "to_shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_transfers_merchant_to_shop",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_transfers")),
    )
    with op.batch_alter_table("stock_transfers", schema=None) as batch_op:
        batch_op.create_index("ix_stock_transfers_merchant", ["merchant_id", "id"], unique=False)

    op.create_table(
        "store_counters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_store_counters_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_counters")),
        sa.UniqueConstraint("merchant_id", "id", name=op.f("uq_store_counters_merchant_id_id")),
        sa.UniqueConstraint("shop_id", "number", name=op.f("uq_store_counters_shop_id_number")),
    )
    op.create_table(
        "till_receipt_sequences",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("till", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("next_number", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_till_receipt_sequences_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("shop_id", "till", name=op.f("pk_till_receipt_sequences")),
    )
    op.create_table(
        "product_barcodes",
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "ean13",
                "ean8",
                "upca",
                "own",
                name="barcodekind",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_product_barcodes_merchant_product",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("merchant_id", "code", name=op.f("pk_product_barcodes")),
    )
    with op.batch_alter_table("product_barcodes", schema=None) as batch_op:
        batch_op.create_index("ix_product_barcodes_product", ["product_id"], unique=False)

    op.create_table(
        "product_images",
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_images_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_images")),
    )
    op.create_table(
        "product_shop_prices",
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("price_minor >= 0", name=op.f("ck_product_shop_prices_price")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_product_shop_prices_merchant_product",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_product_shop_prices_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("product_id", "shop_id", name=op.f("pk_product_shop_prices")),
    )
    op.create_table(
        "stock_count_lines",
        sa.Column("count_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("counted_milli", sa.BigInteger(), nullable=False),
        sa.Column("book_milli", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("counted_milli >= 0", name=op.f("ck_stock_count_lines_counted")),
        sa.ForeignKeyConstraint(
            ["count_id"],
            ["stock_counts.id"],
            name=op.f("fk_stock_count_lines_count_id_stock_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_stock_count_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("count_id", "product_id", name=op.f("pk_stock_count_lines")),
    )
    op.create_table(
        "stock_levels",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("reorder_milli", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "reorder_milli IS NULL OR reorder_milli >= 0", name=op.f("ck_stock_levels_reorder")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_stock_levels_merchant_product",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_levels_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("shop_id", "product_id", name=op.f("pk_stock_levels")),
    )
    op.create_table(
        "stock_transfer_lines",
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sent_milli", sa.BigInteger(), nullable=False),
        sa.Column("received_milli", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "received_milli IS NULL OR received_milli >= 0",
            name=op.f("ck_stock_transfer_lines_received"),
        ),
        sa.CheckConstraint("sent_milli > 0", name=op.f("ck_stock_transfer_lines_sent")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_stock_transfer_lines_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["stock_transfers.id"],
            name=op.f("fk_stock_transfer_lines_transfer_id_stock_transfers"),
        ),
        sa.PrimaryKeyConstraint("transfer_id", "product_id", name=op.f("pk_stock_transfer_lines")),
    )
    op.create_table(
        "till_shifts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("till", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "closed",
                name="shiftstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("float_minor", sa.BigInteger(), nullable=False),
        sa.Column("opened_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("counted_cash_minor", sa.BigInteger(), nullable=True),
        sa.Column("expected_cash_minor", sa.BigInteger(), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL AND counted_cash_minor IS NOT NULL)",
            name=op.f("ck_till_shifts_closed_with_count"),
        ),
        sa.CheckConstraint("float_minor >= 0", name=op.f("ck_till_shifts_float")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_till_shifts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"], ["accounts.id"], name=op.f("fk_till_shifts_closed_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_till_shifts_merchant_shop",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_till_shifts")),
        sa.UniqueConstraint("shop_id", "number", name=op.f("uq_till_shifts_shop_id_number")),
    )
    with op.batch_alter_table("till_shifts", schema=None) as batch_op:
        batch_op.create_index("ix_till_shifts_shop", ["shop_id", "id"], unique=False)
        batch_op.create_index(
            "uq_till_shifts_open_till",
            ["shop_id", "till"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("counter_id", sa.Integer(), nullable=True),
        sa.Column("shift_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
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
            "status",
            sa.Enum(
                "open",
                "held",
                "paid",
                "canceled",
                name="orderstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column(
            "original_order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("client_ref", sa.String(length=40), nullable=False),
        sa.Column("receipt_no", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(kind = 'return') = (original_order_id IS NOT NULL)",
            name=op.f("ck_orders_return_of_sale"),
        ),
        sa.CheckConstraint("discount_minor >= 0", name=op.f("ck_orders_discount")),
        sa.CheckConstraint("total_minor >= 0", name=op.f("ck_orders_total")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["accounts.id"], name=op.f("fk_orders_approved_by_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "counter_id"],
            ["store_counters.merchant_id", "store_counters.id"],
            name="fk_orders_merchant_counter",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_orders_merchant_shop",
        ),
        sa.ForeignKeyConstraint(
            ["original_order_id"], ["orders.id"], name=op.f("fk_orders_original_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"], ["till_shifts.id"], name=op.f("fk_orders_shift_id_till_shifts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "merchant_id", "client_ref", name=op.f("uq_orders_merchant_id_client_ref")
        ),
        sa.UniqueConstraint(
            "merchant_id", "receipt_no", name=op.f("uq_orders_merchant_id_receipt_no")
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_original", ["original_order_id"], unique=False)
        batch_op.create_index("ix_orders_shift", ["shift_id"], unique=False)
        batch_op.create_index("ix_orders_shop_created", ["shop_id", "created_at"], unique=False)

    op.create_table(
        "order_lines",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("barcode", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("unit", sa.String(length=10), nullable=False),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("list_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("unit_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("order_discount_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("cost_minor", sa.BigInteger(), nullable=True),
        sa.Column(
            "original_line_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("returned_milli", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_order_lines_amount")),
        sa.CheckConstraint("discount_minor >= 0", name=op.f("ck_order_lines_discount")),
        sa.CheckConstraint("quantity_milli > 0", name=op.f("ck_order_lines_quantity")),
        sa.CheckConstraint(
            "returned_milli >= 0 AND returned_milli <= quantity_milli",
            name=op.f("ck_order_lines_returned"),
        ),
        sa.CheckConstraint("unit_price_minor >= 0", name=op.f("ck_order_lines_price")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["original_line_id"],
            ["order_lines.id"],
            name=op.f("fk_order_lines_original_line_id_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.UniqueConstraint("order_id", "line_no", name=op.f("uq_order_lines_order_id_line_no")),
    )
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.create_index("ix_order_lines_original", ["original_line_id"], unique=False)
        batch_op.create_index("ix_order_lines_product", ["product_id"], unique=False)

    op.create_table(
        "stock_movements",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "receipt",
                "transfer_out",
                "transfer_in",
                "count",
                "adjustment",
                "sale",
                "return",
                name="movementkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("quantity_milli", sa.BigInteger(), nullable=False),
        sa.Column("unit_cost_minor", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("count_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("document", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity_milli <> 0", name=op.f("ck_stock_movements_moves")),
        sa.ForeignKeyConstraint(
            ["count_id"], ["stock_counts.id"], name=op.f("fk_stock_movements_count_id_stock_counts")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_stock_movements_merchant_product",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_movements_merchant_shop",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_stock_movements_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["stock_transfers.id"],
            name=op.f("fk_stock_movements_transfer_id_stock_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
    )
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_movements_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_stock_movements_shop_product", ["shop_id", "product_id", "id"], unique=False
        )

    op.create_table(
        "order_tenders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "kind",
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
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "paid",
                "failed",
                "canceled",
                "refunded",
                name="tenderstatus",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("received_minor", sa.BigInteger(), nullable=True),
        sa.Column("change_minor", sa.BigInteger(), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "checkout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "original_tender_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("response_code", sa.String(length=2), nullable=True),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_order_tenders_amount")),
        sa.CheckConstraint("change_minor >= 0", name=op.f("ck_order_tenders_change")),
        sa.CheckConstraint(
            "received_minor IS NULL OR received_minor = amount_minor + change_minor",
            name=op.f("ck_order_tenders_received"),
        ),
        sa.ForeignKeyConstraint(
            ["checkout_id"], ["checkouts.id"], name=op.f("fk_order_tenders_checkout_id_checkouts")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_tenders_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["original_tender_id"],
            ["order_tenders.id"],
            name=op.f("fk_order_tenders_original_tender_id_order_tenders"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_order_tenders_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_tenders")),
    )
    with op.batch_alter_table("order_tenders", schema=None) as batch_op:
        batch_op.create_index("ix_order_tenders_order", ["order_id"], unique=False)
        batch_op.create_index("ix_order_tenders_original", ["original_tender_id"], unique=False)
        batch_op.create_index("ix_order_tenders_payment", ["payment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_tenders", schema=None) as batch_op:
        batch_op.drop_index("ix_order_tenders_payment")
        batch_op.drop_index("ix_order_tenders_original")
        batch_op.drop_index("ix_order_tenders_order")

    op.drop_table("order_tenders")
    with op.batch_alter_table("stock_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_movements_shop_product")
        batch_op.drop_index(batch_op.f("ix_stock_movements_order_id"))

    op.drop_table("stock_movements")
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_order_lines_product")
        batch_op.drop_index("ix_order_lines_original")

    op.drop_table("order_lines")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_shop_created")
        batch_op.drop_index("ix_orders_shift")
        batch_op.drop_index("ix_orders_original")

    op.drop_table("orders")
    with op.batch_alter_table("till_shifts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_till_shifts_open_till",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index("ix_till_shifts_shop")

    op.drop_table("till_shifts")
    op.drop_table("stock_transfer_lines")
    op.drop_table("stock_levels")
    op.drop_table("stock_count_lines")
    op.drop_table("product_shop_prices")
    op.drop_table("product_images")
    with op.batch_alter_table("product_barcodes", schema=None) as batch_op:
        batch_op.drop_index("ix_product_barcodes_product")

    op.drop_table("product_barcodes")
    op.drop_table("till_receipt_sequences")
    op.drop_table("store_counters")
    with op.batch_alter_table("stock_transfers", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_transfers_merchant")

    op.drop_table("stock_transfers")
    with op.batch_alter_table("stock_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_stock_counts_shop")

    op.drop_table("stock_counts")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_products_merchant_plu",
            sqlite_where=sa.text("plu IS NOT NULL"),
            postgresql_where=sa.text("plu IS NOT NULL"),
        )
        batch_op.drop_index("ix_products_merchant_revision")
        batch_op.drop_index("ix_products_merchant_name")

    op.drop_table("products")
    op.drop_table("store_revisions")
    op.drop_table("product_categories")
