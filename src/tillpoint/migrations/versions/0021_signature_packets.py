"""e-signature upload from terminals (4.11): the packets of uploads under way, and the
packet sizes of a signature a terminal uploaded

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signature_packets",
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_signature_packets_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_signature_packets_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("payment_id", "number", name=op.f("pk_signature_packets")),
    )
    with op.batch_alter_table("signature_packets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signature_packets_terminal", ["terminal_id", "created_at"], unique=False
        )
    with op.batch_alter_table("payment_signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("packet_sizes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payment_signatures", schema=None) as batch_op:
        batch_op.drop_column("packet_sizes")
    with op.batch_alter_table("signature_packets", schema=None) as batch_op:
        batch_op.drop_index("ix_signature_packets_terminal")
    op.drop_table("signature_packets")
