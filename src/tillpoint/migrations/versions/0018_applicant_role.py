"""the applicant role: a person of the merchant portal whose application is not approved

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "'admin', 'reviewer', 'fleet', 'risk', 'finance', 'owner', 'manager', 'cashier'"
NEW_ROLES = OLD_ROLES + ", 'applicant'"


def _roles(values: str) -> None:
    """The roles the CHECK constraint of account_roles allows (SQLite rebuilds the table
    to change it: batch mode)."""
    with op.batch_alter_table("account_roles", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_account_roles_accountrole"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_account_roles_accountrole"), sa.text(f"role IN ({values})")
        )


def upgrade() -> None:
    _roles(NEW_ROLES)


def downgrade() -> None:
    op.execute("DELETE FROM account_roles WHERE role = 'applicant'")
    _roles(OLD_ROLES)
