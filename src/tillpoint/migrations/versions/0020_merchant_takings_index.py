"""an index that answers a merchant's takings day by day on its own (the portal's charts)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_payments_merchant_takings",
        "payments",
        ["merchant_id", "business_date", "kind", "status", "amount_minor"],
    )


def downgrade() -> None:
    op.drop_index("ix_payments_merchant_takings", table_name="payments")
