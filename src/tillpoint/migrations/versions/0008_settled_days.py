"""business days remember when their settlement run finished (runs go in date order)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("business_days", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settled_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True)
        )
    # Days up to the last one settled were run (or had nothing to settle): done.
    op.execute(
        "UPDATE business_days SET settled_at = closed_at WHERE business_date <= "
        "(SELECT max(business_date) FROM settlements)"
    )


def downgrade() -> None:
    with op.batch_alter_table("business_days", schema=None) as batch_op:
        batch_op.drop_column("settled_at")
