"""the traffic simulator's runs, the merchants it made and the labels of the patterns
it injected

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PATTERNS = "'card_testing', 'cash_out', 'relocation', 'category_mismatch'"


def upgrade() -> None:
    op.create_table(
        "simulation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("merchants", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("terminals", sa.Integer(), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("approved", sa.Integer(), nullable=False),
        sa.Column("declined", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'finished')", name=op.f("ck_simulation_runs_runstatus")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulation_runs")),
    )
    op.create_table(
        "simulation_merchants",
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("trade", sa.String(length=30), nullable=False),
        sa.Column("city", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_simulation_merchants_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["simulation_runs.id"],
            name=op.f("fk_simulation_merchants_run_id_simulation_runs"),
        ),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_simulation_merchants")),
    )
    with op.batch_alter_table("simulation_merchants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulation_merchants_run_id"), ["run_id"])

    op.create_table(
        "simulation_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("pattern", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("first_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payments", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(f"pattern IN ({PATTERNS})", name=op.f("ck_simulation_labels_pattern")),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_simulation_labels_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["simulation_runs.id"],
            name=op.f("fk_simulation_labels_run_id_simulation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_simulation_labels_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulation_labels")),
    )
    with op.batch_alter_table("simulation_labels", schema=None) as batch_op:
        batch_op.create_index("ix_simulation_labels_run_merchant", ["run_id", "merchant_id"])

    op.create_table(
        "simulation_label_payments",
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", BIG_ID, nullable=False),
        sa.Column("rrn", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(
            ["label_id"],
            ["simulation_labels.id"],
            name=op.f("fk_simulation_label_payments_label_id_simulation_labels"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_simulation_label_payments_payment_id_payments"),
        ),
        sa.PrimaryKeyConstraint(
            "label_id", "payment_id", name=op.f("pk_simulation_label_payments")
        ),
    )
    with op.batch_alter_table("simulation_label_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulation_label_payments_payment_id"), ["payment_id"])


def downgrade() -> None:
    op.drop_table("simulation_label_payments")
    op.drop_table("simulation_labels")
    op.drop_table("simulation_merchants")
    op.drop_table("simulation_runs")
