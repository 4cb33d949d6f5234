"""an order's receipt number is given when it is paid (none before), and the
fingerprint of what the till sent under its client_ref

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_sha256", sa.String(length=64), nullable=True))
        batch_op.alter_column("receipt_no", existing_type=sa.String(length=32), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_orders_receipt_when_paid"), "(status = 'paid') = (receipt_no IS NOT NULL)"
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_receipt_when_paid"), type_="check")
        batch_op.alter_column("receipt_no", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column("request_sha256")
