"""Terminals and everything that hangs off one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, UTCDateTime, str_enum
from tillpoint.iso8583.mac import MacMethod


class TerminalStatus(StrEnum):
    IN_STOCK = "in_stock"
    BOUND = "bound"
    SHIPPED = "shipped"
    ACTIVE = "active"  # signed on at least once
    FROZEN = "frozen"
    RETIRED = "retired"


# Statuses in which a terminal belongs to a merchant.
BOUND_STATUSES = (
    TerminalStatus.BOUND,
    TerminalStatus.SHIPPED,
    TerminalStatus.ACTIVE,
    TerminalStatus.FROZEN,
)


class Capability(StrEnum):
    MAGSTRIPE = "magstripe"
    CHIP = "chip"
    CONTACTLESS = "contactless"
    QR_CAMERA = "qr_camera"
    PRINTER = "printer"
    ESIGNATURE = "esignature"


class SecurityEventKind(StrEnum):
    SIGN_ON_FAILED = "sign_on_failed"  # a sign-on whose MAC under the TMK is missing or wrong
    SIGN_ON_THROTTLED = "sign_on_throttled"  # an address's sign-ons held back from here on
    MAC_FAILED = "mac_failed"  # a message whose MAC under the MAK is missing or wrong
    MAC_THROTTLED = "mac_throttled"  # an address's messages held back from here on


class FailureReason(StrEnum):
    NO_MAC = "no_mac"
    BAD_MAC = "bad_mac"


class OperatorRole(StrEnum):
    SUPERVISOR = "supervisor"  # code 00, 6-digit password
    OPERATOR = "operator"  # codes 001-999, 4-digit passwords


class Terminal(Base):
    __tablename__ = "terminals"
    __table_args__ = (
        # One terminal, one merchant (一机一户): the shop must be the merchant's own.
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_terminals_merchant_shop",
        ),
        CheckConstraint(
            "(merchant_id IS NOT NULL) = (status IN ('bound', 'shipped', 'active', 'frozen'))",
            name="bound_iff_merchant",
        ),
        CheckConstraint("(merchant_id IS NULL) = (shop_id IS NULL)", name="merchant_with_shop"),
        CheckConstraint(
            "(place_latitude_e6 IS NULL) = (place_longitude_e6 IS NULL)", name="place_lat_lon"
        ),
        CheckConstraint(
            "place_latitude_e6 BETWEEN -90000000 AND 90000000", name="place_latitude_range"
        ),
        CheckConstraint(
            "place_longitude_e6 BETWEEN -180000000 AND 180000000", name="place_longitude_range"
        ),
        # the places reported lately: risk screening reads them once a second
        Index("ix_terminals_place_reported_at", "place_reported_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tid: Mapped[str] = mapped_column(String(8), unique=True)
    serial_no: Mapped[str] = mapped_column(String(40), unique=True)
    model: Mapped[str] = mapped_column(String(40))
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    mac_method: Mapped[MacMethod] = mapped_column(str_enum(MacMethod))
    status: Mapped[TerminalStatus] = mapped_column(str_enum(TerminalStatus), index=True)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(Integer)
    # The terminal master key, only ever encrypted under the master key.
    tmk_enc: Mapped[bytes] = mapped_column(LargeBinary)
    tmk_kcv: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The latest sign-on (working keys are deleted at sign-off; this stays), for fleet
    # pages. Written by the sign-on's own transaction, never by a payment.
    last_sign_on_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Selling needs an operator signed in with a password (docs/terminals.md).
    require_operator_password: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=false()
    )
    # Where the terminal last said it was (field 59, spec 4.12; terminals/places.py):
    # all of one report, replaced by the next; positions in micro-degrees, exact.
    place_device_type: Mapped[str | None] = mapped_column(String(2))
    place_serial_no: Mapped[str | None] = mapped_column(String(40))
    place_latitude_e6: Mapped[int | None] = mapped_column(Integer)
    place_longitude_e6: Mapped[int | None] = mapped_column(Integer)
    place_cell: Mapped[str | None] = mapped_column(String(32))
    place_ip: Mapped[str | None] = mapped_column(String(45))
    place_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The address the terminal's connection came from, at a proven message.
    source_address: Mapped[str | None] = mapped_column(String(64))
    source_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TerminalBinding(Base):
    """Which merchant a terminal belonged to, when. At most one binding is open per
    terminal: a partial unique index makes the database refuse a second one."""

    __tablename__ = "terminal_bindings"
    __table_args__ = (
        Index(
            "uq_terminal_bindings_open",
            "terminal_id",
            unique=True,
            sqlite_where=text("unbound_at IS NULL"),
            postgresql_where=text("unbound_at IS NULL"),
        ),
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_terminal_bindings_merchant_shop",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    shop_id: Mapped[int] = mapped_column(Integer)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bound_by: Mapped[str] = mapped_column(String(100))
    unbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unbound_by: Mapped[str | None] = mapped_column(String(100))
    unbind_reason: Mapped[str | None] = mapped_column(String(500))


class TerminalEvent(Base):
    """Every lifecycle change of a terminal: who, when, why."""

    __tablename__ = "terminal_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    from_status: Mapped[TerminalStatus | None] = mapped_column(
        str_enum(TerminalStatus, name="from_status")
    )
    to_status: Mapped[TerminalStatus] = mapped_column(str_enum(TerminalStatus, name="to_status"))
    actor: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class Operator(Base):
    """A person allowed to use one terminal: its supervisor (00) or a cashier (001...)."""

    __tablename__ = "terminal_operators"
    __table_args__ = (
        UniqueConstraint("terminal_id", "code"),
        CheckConstraint("(code = '00') = (role = 'supervisor')", name="supervisor_is_00"),
        CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    code: Mapped[str] = mapped_column(String(3))
    role: Mapped[OperatorRole] = mapped_column(str_enum(OperatorRole))
    name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TerminalBatch(Base):
    """A terminal's batch (批次): transactions between two batch settlements. A terminal
    with an open batch that holds transactions may not leave its merchant."""

    __tablename__ = "terminal_batches"
    __table_args__ = (
        UniqueConstraint("terminal_id", "batch_no", "opened_at"),
        CheckConstraint("txn_count >= 0", name="txn_count"),
        # A terminal has at most one open batch.
        Index(
            "uq_terminal_batches_open",
            "terminal_id",
            unique=True,
            sqlite_where=text("settled_at IS NULL"),
            postgresql_where=text("settled_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), index=True)
    batch_no: Mapped[str] = mapped_column(String(6))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    txn_count: Mapped[int] = mapped_column(Integer, default=0)


class WorkingKeys(Base):
    """The working keys of a terminal's current sign-on, encrypted under the master key.
    A new sign-on replaces them (the old ones stop working); a sign-off deletes them."""

    __tablename__ = "terminal_working_keys"

    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)  # counts sign-ons, names the keys
    pik_enc: Mapped[bytes] = mapped_column(LargeBinary)
    mak_enc: Mapped[bytes] = mapped_column(LargeBinary)
    tdk_enc: Mapped[bytes] = mapped_column(LargeBinary)
    operator_code: Mapped[str] = mapped_column(String(3))
    signed_on_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The operator's password was checked at this sign-on (field 52).
    operator_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TerminalSecurityEvent(Base):
    """A failed proof of a terminal's keys, or the start of a throttle, for operations.
    Throttling bounds how fast these rows can come: at most five failures per address,
    kind and ten minutes, then one throttle row (terminals/security.py)."""

    __tablename__ = "terminal_security_events"
    __table_args__ = (
        Index("ix_terminal_security_events_recent", "terminal_id", "kind", "source_address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    kind: Mapped[SecurityEventKind] = mapped_column(str_enum(SecurityEventKind))
    reason: Mapped[FailureReason | None] = mapped_column(str_enum(FailureReason))
    source_address: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int | None] = mapped_column(Integer)  # the working keys, for MACs
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class TerminalOrderState(StrEnum):
    REQUESTED = "requested"  # waiting for the fleet team
    FULFILLED = "fulfilled"  # a terminal from stock was bound to the shop for it
    DECLINED = "declined"  # the fleet team said no, with a reason


class TerminalOrder(Base):
    """A merchant's request for one more terminal at one of its shops (the table is
    named for orders: ``terminal_requests`` are the terminals' own messages), and what
    the fleet team decided. An open request counts towards the merchant's terminal limit,
    as a terminal would; a fulfilled one names the terminal bound for it."""

    __tablename__ = "terminal_orders"
    __table_args__ = (
        # The shop is the merchant's own.
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_terminal_orders_merchant_shop",
        ),
        CheckConstraint(
            "(state = 'requested') = (decided_at IS NULL)", name="decided_unless_requested"
        ),
        CheckConstraint("(state = 'fulfilled') = (terminal_id IS NOT NULL)", name="fulfilled_tid"),
        # A merchant's requests, newest first; the open ones, oldest first.
        Index("ix_terminal_orders_merchant", "merchant_id", "id"),
        Index("ix_terminal_orders_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    shop_id: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[TerminalOrderState] = mapped_column(str_enum(TerminalOrderState))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str | None] = mapped_column(String(500))
    # The terminal bound for a fulfilled request.
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
