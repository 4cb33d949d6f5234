"""settlements say on which business day's payout file their payout is instructed
(paid_on): the run's day, or the day a hold was released; settlements paid before take
their own business day, as the payout file chose them until now

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_settlements_paid_on"), ["paid_on"], unique=False)
    op.execute("UPDATE settlements SET paid_on = business_date WHERE status = 'paid'")


def downgrade() -> None:
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_paid_on"))
        batch_op.drop_column("paid_on")
