"""a merchant's requests for another terminal, and the fleet team's decisions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'requested', 'fulfilled', 'declined'"


def upgrade() -> None:
    op.create_table(
        "terminal_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            f"state IN ({STATES})", name=op.f("ck_terminal_orders_terminalorderstate")
        ),
        sa.CheckConstraint(
            "(state = 'fulfilled') = (terminal_id IS NOT NULL)",
            name=op.f("ck_terminal_orders_fulfilled_tid"),
        ),
        sa.CheckConstraint(
            "(state = 'requested') = (decided_at IS NULL)",
            name=op.f("ck_terminal_orders_decided_unless_requested"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_terminal_orders_merchant_shop",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_terminal_orders_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_terminal_orders_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal_orders")),
    )
    with op.batch_alter_table("terminal_orders", schema=None) as batch_op:
        batch_op.create_index("ix_terminal_orders_merchant", ["merchant_id", "id"], unique=False)
        batch_op.create_index("ix_terminal_orders_state", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("terminal_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_terminal_orders_state")
        batch_op.drop_index("ix_terminal_orders_merchant")
    op.drop_table("terminal_orders")
