"""API keys, people's accounts and their browser sessions, the audit log and idempotency
records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum


class Role(StrEnum):
    OPS_ADMIN = "ops_admin"  # the acquirer's operations: everything
    REVIEWER = "reviewer"  # reads everything, reviews merchant applications
    RISK = "risk"  # reads everything, works risk rules, backtests and cases
    MERCHANT_OWNER = "merchant_owner"  # one merchant: everything of its own
    MERCHANT_STAFF = "merchant_staff"  # one merchant: takes payments and refunds, reads


# The acquirer's own keys: they name no merchant and see every merchant.
OPERATIONS = (Role.OPS_ADMIN, Role.REVIEWER, Role.RISK)


class ApiKey(Base):
    """A secret that authenticates API calls. Only its SHA-256 is kept (the secret is
    random and long, so a slow hash adds nothing); it is shown once, when made."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise it
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditRecord(Base):
    """One change asked for over the API: who, what, when, from where, and the result."""

    __tablename__ = "audit_log"
    # The console's audit page filters by who and by what, newest first (keyset on id).
    __table_args__ = (
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    merchant_id: Mapped[int | None] = mapped_column(Integer, index=True)
    action: Mapped[str] = mapped_column(String(200))  # method and route, e.g. POST /v1/refunds
    target: Mapped[str | None] = mapped_column(String(300))  # the path asked for
    status_code: Mapped[int] = mapped_column(Integer)
    client_ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdempotencyRecord(Base):
    """A POST under an Idempotency-Key and the response it got, byte for byte. A row
    without a status is a request still in flight."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # method, path and body
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AccountRole(StrEnum):
    """What a person may do in the browser: the acquirer's staff, or one merchant's."""

    ADMIN = "admin"  # operations: everything, and accounts
    REVIEWER = "reviewer"  # applications and merchants
    FLEET = "fleet"  # terminals
    RISK = "risk"  # risk alerts and cases
    FINANCE = "finance"  # business days, settlements, payouts, holds
    OWNER = "owner"  # one merchant: everything of its own
    MANAGER = "manager"  # one merchant: its shops, staff and sales
    CASHIER = "cashier"  # one shop of one merchant: that shop's sales of the day
    APPLICANT = "applicant"  # a person applying to be a merchant: their own application


STAFF_ROLES = frozenset(
    {AccountRole.ADMIN, AccountRole.REVIEWER, AccountRole.FLEET, AccountRole.RISK,
     AccountRole.FINANCE}
)  # fmt: skip
MERCHANT_ROLES = frozenset({AccountRole.OWNER, AccountRole.MANAGER, AccountRole.CASHIER})
# Who may use the merchant portal: a merchant's users, and applicants (whose account
# names the application's merchant row once they have applied, before it has a MID).
PORTAL_ROLES = MERCHANT_ROLES | {AccountRole.APPLICANT}


class AccountStatus(StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"  # too many wrong passwords: an admin resets it
    DISABLED = "disabled"


class Account(Base):
    """A person who signs in to the console, portal or cashier, by email or mobile
    number and a password (an Argon2id hash only). Staff accounts belong to no
    merchant; merchant accounts to exactly one (a cashier's to one of its shops)."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("email IS NOT NULL OR mobile IS NOT NULL", name="login"),
        CheckConstraint("shop_id IS NULL OR merchant_id IS NOT NULL", name="shop_of_merchant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # lower case
    mobile: Mapped[str | None] = mapped_column(String(20), unique=True)  # digits only
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id"))
    locale: Mapped[str | None] = mapped_column(String(5))  # None: the browser's language
    status: Mapped[AccountStatus] = mapped_column(str_enum(AccountStatus, length=10))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)  # since the last success
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The second factor (TOTP, RFC 6238): its secret sealed by the keystore, on once
    # confirmed with a code, and the last time step used (a code is never taken twice).
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class AccountRoleGrant(Base):
    """One role of an account: a person may hold several."""

    __tablename__ = "account_roles"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    role: Mapped[AccountRole] = mapped_column(str_enum(AccountRole), primary_key=True)


class WebSession(Base):
    """A signed-in browser: the cookie carries a random token, of which only its SHA-256
    is kept; the CSRF token every form and change must echo lives beside it."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # however active it is
