"""/v1 routes: settlements, payouts and payout holds (docs/settlement.md).

A settlement is one merchant's net of one closed business day; it is addressed by its
id, and found by merchant and day with `GET /v1/settlements?mid=...&business_date=...`
(there is at most one). A payout is what a settlement pays into the merchant's own bank
account (一清), shown with the account masked.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from tillpoint.api.deps import ObjectId, Ops, Reader, Svc
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page, whole
from tillpoint.api.schemas import PROBLEMS, MerchantRef, ReasonIn
from tillpoint.api.scope import scoped_mid
from tillpoint.clearing.models import SettlementStatus
from tillpoint.clearing.settlement import PayoutView, SettlementRecord, SettlementView
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_
from tillpoint.http.text import Text

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
Mid = Annotated[Text | None, Query(max_length=20, description="Only this merchant's (MID)")]


@router.get("/v1/settlements", tags=["settlements"], summary="List settlements")
def list_settlements(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    business_date: Annotated[date | None, Query(description="Only this business day")] = None,
    mid: Mid = None,
) -> Page[SettlementRecord]:
    """Settlements in the order they were made. A merchant's key lists its own only."""
    rows = svc.tp.settlement.settlements(
        mid=scoped_mid(caller, mid),
        business_date=business_date,
        after_id=decode_cursor(cursor) or 0,
        limit=limit + 1,
    )
    return page(rows, limit, lambda r: r.id)


@router.get("/v1/settlements/{id}", tags=["settlements"], summary="Show a settlement")
def get_settlement(id: ObjectId, caller: Reader, svc: Svc) -> SettlementRecord:
    """One settlement: gross, refunds, fees, data fees, net, what was carried, the payout."""
    record = svc.tp.settlement.settlement(id)
    if not caller.operations and record.mid != caller.mid:
        raise NotFound("settlement.not_found", N_("No settlement {id}"), id=id)
    return record


@router.get("/v1/payouts", tags=["payouts"], summary="List payouts")
def list_payouts(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    mid: Mid = None,
    payout_date: Annotated[date | None, Query(description="Only those due this day")] = None,
    status: Annotated[
        SettlementStatus | None, Query(description="paid (instructed to the bank) or held")
    ] = None,
) -> Page[PayoutView]:
    """Payout instructions, in the order of their settlements: amount, payout date,
    the merchant's account (masked), paid or held. A merchant's key lists its own."""
    rows = svc.tp.settlement.payouts(
        mid=scoped_mid(caller, mid),
        payout_date=payout_date,
        status=status,
        after_id=decode_cursor(cursor) or 0,
        limit=limit + 1,
    )
    return page(rows, limit, lambda p: p.id)


@router.post(
    "/v1/merchants/{ref}/payout_hold", status_code=204, tags=["payouts"], summary="Hold payouts"
)
def hold(ref: MerchantRef, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> None:
    """Hold a merchant's payouts from its next settlement on, until released: what it
    is owed stays owed meanwhile."""
    svc.tp.settlement.hold(ref, body.reason, caller.actor)


@router.post("/v1/merchants/{ref}/payout_release", tags=["payouts"], summary="Release payouts")
def release(ref: MerchantRef, caller: Ops, svc: Svc, _key: Key) -> Page[SettlementView]:
    """End a hold: the settlements it kept back are paid out, due the next business
    day. The answer lists them."""
    return whole(svc.tp.settlement.release(ref, caller.actor))
