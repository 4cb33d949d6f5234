"""/v1 routes: API keys and the audit log.

ops_admin manages every key and reads the whole audit log; a merchant owner manages
its own merchant's keys and reads the log of the calls they made. Other roles get 403.
A key's secret is in the answer that made it, and never again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tillpoint.access.service import ApiKeyView, CreatedKey
from tillpoint.api.deps import ObjectId, Owner, Svc
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.schemas import PROBLEMS, ApiKeyIn, AuditEntry, NewApiKey
from tillpoint.api.scope import scoped_merchant_id
from tillpoint.http.text import Text

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
Mid = Annotated[Text | None, Query(max_length=20, description="Only this merchant's (MID)")]


@router.post(
    "/v1/api_keys",
    status_code=201,
    tags=["api keys"],
    summary="Create an API key",
    response_model=NewApiKey,
)
def create_key(
    body: ApiKeyIn, caller: Owner, svc: Svc, response: Response, _key: Key
) -> CreatedKey:
    """Make an API key. ops_admin makes any; a merchant owner makes merchant keys for
    its own merchant. The secret is in this answer only: Tillpoint keeps its hash."""
    response.headers["Cache-Control"] = "no-store"
    return svc.access.create_key(
        body.role, body.name, caller.actor, merchant_ref=body.mid, by=caller
    )


@router.get("/v1/api_keys", tags=["api keys"], summary="List API keys")
def list_keys(
    caller: Owner, svc: Svc, limit: Limit = 20, cursor: Cursor = None, mid: Mid = None
) -> Page[ApiKeyView]:
    """Keys in the order they were made, revoked ones included (never their secrets).
    A merchant owner lists its own merchant's."""
    rows = svc.access.list_keys(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        after_id=decode_cursor(cursor) or 0,
        limit=limit + 1,
    )
    return page(rows, limit, lambda k: k.id)


@router.get("/v1/api_keys/{id}", tags=["api keys"], summary="Show an API key")
def get_key(id: ObjectId, caller: Owner, svc: Svc) -> ApiKeyView:
    """One key: its prefix, role, merchant, when it was made, last used, revoked."""
    return svc.access.get_key(id, merchant_id=caller.merchant_id)


@router.post("/v1/api_keys/{id}/revoke", tags=["api keys"], summary="Revoke an API key")
def revoke_key(id: ObjectId, caller: Owner, svc: Svc, _key: Key) -> ApiKeyView:
    """Stop a key working, at once and for good (revoking it again changes nothing)."""
    return svc.access.revoke(id, caller.actor, merchant_id=caller.merchant_id)


@router.get("/v1/audit_log", tags=["audit log"], summary="Read the audit log")
def audit_log(
    caller: Owner, svc: Svc, limit: Limit = 20, cursor: Cursor = None, mid: Mid = None
) -> Page[AuditEntry]:
    """Every change asked for over the API, newest first: who, what, when, from where
    and how it ended. A merchant owner reads the calls its own merchant's keys made;
    ops_admin reads all, or one merchant's with `mid`."""
    rows = svc.access.audit_log(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page([AuditEntry.model_validate(r) for r in rows], limit, lambda e: e.id)
