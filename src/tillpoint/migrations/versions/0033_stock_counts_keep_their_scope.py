"""stock counts keep the scope their booking declared (what was left alone or booked as
none), and its category; counts booked before have none recorded

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stock_counts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scope",
                sa.Enum(
                    "counted",
                    "category",
                    "shop",
                    name="countscope",
                    native_enum=False,
                    create_constraint=True,
                    length=10,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("scope_category_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_stock_counts_scope_category_id_product_categories"),
            "product_categories",
            ["scope_category_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("stock_counts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_stock_counts_countscope"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_stock_counts_scope_category_id_product_categories"), type_="foreignkey"
        )
        batch_op.drop_column("scope_category_id")
        batch_op.drop_column("scope")
