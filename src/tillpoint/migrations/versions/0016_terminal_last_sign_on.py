"""the time of a terminal's latest sign-on, kept after sign-off, for the fleet pages

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "last_sign_on_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
    # Terminals signed on now: their current sign-on is their latest.
    op.execute(
        "UPDATE terminals SET last_sign_on_at = (SELECT w.signed_on_at FROM "
        "terminal_working_keys w WHERE w.terminal_id = terminals.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_column("last_sign_on_at")
