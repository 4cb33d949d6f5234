"""API keys: made, shown once, found again by their hash, revoked; and the audit log.

A key is ``tp_`` + ``live``/``test`` + 32 random URL-safe characters (about 190 bits).
Only its SHA-256 is stored. A key belongs to the operations side (ops_admin,
reviewer) or to exactly one merchant (merchant_owner, merchant_staff).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, select, update

from tillpoint.access.models import OPERATIONS, ApiKey, AuditRecord, IdempotencyRecord, Role
from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, MerchantStatus
from tillpoint.merchants.services import find_merchant

LAST_USED_EVERY = timedelta(minutes=5)  # how stale last_used_at may get (saves writes)
IDEMPOTENCY_KEEP = timedelta(hours=24)
# Merchants whose keys work: a suspended merchant can still read and refund.
KEYS_WORK_FOR = (MerchantStatus.APPROVED, MerchantStatus.SUSPENDED)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's identity, role and (for merchant keys) merchant."""

    key_id: int
    prefix: str
    name: str
    role: Role
    merchant_id: int | None = None
    mid: str | None = None

    @property
    def operations(self) -> bool:
        return self.role in OPERATIONS

    @property
    def actor(self) -> str:
        """How histories name this caller."""
        return f"api:{self.prefix}"


class ApiKeyView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    prefix: str
    name: str
    role: Role
    mid: str | None
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedKey(BaseModel):
    """A new key: the secret appears here once and is never retrievable again."""

    model_config = ConfigDict(frozen=True)

    key: ApiKeyView
    secret: str


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- keys ---------------------------------------------------------------------------

    def create_key(
        self,
        role: Role,
        name: str,
        actor: str,
        *,
        merchant_ref: str | None = None,
        by: Principal | None = None,
    ) -> CreatedKey:
        """A new key. ``by`` is the API caller asking (None: an operator at the CLI);
        a merchant owner makes keys for its own merchant only, never operations keys."""
        actor = check_actor(actor)
        role = Role(role)
        name = " ".join(name.split())
        if not 1 <= len(name) <= 100:
            raise InvalidInput("api_key.name", N_("Name the key (1-100 characters)"))
        if by is not None and by.role is not Role.OPS_ADMIN:
            if by.role is not Role.MERCHANT_OWNER or role in OPERATIONS:
                raise Refused("api_key.forbidden", N_("This key may not make that kind of key"))
            if merchant_ref is not None and merchant_ref != by.mid:
                raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=merchant_ref)
            merchant_ref = by.mid
        if (role in OPERATIONS) != (merchant_ref is None):
            raise InvalidInput(
                "api_key.scope",
                N_("Operations keys name no merchant; merchant keys name exactly one"),
            )
        secret = f"tp_{'test' if self.ctx.settings.demo else 'live'}_{secrets.token_urlsafe(24)}"
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            merchant = find_merchant(s, merchant_ref) if merchant_ref is not None else None
            if merchant is not None and merchant.status not in KEYS_WORK_FOR:
                raise Refused(
                    "api_key.merchant_not_live",
                    N_("Merchant {ref} is {status}: keys are for approved merchants"),
                    ref=merchant_ref,
                    status=merchant.status,
                )
            key = ApiKey(
                prefix=secret[:12],
                secret_hash=secret_hash(secret),
                role=role,
                merchant_id=merchant.id if merchant else None,
                name=name,
                created_by=actor,
                created_at=now,
            )
            s.add(key)
            s.flush()
            return CreatedKey(key=_view(key, merchant), secret=secret)

    def list_keys(
        self, *, merchant_id: int | None = None, after_id: int = 0, limit: int = 100
    ) -> list[ApiKeyView]:
        """Keys, oldest first; ``merchant_id`` keeps one merchant's."""
        _check_limit(limit)
        query = select(ApiKey, Merchant).outerjoin(Merchant, Merchant.id == ApiKey.merchant_id)
        query = query.where(ApiKey.id > after_id).order_by(ApiKey.id).limit(limit)
        if merchant_id is not None:
            query = query.where(ApiKey.merchant_id == merchant_id)
        with self.ctx.db.read() as s:
            return [_view(k, m) for k, m in s.execute(query).all()]

    def get_key(self, key_id: int, *, merchant_id: int | None = None) -> ApiKeyView:
        with self.ctx.db.read() as s:
            key = _key(s, key_id, merchant_id)
            return _view(key, s.get(Merchant, key.merchant_id) if key.merchant_id else None)

    def revoke(self, key_id: int, actor: str, *, merchant_id: int | None = None) -> ApiKeyView:
        """Stop a key working, at once and for good."""
        actor = check_actor(actor)
        with self.ctx.db.transaction() as s:
            key = _key(s, key_id, merchant_id)
            if key.revoked_at is None:
                key.revoked_at = self.ctx.now()
            return _view(key, s.get(Merchant, key.merchant_id) if key.merchant_id else None)

    def authenticate(self, secret: str) -> Principal | None:
        """The caller a secret names, or None for an unknown or revoked key (or one whose
        merchant no longer trades)."""
        if not secret.startswith("tp_") or len(secret) > 100:
            return None
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            row = s.execute(
                select(ApiKey, Merchant.mid, Merchant.status)
                .outerjoin(Merchant, Merchant.id == ApiKey.merchant_id)
                .where(ApiKey.secret_hash == secret_hash(secret))
            ).one_or_none()
        if row is None:
            return None
        key, mid, status = row
        if key.revoked_at is not None or (key.merchant_id and status not in KEYS_WORK_FOR):
            return None
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
            with self.ctx.db.transaction() as s:
                s.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
        return Principal(key.id, key.prefix, key.name, key.role, key.merchant_id, mid)

    # --- audit --------------------------------------------------------------------------

    def audit(
        self,
        *,
        principal: Principal | None,
        action: str,
        target: str | None,
        status_code: int,
        client_ip: str | None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
        merchant_id: int | None = None,
    ) -> None:
        """One line of the audit log: an API key's request (``principal``), or a
        person's action in the browser (``actor``, as ``console_actor`` names them, and
        the merchant it was about)."""
        with self.ctx.db.transaction() as s:
            s.add(
                AuditRecord(
                    at=self.ctx.now(),
                    api_key_id=principal.key_id if principal else None,
                    actor=principal.actor if principal else (actor or "anonymous")[:100],
                    merchant_id=principal.merchant_id if principal else merchant_id,
                    action=action[:200],
                    target=target[:300] if target else None,
                    status_code=status_code,
                    client_ip=client_ip,
                    detail=detail,
                )
            )

    def audit_log(
        self, *, merchant_id: int | None = None, before_id: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """Newest first."""
        _check_limit(limit)
        query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
        if merchant_id is not None:
            query = query.where(AuditRecord.merchant_id == merchant_id)
        if before_id is not None:
            query = query.where(AuditRecord.id < before_id)
        with self.ctx.db.read() as s:
            records = list(s.scalars(query))
            s.expunge_all()
            return records

    def forget_idempotency_keys(self) -> int:
        """Drop idempotency records older than a day (as Stripe keeps them)."""
        with self.ctx.db.transaction() as s:
            done = s.connection().execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.created_at < self.ctx.now() - IDEMPOTENCY_KEEP
                )
            )
            return int(done.rowcount)


def _check_limit(limit: int) -> None:
    check_limit(limit)


def _key(s: Any, key_id: int, merchant_id: int | None) -> ApiKey:
    key = s.get(ApiKey, key_id)
    if key is None or (merchant_id is not None and key.merchant_id != merchant_id):
        raise NotFound("api_key.not_found", N_("No API key {id}"), id=key_id)
    return key  # type: ignore[no-any-return]


def _view(key: ApiKey, merchant: Merchant | None) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        prefix=key.prefix,
        name=key.name,
        role=key.role,
        mid=merchant.mid if merchant else None,
        created_by=key.created_by,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
