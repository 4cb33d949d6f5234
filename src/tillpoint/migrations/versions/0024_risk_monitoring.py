"""risk monitoring: rules as data with their versions, decisions, alerts, cases and
exemptions

Revision ID: 0024
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0024"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "resolved",
                name="casestatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "low",
                "medium",
                "high",
                "critical",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("assignee", sa.String(length=100), nullable=True),
        sa.Column(
            "resolution",
            sa.Enum(
                "false_positive",
                "fraud_confirmed",
                "cash_out_confirmed",
                name="resolution",
                native_enum=False,
                create_constraint=True,
                length=30,
            ),
            nullable=True,
        ),
        sa.Column("opened_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_cases")),
    )
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.create_index("ix_risk_cases_status", ["status", "opened_at"], unique=False)
        batch_op.create_index(
            "uq_risk_cases_open_merchant",
            ["merchant_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "risk_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("expression", sa.Text(), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "alert",
                "hold",
                "decline",
                "freeze",
                name="action",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "low",
                "medium",
                "high",
                "critical",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "mode",
            sa.Enum(
                "live",
                "shadow",
                "draft",
                "off",
                name="mode",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_risk_rules_version")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_rules")),
        sa.UniqueConstraint("code", name=op.f("uq_risk_rules_code")),
    )
    op.create_table(
        "risk_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("rule_code", sa.String(length=40), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "low",
                "medium",
                "high",
                "critical",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "action",
            sa.Enum(
                "alert",
                "hold",
                "decline",
                "freeze",
                name="action",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_alerts_case_id_risk_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_alerts")),
    )
    with op.batch_alter_table("risk_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_risk_alerts_case", ["case_id"], unique=False)
        batch_op.create_index(
            "ix_risk_alerts_merchant_at", ["merchant_id", "created_at"], unique=False
        )

    op.create_table(
        "risk_case_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.String(length=2000), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_case_events_case_id_risk_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_case_events")),
    )
    with op.batch_alter_table("risk_case_events", schema=None) as batch_op:
        batch_op.create_index("ix_risk_case_events_case", ["case_id", "id"], unique=False)

    op.create_table(
        "risk_exemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("rule_code", sa.String(length=40), nullable=False),
        sa.Column("until", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["risk_cases.id"], name=op.f("fk_risk_exemptions_case_id_risk_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_exemptions")),
    )
    with op.batch_alter_table("risk_exemptions", schema=None) as batch_op:
        batch_op.create_index("ix_risk_exemptions_merchant", ["merchant_id", "until"], unique=False)

    op.create_table(
        "risk_rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("changed_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["risk_rules.id"], name=op.f("fk_risk_rule_versions_rule_id_risk_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_rule_versions")),
        sa.UniqueConstraint(
            "rule_id", "version", name=op.f("uq_risk_rule_versions_rule_id_version")
        ),
    )
    op.create_table(
        "risk_decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("hits", sa.JSON(), nullable=False),
        sa.Column("at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_risk_decisions_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_decisions")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_risk_decisions_payment_id")),
    )
    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_risk_decisions_merchant_at", ["merchant_id", "at"], unique=False)
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.create_index("ix_terminals_place_reported_at", ["place_reported_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_index("ix_terminals_place_reported_at")

    with op.batch_alter_table("risk_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_decisions_merchant_at")

    op.drop_table("risk_decisions")
    op.drop_table("risk_rule_versions")
    with op.batch_alter_table("risk_exemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_exemptions_merchant")

    op.drop_table("risk_exemptions")
    with op.batch_alter_table("risk_case_events", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_case_events_case")

    op.drop_table("risk_case_events")
    with op.batch_alter_table("risk_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_alerts_merchant_at")
        batch_op.drop_index("ix_risk_alerts_case")

    op.drop_table("risk_alerts")
    op.drop_table("risk_rules")
    with op.batch_alter_table("risk_cases", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_risk_cases_open_merchant",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index("ix_risk_cases_status")

    op.drop_table("risk_cases")
