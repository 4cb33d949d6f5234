"""application documents, the 'more documents needed' state, review steps in the history

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "'submitted', 'under_review', 'approved', 'rejected', 'suspended', 'closed'"
NEW_STATUSES = (
    "'submitted', 'under_review', 'more_documents', 'approved', 'rejected', 'suspended', 'closed'"
)
ACTIONS = "'status', 'note', 'documents_asked', 'document_uploaded'"
KINDS = (
    "'id_front', 'id_back', 'bank_card', 'business_licence', 'legal_rep_id_front', "
    "'legal_rep_id_back', 'bank_account_proof', 'shop_photo'"
)


def _statuses(values: str) -> None:
    """The merchant statuses allowed by the CHECK constraints of merchants and their
    history (SQLite changes a constraint by rebuilding the table: batch mode)."""
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_merchants_merchantstatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_merchants_merchantstatus"), sa.text(f"status IN ({values})")
        )
    with op.batch_alter_table("merchant_events", schema=None) as batch_op:
        for column in ("from_status", "to_status"):
            batch_op.drop_constraint(op.f(f"ck_merchant_events_{column}"), type_="check")
            batch_op.create_check_constraint(
                op.f(f"ck_merchant_events_{column}"), sa.text(f"{column} IN ({values})")
            )


def upgrade() -> None:
    _statuses(NEW_STATUSES)
    with op.batch_alter_table("merchant_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "action",
                sa.String(length=20),
                server_default="status",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("detail", sa.String(length=200), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_merchant_events_merchantaction"), sa.text(f"action IN ({ACTIONS})")
        )
    op.create_table(
        "merchant_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_enc", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_merchant_documents_documentkind")),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_merchant_documents_size")),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_documents_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_documents")),
    )
    with op.batch_alter_table("merchant_documents", schema=None) as batch_op:
        batch_op.create_index("ix_merchant_documents_merchant", ["merchant_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("merchant_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_merchant_documents_merchant")
    op.drop_table("merchant_documents")
    op.execute("DELETE FROM merchant_events WHERE action <> 'status'")
    with op.batch_alter_table("merchant_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_merchant_events_merchantaction"), type_="check")
        batch_op.drop_column("detail")
        batch_op.drop_column("action")
    # A merchant waiting for documents goes back under review; its history's steps too.
    op.execute("UPDATE merchants SET status = 'under_review' WHERE status = 'more_documents'")
    op.execute(
        "UPDATE merchant_events SET from_status = 'under_review' "
        "WHERE from_status = 'more_documents'"
    )
    op.execute(
        "UPDATE merchant_events SET to_status = 'under_review' WHERE to_status = 'more_documents'"
    )
    _statuses(OLD_STATUSES)
