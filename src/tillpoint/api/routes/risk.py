"""/v1/risk routes: rules as data (every change a version), decisions on payments,
alerts, cases and what is done about them, backtests (docs/risk.md).

Operations keys read and backtest (ops_admin, reviewer, risk); an ops_admin or a risk
key changes rules and works cases. Merchants' keys see none of it.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from tillpoint.api.deps import ObjectId, RiskDesk, Svc, Watcher
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Page, whole
from tillpoint.api.schemas import PROBLEMS, Reason
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_
from tillpoint.http.text import Int, Note, Text
from tillpoint.risk.models import Action, CaseStatus, Mode, Resolution, Severity
from tillpoint.risk.service import (
    AlertView,
    CaseAction,
    CaseView,
    DecisionView,
    RuleVersionView,
    RuleView,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
Code = Annotated[Text, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
CodePath = Annotated[Text, Path(max_length=40, description="The rule's code")]
Expression = Annotated[Note, Field(min_length=1, max_length=1000)]
Params = Annotated[
    dict[Text, dict[Text, Int]],
    Field(
        description='Parameters by group: "default", "personal", "business" (whole numbers)',
        examples=[{"default": {"max_10m": 5}, "personal": {"max_10m": 3}}],
    ),
]
Scope = Annotated[
    dict[Text, list[Text]],
    Field(
        description="Where it applies: kinds, mccs, mids (merchant numbers); empty: all",
        examples=[{"kinds": ["personal"]}],
    ),
]


class RuleIn(BaseModel):
    code: Code
    name: Text = Field(max_length=200)
    expression: Expression = Field(examples=["card.count_10m >= max_10m"])
    action: Action
    severity: Severity
    mode: Mode = Field(default=Mode.DRAFT, description="A new rule is a draft unless said")
    params: Params = {}
    scope: Scope = {}
    note: Text = Field(default="", max_length=500)


class RuleChangeIn(BaseModel):
    """Only the fields present change; ``note`` says why (kept with the version)."""

    name: Text | None = Field(default=None, max_length=200)
    expression: Expression | None = None
    action: Action | None = None
    severity: Severity | None = None
    mode: Mode | None = None
    params: Params | None = None
    scope: Scope | None = None
    note: Reason


class AssignIn(BaseModel):
    assignee: Text = Field(max_length=100, examples=["console:risk@acquirer.cn"])


class CommentIn(BaseModel):
    text: Reason


class CaseActionIn(BaseModel):
    action: CaseAction
    tid: Text | None = Field(default=None, max_length=8, description="freeze_terminal: which")


class ResolveIn(BaseModel):
    resolution: Resolution
    note: Text | None = Field(default=None, max_length=500)


class BacktestIn(BaseModel):
    """A stored rule (``code``) or a draft given whole, over past business days."""

    code: Code | None = None
    expression: Expression | None = None
    params: Params = {}
    scope: Scope = {}
    action: Action = Action.ALERT
    date_from: date
    date_to: date


class BacktestOut(BaseModel):
    date_from: date
    date_to: date
    payments: int = Field(description="Sales and pre-authorisations screened in the range")
    fired: int = Field(description="Payments the rule fired on")
    merchants: int
    action: Action
    declined: int
    flagged: int
    amount_minor: int = Field(description="What the payments it fired on came to")
    true_positives: int = Field(description="Merchants it fired on, confirmed by a case")
    false_positives: int = Field(description="Merchants it fired on, cleared by a case")
    false_negatives: int = Field(description="Confirmed merchants it missed")
    precision: Decimal | None
    recall: Decimal | None
    examples: list[str] = Field(description="References of the first payments it fired on")


@router.post("/v1/risk/backtests", tags=["risk"], summary="Backtest a risk rule")
def run_backtest(body: BacktestIn, caller: Watcher, svc: Svc) -> BacktestOut:
    """How many payments the rule would have declined or flagged over the days given
    (at most 92), and its precision and recall against resolved cases. Changes nothing."""
    result = svc.tp.risk.backtest(
        body.date_from, body.date_to, code=body.code, expression=body.expression,
        params=body.params, scope=body.scope, action=body.action,
    )  # fmt: skip
    return BacktestOut(**dataclasses.asdict(result))


@router.get("/v1/risk/rules", tags=["risk"], summary="List risk rules")
def list_rules(caller: Watcher, svc: Svc) -> Page[RuleView]:
    """Every rule, built-in and operators' own, in the order they run."""
    return whole(svc.tp.risk.rules())


@router.post("/v1/risk/rules", status_code=201, tags=["risk"], summary="Create a risk rule")
def create_rule(body: RuleIn, caller: RiskDesk, svc: Svc, _key: Key) -> RuleView:
    """A new rule; the expression is checked for every merchant kind it applies to, and a
    bad one is refused with the reason and the column (nothing is stored)."""
    return svc.tp.risk.create(
        body.code, body.name, body.expression, body.action, body.severity, caller.actor,
        params=body.params, scope=body.scope, mode=body.mode, note=body.note,
    )  # fmt: skip


@router.get("/v1/risk/rules/{code}", tags=["risk"], summary="Show a risk rule")
def get_rule(code: CodePath, caller: Watcher, svc: Svc) -> RuleView:
    return svc.tp.risk.rule(code)


@router.patch("/v1/risk/rules/{code}", tags=["risk"], summary="Change a risk rule")
def change_rule(
    code: CodePath, body: RuleChangeIn, caller: RiskDesk, svc: Svc, _key: Key
) -> RuleView:
    """A new version of the rule (mode live, shadow, draft or off included). Every
    process screens with it within a second."""
    changes: dict[str, Any] = {
        k: getattr(body, k) for k in body.model_fields_set if k != "note" and getattr(body, k)
        is not None
    }  # fmt: skip
    return svc.tp.risk.update(code, caller.actor, body.note, **changes)


@router.get("/v1/risk/rules/{code}/versions", tags=["risk"], summary="A rule's versions")
def rule_versions(code: CodePath, caller: Watcher, svc: Svc) -> Page[RuleVersionView]:
    """Every version, newest first: the whole definition, who, when and why."""
    return whole(svc.tp.risk.versions(code))


@router.get("/v1/risk/decisions/{id}", tags=["risk"], summary="Screening's decision on a payment")
def decision(id: ObjectId, caller: Watcher, svc: Svc) -> DecisionView:
    """The rules that fired on payment ``id`` (live and shadow), their evidence (the
    values read, the thresholds, linked payments) and the action taken."""
    found = svc.tp.risk.decision(id)
    if found is None:
        raise NotFound("risk.no_decision", N_("No rule fired on payment {id}"), id=id)
    return found


@router.get("/v1/risk/alerts", tags=["risk"], summary="List risk alerts")
def list_alerts(
    caller: Watcher,
    svc: Svc,
    case_id: Annotated[int | None, Query(ge=1, description="Only this case's")] = None,
    rule: Annotated[Text | None, Query(max_length=40, description="Only this rule's")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[AlertView]:
    """Newest first."""
    return whole(svc.tp.risk.alerts(case_id=case_id, rule=rule, limit=limit))


@router.get("/v1/risk/cases", tags=["risk"], summary="List risk cases")
def list_cases(
    caller: Watcher,
    svc: Svc,
    status: Annotated[CaseStatus | None, Query(description="open or resolved")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Page[CaseView]:
    """Newest first: one open case per merchant gathers its alerts."""
    return whole(svc.tp.risk.cases(status=status, limit=limit))


@router.get("/v1/risk/cases/{id}", tags=["risk"], summary="Show a risk case")
def get_case(id: ObjectId, caller: Watcher, svc: Svc) -> CaseView:
    """The case, its alerts with their evidence, and its history."""
    return svc.tp.risk.case(id)


@router.post("/v1/risk/cases/{id}/assign", tags=["risk"], summary="Assign a risk case")
def assign(id: ObjectId, body: AssignIn, caller: RiskDesk, svc: Svc, _key: Key) -> CaseView:
    return svc.tp.risk.assign(id, body.assignee, caller.actor)


@router.post("/v1/risk/cases/{id}/comments", tags=["risk"], summary="Comment on a risk case")
def comment(id: ObjectId, body: CommentIn, caller: RiskDesk, svc: Svc, _key: Key) -> CaseView:
    return svc.tp.risk.comment(id, body.text, caller.actor)


@router.post("/v1/risk/cases/{id}/actions", tags=["risk"], summary="Act on a risk case")
def act(id: ObjectId, body: CaseActionIn, caller: RiskDesk, svc: Svc, _key: Key) -> CaseView:
    """Freeze one of the merchant's terminals, hold its payouts or suspend it; noted in
    the case and undone if it is resolved as a false positive."""
    return svc.tp.risk.act(id, body.action, caller.actor, tid=body.tid)


@router.post("/v1/risk/cases/{id}/resolve", tags=["risk"], summary="Resolve a risk case")
def resolve(id: ObjectId, body: ResolveIn, caller: RiskDesk, svc: Svc, _key: Key) -> CaseView:
    """false_positive undoes what the case did (freezes, holds, suspension) and spares
    the merchant its rules for 7 days; fraud_confirmed and cash_out_confirmed keep all."""
    return svc.tp.risk.resolve(id, body.resolution, caller.actor, body.note)
