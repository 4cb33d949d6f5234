"""the risk role of API keys: a risk analyst's key reads what operations reads and
works risk rules and cases

People's accounts have had their ``risk`` role since 0013 (account_roles' CHECK names
it already); only the CHECK of api_keys.role is widened here.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "'ops_admin', 'reviewer', 'merchant_owner', 'merchant_staff'"
NEW_ROLES = "'ops_admin', 'reviewer', 'risk', 'merchant_owner', 'merchant_staff'"


def _roles(values: str) -> None:
    """The roles the CHECK constraint of api_keys allows (SQLite rebuilds the table to
    change it: batch mode; PostgreSQL drops and adds the constraint)."""
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_api_keys_role"), type_="check")
        batch_op.create_check_constraint(op.f("ck_api_keys_role"), sa.text(f"role IN ({values})"))


def upgrade() -> None:
    _roles(NEW_ROLES)


def downgrade() -> None:
    # A risk key cannot be kept under the old roles, nor deleted (the audit log and the
    # idempotency records name it): it becomes a revoked reviewer key, which works no
    # more and gains nothing.
    op.execute(
        "UPDATE api_keys SET role = 'reviewer',"
        " revoked_at = COALESCE(revoked_at, CURRENT_TIMESTAMP) WHERE role = 'risk'"
    )
    _roles(OLD_ROLES)
