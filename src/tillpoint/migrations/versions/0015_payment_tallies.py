"""payment tallies by business day, hour, method, kind, status and currency, for the
console's dashboard; kept by a background pass over payment_events from a position
held in system_state (starts at 0: a pass catches up with existing events)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_tallies",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "business_date",
            "hour",
            "method",
            "kind",
            "status",
            "currency",
            name=op.f("pk_payment_tallies"),
        ),
    )


def downgrade() -> None:
    op.drop_table("payment_tallies")
    op.execute("DELETE FROM system_state WHERE key = 'payment_tallies.position'")
