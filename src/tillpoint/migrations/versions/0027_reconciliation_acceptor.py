"""reconciliation compares whom the networks cleared each reference for: a difference of
MID, MCC or fee class (code jumping, 跳码) is kept with the registered value and the
network's, beside any difference of amounts of the same reference

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "'matched', 'missing_at_host', 'missing_at_network', 'amount_mismatch'"
NEW_STATUSES = f"{OLD_STATUSES}, 'mid_mismatch', 'mcc_mismatch', 'fee_class_mismatch'"


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL alters it in place.
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("host_value", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("network_value", sa.String(length=20), nullable=True))
        batch_op.drop_constraint(op.f("ck_reconciliation_items_matchstatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_reconciliation_items_matchstatus"), sa.text(f"status IN ({NEW_STATUSES})")
        )
        batch_op.drop_constraint(
            op.f("uq_reconciliation_items_business_date_network_ref"), type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_reconciliation_items_business_date_network_ref_status"),
            ["business_date", "network_ref", "status"],
        )


def downgrade() -> None:
    # The old schema keeps one difference of amounts per reference and no other kind:
    # the differences of whom a reference was cleared for go (their alerts stay in risk).
    op.execute(
        "DELETE FROM reconciliation_items"
        " WHERE status IN ('mid_mismatch', 'mcc_mismatch', 'fee_class_mismatch')"
    )
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("uq_reconciliation_items_business_date_network_ref_status"), type_="unique"
        )
        batch_op.create_unique_constraint(
            op.f("uq_reconciliation_items_business_date_network_ref"),
            ["business_date", "network_ref"],
        )
        batch_op.drop_constraint(op.f("ck_reconciliation_items_matchstatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_reconciliation_items_matchstatus"), sa.text(f"status IN ({OLD_STATUSES})")
        )
        batch_op.drop_column("network_value")
        batch_op.drop_column("host_value")
