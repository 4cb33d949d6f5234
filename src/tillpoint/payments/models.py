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
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum
from tillpoint.merchants.models import PaymentMethod

# Row ids that grow with traffic: 64-bit on PostgreSQL, SQLite's rowid otherwise.


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
    # Merchant-presented QR codes (主扫) over the API: waiting for the customer, then
    # approved or declined, or closed unanswered by its deadline or by the merchant.
    PENDING = "pending"
    EXPIRED = "expired"
    CANCELED = "canceled"


class Channel(StrEnum):
    """Where a payment came from: a terminal over ISO 8583, or the REST API."""

    TERMINAL = "terminal"
    API = "api"


class QrFlow(StrEnum):
    CUSTOMER_PRESENTED = "customer_presented"  # 被扫: the merchant scans the customer
    MERCHANT_PRESENTED = "merchant_presented"  # 主扫: the customer scans the merchant


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_terminal_batch", "terminal_id", "batch_id"),
        Index("ix_payments_merchant_day", "merchant_id", "business_date"),
        # a merchant's takings day by day (the portal's charts), read from the index alone
        Index(
            "ix_payments_merchant_takings",
            "merchant_id",
            "business_date",
            "kind",
            "status",
            "amount_minor",
        ),
        # a card's payments; its recent refusals (card testing) are one range of it
        Index("ix_payments_card", "pan_token", "status", "created_at"),
        # the API's payment lists, newest first, and the pending codes' deadlines
        Index("ix_payments_merchant_id", "merchant_id", "id"),
        Index("ix_payments_pending", "status", "expires_at"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refunded"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[PaymentKind] = mapped_column(str_enum(PaymentKind))
    status: Mapped[PaymentStatus] = mapped_column(str_enum(PaymentStatus))
    response_code: Mapped[str] = mapped_column(String(2))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    shop_id: Mapped[int] = mapped_column(Integer)
    # API payments may name a terminal (a smart-POS app) but are never in its batch.
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("terminal_batches.id"))
    stan: Mapped[str | None] = mapped_column(String(6))
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
    channel: Mapped[Channel] = mapped_column(
        str_enum(Channel), default=Channel.TERMINAL, server_default=Channel.TERMINAL.value
    )
    qr_flow: Mapped[QrFlow | None] = mapped_column(str_enum(QrFlow, length=20))
    reference: Mapped[str | None] = mapped_column(String(64))  # the merchant's order number
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a pending QR code's
    qr_code: Mapped[str | None] = mapped_column(String(300))  # what the customer scans (主扫)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PaymentEvent(Base):
    """Every transition of a payment, with its time and cause. Written in the payment's
    own unit of work, it is also the outbox that webhooks and live streams read."""

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


class PaymentSignature(Base):
    """The cardholder's signature (电签) attached to a card payment: one image, once."""

    __tablename__ = "payment_signatures"

    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Uploaded by a terminal (4.11): the size of each packet it came in, so that a packet
    # sent again after the last one is known for what it is. NULL: attached over the API.
    packet_sizes: Mapped[list[int] | None] = mapped_column(JSON)


class SignaturePacket(Base):
    """A packet of a signature a terminal is uploading (4.11), kept until the last one
    makes the image (then the image is a ``PaymentSignature`` and its packets go).
    Bounded: a terminal has at most a few uploads open (payments/signatures.py drops its
    oldest to start another) and each at most 8 packets of 500 bytes; packets older than
    an hour are dropped."""

    __tablename__ = "signature_packets"
    __table_args__ = (Index("ix_signature_packets_terminal", "terminal_id", "created_at"),)

    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)  # from 1
    count: Mapped[int] = mapped_column(Integer)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    data: Mapped[bytes] = mapped_column(LargeBinary)
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


class IntentState(StrEnum):
    OPEN = "open"  # the network is (or may be) asked; its answer is not on our books yet
    REVERSING = "reversing"  # to be undone at the network, until the network confirms
    REVERSED = "reversed"  # undone at the network; kept as the record of it


class NetworkIntent(Base):
    """A call that may move money at a network (a sale, a hold, a capture, a void, a
    refund, a wallet payment or order), written durably before the network is asked,
    so that nothing can be charged that we do not know about.

    The payment's own write removes the row (the answer is then on our books), in the
    same unit of work; whatever finds a row still open once its time is up, or after a
    failed write, or for a terminal's reversal, undoes the call at the network first
    (``reversing``) and keeps the row as the record of that (``reversed``). A reversal
    that arrives before its original leaves a row under the original's terminal key, so
    that the late original is refused. ``payments/intents.py`` has the rules."""

    __tablename__ = "network_intents"
    __table_args__ = (
        # The terminal request that made the call; at most one call per request. The
        # key is NULL for API calls and for reversals that undo a recorded payment.
        UniqueConstraint("terminal_id", "batch_no", "stan", "mti"),
        Index("ix_network_intents_rrn", "rrn"),
        Index("ix_network_intents_state", "state", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rrn: Mapped[str | None] = mapped_column(String(12))  # the network's reference
    network: Mapped[str] = mapped_column(String(6))  # "card" or "wallet"
    action: Mapped[str] = mapped_column(String(10))  # what was asked: "sale", "refund"...
    state: Mapped[IntentState] = mapped_column(str_enum(IntentState, length=10))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    batch_no: Mapped[str | None] = mapped_column(String(6))
    stan: Mapped[str | None] = mapped_column(String(6))
    mti: Mapped[str | None] = mapped_column(String(4))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cause: Mapped[str | None] = mapped_column(String(60))  # why it was reversed


class PaymentTally(Base):
    """How many payments, and how much, there are of one business day, hour (Shanghai),
    method, kind, current status and currency: the console's dashboard reads these few
    rows instead of the payments. A background pass keeps them (payments/tallies.py),
    reading ``payment_events`` after its position: each event moves one payment from
    the bucket of its old status to that of its new one. Nothing on the payment's own
    write path touches this table."""

    __tablename__ = "payment_tallies"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0-23, Asia/Shanghai
    method: Mapped[str] = mapped_column(String(20), primary_key=True)  # "" when none
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class CheckoutStatus(StrEnum):
    """A checkout of the cashier link (收银联动): an amount a shop's till hands to one
    of its terminals (``payments/checkouts.py``)."""

    PENDING = "pending"  # waits for its terminal to ask for it and take the card
    PROCESSING = "processing"  # a sale naming it is under way (claimed by that sale)
    PAID = "paid"  # by the approved sale it names (payment_id)
    FAILED = "failed"  # its sales were declined as many times as a checkout allows
    CANCELED = "canceled"  # by the till, while it was pending
    EXPIRED = "expired"  # nobody paid it in time


class Checkout(Base):
    """An amount that waits for one terminal. The database decides who pays it: a sale
    claims it with a conditional update (pending to processing, with the sale's batch
    and STAN), and the sale's own unit of work marks it paid, or pending again (or
    failed) with the response code, only while that claim still stands."""

    __tablename__ = "checkouts"
    __table_args__ = (
        # The terminal's shop is the checkout's, and the merchant's own.
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_checkouts_merchant_shop",
        ),
        UniqueConstraint("merchant_id", "reference"),  # the till's own: one checkout each
        UniqueConstraint("checkout_ref"),  # what the terminal sees (field 62)
        UniqueConstraint("payment_id"),  # a sale pays one checkout at most
        # The terminal's poll: its open checkouts, oldest first (a handful of rows).
        Index(
            "ix_checkouts_open",
            "terminal_id",
            "id",
            sqlite_where=text("status IN ('pending', 'processing')"),
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
        # A merchant's, newest first (a terminal's too: the service names both).
        Index("ix_checkouts_merchant", "merchant_id", "id"),
        # The expiry sweep: the open checkouts by deadline.
        Index(
            "ix_checkouts_due",
            "expires_at",
            sqlite_where=text("status IN ('pending', 'processing')"),
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
        CheckConstraint("amount_minor > 0", name="amount"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("(status = 'paid') = (payment_id IS NOT NULL)", name="paid_by_payment"),
        CheckConstraint(
            "(status = 'processing') = (claimed_at IS NOT NULL)", name="claimed_when_processing"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    shop_id: Mapped[int] = mapped_column(Integer)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    reference: Mapped[str] = mapped_column(String(64))  # the till's (order number)
    checkout_ref: Mapped[str] = mapped_column(String(32))  # ASCII, field 62 of 4.13
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[CheckoutStatus] = mapped_column(str_enum(CheckoutStatus))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # sales declined so far
    last_response_code: Mapped[str | None] = mapped_column(String(2))  # the last sale's
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))  # paid by
    # The sale under way (the terminal is the checkout's own), while processing.
    claim_batch_no: Mapped[str | None] = mapped_column(String(6))
    claim_stan: Mapped[str | None] = mapped_column(String(6))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckoutEvent(Base):
    """What the till is told of a checkout (paid, a sale failed, canceled, expired),
    written in the same unit of work as the change: the outbox webhooks read."""

    __tablename__ = "checkout_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), index=True)
    type: Mapped[str] = mapped_column(String(30))  # checkout.paid, checkout.failed...
    status: Mapped[CheckoutStatus] = mapped_column(str_enum(CheckoutStatus))  # reached
    response_code: Mapped[str | None] = mapped_column(String(2))  # the sale's, if any
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))  # that sale
    at: Mapped[datetime] = mapped_column(UTCDateTime())
