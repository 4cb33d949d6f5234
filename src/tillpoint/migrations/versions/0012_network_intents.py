"""network intents: calls noted before the network is asked

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_intents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rrn", sa.String(length=12), nullable=True),
        sa.Column("network", sa.String(length=6), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "reversing",
                "reversed",
                name="intentstate",
                native_enum=False,
                create_constraint=True,
                length=10,
            ),
            nullable=False,
        ),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("batch_no", sa.String(length=6), nullable=True),
        sa.Column("stan", sa.String(length=6), nullable=True),
        sa.Column("mti", sa.String(length=4), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_network_intents_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_intents")),
        sa.UniqueConstraint(
            "terminal_id",
            "batch_no",
            "stan",
            "mti",
            name=op.f("uq_network_intents_terminal_id_batch_no_stan_mti"),
        ),
    )
    with op.batch_alter_table("network_intents", schema=None) as batch_op:
        batch_op.create_index("ix_network_intents_rrn", ["rrn"], unique=False)
        batch_op.create_index("ix_network_intents_state", ["state", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("network_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_network_intents_state")
        batch_op.drop_index("ix_network_intents_rrn")

    op.drop_table("network_intents")
