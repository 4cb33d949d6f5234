"""terminals prove their keys: security events of failed sign-ons and MACs, the
operator-password rule per terminal, and whether a sign-on checked the password

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("sign_on_failed", "sign_on_throttled", "mac_failed", "mac_throttled")
REASONS = ("no_mac", "bad_mac")


def upgrade() -> None:
    op.create_table(
        "terminal_security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *KINDS,
                name="securityeventkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "reason",
            sa.Enum(
                *REASONS, name="failurereason", native_enum=False, create_constraint=True, length=20
            ),
            nullable=True,
        ),
        sa.Column("source_address", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["terminal_id"],
            ["terminals.id"],
            name=op.f("fk_terminal_security_events_terminal_id_terminals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminal_security_events")),
    )
    with op.batch_alter_table("terminal_security_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_terminal_security_events_recent",
            ["terminal_id", "kind", "source_address", "at"],
        )
    # Terminals already in the field keep signing on as they did; new ones require it.
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_operator_password",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table("terminal_working_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("operator_verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("terminal_working_keys", schema=None) as batch_op:
        batch_op.drop_column("operator_verified")
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_column("require_operator_password")
    with op.batch_alter_table("terminal_security_events", schema=None) as batch_op:
        batch_op.drop_index("ix_terminal_security_events_recent")
    op.drop_table("terminal_security_events")
