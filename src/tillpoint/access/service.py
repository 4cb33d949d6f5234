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
        audit: bool = False,
    ) -> CreatedKey:
        """A new key. ``by`` is the API caller asking (None: an operator at the CLI or
        the console); a merchant owner makes keys for its own merchant only, never
        operations keys. ``audit``: written in the audit log as ``actor``'s (the API
        audits its own requests)."""
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
            if audit:
                s.add(_record(now, actor, "api key created", key, 201))
            return CreatedKey(key=_view(key, merchant), secret=secret)

    def list_keys(
        self,
        *,
        merchant_id: int | None = None,
        after_id: int = 0,
        limit: int = 100,
        role: Role | None = None,
        revoked: bool | None = None,
    ) -> list[ApiKeyView]:
        """Keys, oldest first; ``merchant_id`` keeps one merchant's, ``role`` one role's,
        ``revoked`` the revoked ones (True) or the working ones (False)."""
        _check_limit(limit)
        query = select(ApiKey, Merchant).outerjoin(Merchant, Merchant.id == ApiKey.merchant_id)
        query = query.where(ApiKey.id > after_id).order_by(ApiKey.id).limit(limit)
        if merchant_id is not None:
            query = query.where(ApiKey.merchant_id == merchant_id)
        if role is not None:
            query = query.where(ApiKey.role == role)
        if revoked is not None:
            query = query.where(
                ApiKey.revoked_at.is_not(None) if revoked else ApiKey.revoked_at.is_(None)
            )
        with self.ctx.db.read() as s:
            return [_view(k, m) for k, m in s.execute(query).all()]

    def get_key(self, key_id: int, *, merchant_id: int | None = None) -> ApiKeyView:
        with self.ctx.db.read() as s:
            key = _key(s, key_id, merchant_id)
            return _view(key, s.get(Merchant, key.merchant_id) if key.merchant_id else None)

    def revoke(
        self, key_id: int, actor: str, *, merchant_id: int | None = None, audit: bool = False
    ) -> ApiKeyView:
        """Stop a key working, at once and for good (``audit``: as ``create_key``)."""
        actor = check_actor(actor)
        with self.ctx.db.transaction() as s:
            key = _key(s, key_id, merchant_id)
            if key.revoked_at is None:
                key.revoked_at = self.ctx.now()
                if audit:
                    s.add(_record(key.revoked_at, actor, "api key revoked", key, 200))
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
                    actor=(actor or (principal.actor if principal else "anonymous"))[:100],
                    merchant_id=merchant_id or (principal.merchant_id if principal else None),
                    action=action[:200],
                    target=target[:300] if target else None,
                    status_code=status_code,
                    client_ip=client_ip,
                    detail=detail,
                )
            )

    def audit_log(
        self,
        *,
        merchant_id: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        status_class: int | None = None,
    ) -> list[AuditRecord]:
        """Newest first. ``actor`` and ``action`` are exact (each has an index with the
        id); ``since`` <= at < ``until``; ``status_class`` 2, 3, 4 or 5 keeps the 2xx
        (3xx, 4xx, 5xx) answers."""
        _check_limit(limit)
        query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
        if merchant_id is not None:
            query = query.where(AuditRecord.merchant_id == merchant_id)
        if before_id is not None:
            query = query.where(AuditRecord.id < before_id)
        if actor:
            query = query.where(AuditRecord.actor == actor)
        if action:
            query = query.where(AuditRecord.action == action)
        if since is not None:
            query = query.where(AuditRecord.at >= since)
        if until is not None:
            query = query.where(AuditRecord.at < until)
        if status_class is not None:
            low = status_class * 100
            query = query.where(AuditRecord.status_code >= low, AuditRecord.status_code < low + 100)
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


def _record(at: datetime, actor: str, action: str, key: ApiKey, status_code: int) -> AuditRecord:
    return AuditRecord(
        at=at, api_key_id=None, actor=actor[:100], action=action,
        merchant_id=key.merchant_id, target=f"api key {key.id} {key.prefix}",
        status_code=status_code, client_ip=None, detail={"role": key.role.value},
    )  # fmt: skip


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
