"""covering indexes for a day's end: a day's journal entries with their kind and
payment, an entry's lines with their accounts and amounts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_journal_entries_day", "journal_entries", ["business_date", "kind", "payment_id"]
    )
    op.drop_index("ix_journal_entries_business_date", table_name="journal_entries")
    op.create_index(
        "ix_journal_lines_entry", "journal_lines", ["entry_id", "account_code", "amount_minor"]
    )
    op.drop_index("ix_journal_lines_entry_id", table_name="journal_lines")


def downgrade() -> None:
    op.create_index("ix_journal_entries_business_date", "journal_entries", ["business_date"])
    op.drop_index("ix_journal_entries_day", table_name="journal_entries")
    op.create_index("ix_journal_lines_entry_id", "journal_lines", ["entry_id"])
    op.drop_index("ix_journal_lines_entry", table_name="journal_lines")
