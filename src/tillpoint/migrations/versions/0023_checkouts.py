"""the cashier link: checkouts a till hands to a terminal, their events, and webhook
deliveries of either kind of event

Revision ID: 0023
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tillpoint.core.db

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "'pending', 'processing', 'paid', 'failed', 'canceled', 'expired'"
OPEN = "status IN ('pending', 'processing')"
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "checkouts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("checkout_ref", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_response_code", sa.String(length=2), nullable=True),
        sa.Column("payment_id", BIG_ID, nullable=True),
        sa.Column("claim_batch_no", sa.String(length=6), nullable=True),
        sa.Column("claim_stan", sa.String(length=6), nullable=True),
        sa.Column("claimed_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_checkouts_amount")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_checkouts_attempts")),
        sa.CheckConstraint(
            "(status = 'paid') = (payment_id IS NOT NULL)",
            name=op.f("ck_checkouts_paid_by_payment"),
        ),
        sa.CheckConstraint(
            "(status = 'processing') = (claimed_at IS NOT NULL)",
            name=op.f("ck_checkouts_claimed_when_processing"),
        ),
        sa.CheckConstraint(f"status IN ({STATES})", name=op.f("ck_checkouts_checkoutstatus")),
        sa.ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_checkouts_merchant_shop",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_checkouts_merchant_id_merchants")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_checkouts_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_checkouts_terminal_id_terminals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
        sa.UniqueConstraint("checkout_ref", name=op.f("uq_checkouts_checkout_ref")),
        sa.UniqueConstraint(
            "merchant_id", "reference", name=op.f("uq_checkouts_merchant_id_reference")
        ),
        sa.UniqueConstraint("payment_id", name=op.f("uq_checkouts_payment_id")),
    )
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_checkouts_due",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )
        batch_op.create_index("ix_checkouts_merchant", ["merchant_id", "id"], unique=False)
        batch_op.create_index(
            "ix_checkouts_open",
            ["terminal_id", "id"],
            unique=False,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )

    op.create_table(
        "checkout_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("checkout_id", BIG_ID, nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("response_code", sa.String(length=2), nullable=True),
        sa.Column("payment_id", BIG_ID, nullable=True),
        sa.Column("at", tillpoint.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"status IN ({STATES})", name=op.f("ck_checkout_events_checkoutstatus")),
        sa.ForeignKeyConstraint(
            ["checkout_id"], ["checkouts.id"], name=op.f("fk_checkout_events_checkout_id_checkouts")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_checkout_events_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout_events")),
    )
    with op.batch_alter_table("checkout_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_checkout_events_checkout_id"), ["checkout_id"], unique=False
        )

    # Webhooks already fanning out payment events fan out checkout events from the first.
    op.execute(
        "INSERT INTO system_state (key, value) SELECT 'webhooks.checkout_event_position', '0' "
        "WHERE EXISTS (SELECT 1 FROM system_state WHERE key = 'webhooks.event_position')"
    )
    # A delivery is of a payment event or of a checkout event: two numberings.
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=10), server_default="payment", nullable=False)
        )
        batch_op.drop_constraint("uq_webhook_deliveries_endpoint_id_event_id", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_webhook_deliveries_endpoint_id_source_event_id"),
            ["endpoint_id", "source", "event_id"],
        )


def downgrade() -> None:
    op.execute("DELETE FROM system_state WHERE key = 'webhooks.checkout_event_position'")
    op.execute("DELETE FROM webhook_attempts WHERE delivery_id IN "
               "(SELECT id FROM webhook_deliveries WHERE source <> 'payment')")  # fmt: skip
    op.execute("DELETE FROM webhook_deliveries WHERE source <> 'payment'")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            "uq_webhook_deliveries_endpoint_id_source_event_id", type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_webhook_deliveries_endpoint_id_event_id", ["endpoint_id", "event_id"]
        )
        batch_op.drop_column("source")
    with op.batch_alter_table("checkout_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkout_events_checkout_id"))
    op.drop_table("checkout_events")
    with op.batch_alter_table("checkouts", schema=None) as batch_op:
        batch_op.drop_index("ix_checkouts_open")
        batch_op.drop_index("ix_checkouts_merchant")
        batch_op.drop_index("ix_checkouts_due")
    op.drop_table("checkouts")
