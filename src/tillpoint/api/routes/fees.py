"""/v1 routes: fee plans, and the plan each merchant is on (docs/fees.md).

The catalogue of plans is the acquirer's: operations read it, ops_admin adds to it and
moves merchants between plans. A merchant's keys read the plan their merchant is on.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tillpoint.api.deps import Ops, Reader, Svc
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Page, whole
from tillpoint.api.schemas import PROBLEMS, AssignPlanIn, FeePlanIn, MerchantRef
from tillpoint.api.scope import Operations, merchant_ref
from tillpoint.core.money import Money
from tillpoint.http.text import Text
from tillpoint.merchants.views import FeeAssignmentView, FeePlanView

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
PlanCode = Annotated[Text, Path(max_length=32, description="Plan code, e.g. BIZ-STD")]


@router.get("/v1/fee_plans", tags=["fee plans"], summary="List fee plans")
def list_plans(caller: Operations, svc: Svc) -> Page[FeePlanView]:
    """Every fee plan (operations only; a merchant reads its own plan at
    `/v1/merchants/{ref}/fee_plan`)."""
    return whole(svc.tp.fees.list_plans())


@router.get("/v1/fee_plans/{code}", tags=["fee plans"], summary="Show a fee plan")
def get_plan(code: PlanCode, caller: Operations, svc: Svc) -> FeePlanView:
    """One fee plan: a rate per payment method, caps, the terminal data fee."""
    return svc.tp.fees.get_plan(code)


@router.post("/v1/fee_plans", status_code=201, tags=["fee plans"], summary="Create a fee plan")
def create_plan(body: FeePlanIn, caller: Ops, svc: Svc, _key: Key) -> FeePlanView:
    """Create a fee plan. Rates are decimal strings (`"0.38"` is 0.38%), caps and the
    data fee integer fen."""
    return svc.tp.fees.create_plan(
        body.code,
        body.name,
        body.rates_by_method(),
        caller.actor,
        data_fee=Money(body.data_fee_minor, body.currency),
        data_fee_free_days=body.data_fee_free_days,
        default_for=body.default_for,
    )


@router.get(
    "/v1/merchants/{ref}/fee_plan", tags=["fee plans"], summary="A merchant's plan in force"
)
def plan_in_force(ref: MerchantRef, caller: Reader, svc: Svc) -> FeePlanView:
    """The fee plan the merchant is on today."""
    return svc.tp.fees.current_plan(merchant_ref(caller, ref))


@router.get(
    "/v1/merchants/{ref}/fee_plan/history",
    tags=["fee plans"],
    summary="A merchant's plans over time",
)
def plan_history(ref: MerchantRef, caller: Reader, svc: Svc) -> Page[FeeAssignmentView]:
    """Every plan change, by the date it takes effect (later ones may be scheduled)."""
    return whole(svc.tp.fees.history(merchant_ref(caller, ref)))


@router.post(
    "/v1/merchants/{ref}/fee_plan",
    status_code=201,
    tags=["fee plans"],
    summary="Move to another plan",
)
def assign_plan(
    ref: MerchantRef, body: AssignPlanIn, caller: Ops, svc: Svc, _key: Key
) -> FeeAssignmentView:
    """Move an approved merchant to another plan from a date on (today by default;
    never backdated: fees already charged are never recomputed)."""
    return svc.tp.fees.assign(
        ref, body.plan_code, caller.actor, effective_from=body.effective_from, reason=body.reason
    )
