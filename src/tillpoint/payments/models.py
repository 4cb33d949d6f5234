"""A payment, its history, and the terminal requests that produced answers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, UTCDateTime, str_enum
from tillpoint.merchants.models import PaymentMethod

# Row ids that grow with traffic: 64-bit on PostgreSQL, SQLite's rowid otherwise.
BigId = BigInteger().with_variant(Integer, "sqlite")


class PaymentKind(StrEnum):
    SALE = "sale"
    PREAUTH = "preauth"
    COMPLETION = "completion"
    REFUND = "refund"


class PaymentStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"  # the issuer never answered: nothing charged
    VOIDED = "voided"
    REVERSED = "reversed"
    PARTLY_REFUNDED = "partly_refunded"
    REFUNDED = "refunded"
    COMPLETED = "completed"  # a pre-authorisation that was captured


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_terminal_batch", "terminal_id", "batch_id"),
        Index("ix_payments_merchant_day", "merchant_id", "business_date"),
        # a card's payments; its recent refusals (card testing) are one range of it
        Index("ix_payments_card", "pan_token", "status", "created_at"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refunded"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[PaymentKind] = mapped_column(str_enum(PaymentKind))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus))
    response_code: Mapped[str] = mapped_column(String(2))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    shop_id: Mapped[int] = mapped_column(Integer)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("terminal_batches.id"))
    stan: Mapped[str] = mapped_column(String(6))
    rrn: Mapped[str] = mapped_column(String(12), unique=True)
    auth_code: Mapped[str | None] = mapped_column(String(6))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[PaymentMethod | None] = mapped_column(str_enum(PaymentMethod))
    card_org: Mapped[str | None] = mapped_column(String(3))
    domestic: Mapped[bool | None] = mapped_column(Boolean)
    pan_masked: Mapped[str | None] = mapped_column(String(19))
    pan_token: Mapped[str | None] = mapped_column(String(64))
    entry_mode: Mapped[str] = mapped_column(String(3))
    business_date: Mapped[date] = mapped_column(Date)
    original_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The acquirer's fee on an approved sale or completion (plan in force that day,
    # rounded once); zero for anything else.
    fee_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PaymentEvent(Base):
    """Every transition of a payment, with its time and cause."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    from_status: Mapped[PaymentStatus | None] = mapped_column(
        str_enum(PaymentStatus, name="from_status")
    )
    to_status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus, name="to_status"))
    cause: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class TerminalRequest(Base):
    """A request a terminal sent and the answer it got, keyed as the duplicate rule
    keys it: (terminal, batch, STAN, MTI). The same request again gets the same answer;
    a changed one gets 94. The fingerprint is keyed, so it reveals no card data, and
    the stored answer holds no card data either."""

    __tablename__ = "terminal_requests"
    __table_args__ = (UniqueConstraint("terminal_id", "batch_no", "stan", "mti"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    batch_no: Mapped[str] = mapped_column(String(6))
    stan: Mapped[str] = mapped_column(String(6))
    mti: Mapped[str] = mapped_column(String(4))
    fingerprint: Mapped[str] = mapped_column(String(64))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BatchUpload(Base):
    """One transaction a terminal uploaded (0320) after an unbalanced settlement, as the
    terminal saw it. Only references and amounts: the card number is not kept."""

    __tablename__ = "batch_uploads"
    __table_args__ = (UniqueConstraint("terminal_id", "batch_no", "stan"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    batch_no: Mapped[str] = mapped_column(String(6))
    stan: Mapped[str] = mapped_column(String(6))
    rrn: Mapped[str] = mapped_column(String(12))
    processing_code: Mapped[str] = mapped_column(String(6))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BatchDiscrepancy(Base):
    """What differs between a terminal's upload and the host's records of a batch."""

    __tablename__ = "batch_discrepancies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    batch_no: Mapped[str] = mapped_column(String(6))
    rrn: Mapped[str] = mapped_column(String(12))
    problem: Mapped[str] = mapped_column(String(30))  # missing_on_host, missing_on_terminal, amount
    terminal_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    host_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
