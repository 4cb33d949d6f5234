"""journal lines repeat their entry's business date and kind; an account's lines of a
day are one range of the account index (account, date, entry, kind, amount)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("capture", "capture_undone", "refund", "payout", "carry", "carry_applied", "data_fee")


def upgrade() -> None:
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE journal_lines SET (business_date, kind) ="
        " (SELECT e.business_date, e.kind FROM journal_entries e"
        " WHERE e.id = journal_lines.entry_id)"
    )
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.alter_column("business_date", existing_type=sa.Date(), nullable=False)
        batch_op.alter_column("kind", existing_type=sa.String(length=20), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_journal_lines_entrykind"), sa.column("kind").in_(KINDS)
        )
        batch_op.drop_index("ix_journal_lines_entry")
        batch_op.create_index(batch_op.f("ix_journal_lines_entry_id"), ["entry_id"])
        batch_op.drop_index("ix_journal_lines_account_code")
        batch_op.create_index(
            "ix_journal_lines_account",
            ["account_code", "business_date", "entry_id", "kind", "amount_minor"],
        )


def downgrade() -> None:
    with op.batch_alter_table("journal_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_lines_account")
        batch_op.create_index(batch_op.f("ix_journal_lines_account_code"), ["account_code"])
        batch_op.drop_index(batch_op.f("ix_journal_lines_entry_id"))
        batch_op.create_index(
            "ix_journal_lines_entry", ["entry_id", "account_code", "amount_minor"]
        )
        batch_op.drop_constraint(op.f("ck_journal_lines_entrykind"), type_="check")
        batch_op.drop_column("kind")
        batch_op.drop_column("business_date")
