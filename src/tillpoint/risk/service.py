"""Risk operations: the rules (as data, every change a version with who and why), the
decisions kept with payments, alerts, and cases (assign, comment, act, resolve).

Every change of a rule or an exemption moves the ``risk_rules`` counter: each process's
engine sees it within a second and compiles the rules again (risk/engine.py).

Code jumping found at reconciliation (``clearing_mismatch``) is not a rule: rules screen
attempts, and this is found a day later in the networks' clearing files. Each merchant's
differences of a day raise one alert of ``CLEARING_CHECK`` in its open case, which holds
its payouts as a ``hold`` rule would.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from tillpoint.clearing.models import MatchStatus
from tillpoint.clearing.reconcile import Item
from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.db import Database
from tillpoint.core.errors import InvalidInput, InvariantViolation, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.models import next_counter
from tillpoint.merchants.fees import plan_in_force, plan_rate
from tillpoint.merchants.models import Merchant, MerchantKind, PaymentMethod
from tillpoint.payments.models import Payment, PaymentKind
from tillpoint.payments.views import PaymentView, payment_view
from tillpoint.risk.backtest import BacktestResult, backtest
from tillpoint.risk.builtin import BUILTIN, RuleDef
from tillpoint.risk.engine import (
    FEATURES,
    RULES_COUNTER,
    Actions,
    Engine,
    business_day_start,
    note_case,
    open_case,
    params_for,
)
from tillpoint.risk.expr import check
from tillpoint.risk.models import (
    SEVERITY_RANK,
    Action,
    CaseStatus,
    Mode,
    Resolution,
    RiskAlert,
    RiskCase,
    RiskCaseEvent,
    RiskDecision,
    RiskExemption,
    RiskRule,
    RiskRuleVersion,
    Severity,
)
from tillpoint.terminals.models import Terminal

log = logging.getLogger("tillpoint.risk")

EXEMPT_FOR = timedelta(days=7)  # a false positive's rules spare its merchant this long
#: The alerts of code jumping found at reconciliation: what the networks cleared a
#: payment under (MID, MCC, fee class) is not what the merchant registered.
CLEARING_CHECK = "code_jumping_clearing"
CLEARING_SEVERITY = Severity.HIGH
CLEARING_ACTION = Action.HOLD
CLEARING_EVIDENCE = 50  # differences an alert lists (it counts them all)
_FIELDS = {
    MatchStatus.MID_MISMATCH: "mid",
    MatchStatus.MCC_MISMATCH: "mcc",
    MatchStatus.FEE_CLASS_MISMATCH: "fee_class",
}
MAX_PARAMS = 20
MAX_CODE = 40
PAGE = 100


MAX_REF_CHARS = 40  # a payment's reference or id, as typed
MAX_PAYMENT_ID = 2**62  # ids are 64-bit: a larger number names nothing


class CaseAction(StrEnum):
    FREEZE_TERMINAL = "freeze_terminal"
    HOLD_PAYOUTS = "hold_payouts"
    SUSPEND_MERCHANT = "suspend_merchant"


class QueueOrder(StrEnum):
    """How a queue of cases is sorted."""

    SEVERITY = "severity"  # the most severe first, then the newest
    NEWEST = "newest"


class RuleView(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    name: str
    version: int
    expression: str
    action: Action
    severity: Severity
    mode: Mode
    params: dict[str, dict[str, Any]]
    scope: dict[str, list[str]]
    builtin: bool
    updated_by: str
    updated_at: datetime


class RuleVersionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    definition: dict[str, Any]
    changed_by: str
    changed_at: datetime
    note: str


class AlertView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    case_id: int
    rule: str
    rule_version: int
    severity: Severity
    action: Action
    mid: str | None
    tid: str | None
    payment_id: int | None
    evidence: dict[str, Any]
    created_at: datetime


class CaseEventView(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    actor: str
    detail: str
    data: dict[str, Any]
    at: datetime


class CaseView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    mid: str | None
    merchant_name: str | None
    status: CaseStatus
    severity: Severity
    assignee: str | None
    resolution: Resolution | None
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    alerts: int
    events: list[CaseEventView] = []
    alert_list: list[AlertView] = []


class DecisionView(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: int
    action: str
    hits: list[dict[str, Any]]
    at: datetime


@dataclass(frozen=True)
class CasePage:
    """A page of a queue of cases: each case's rules that fired (by case id) and where
    the next page starts (None: no more)."""

    cases: list[CaseView]
    rules: dict[int, list[str]]
    next_after: int | None


class PaymentScreening(BaseModel):
    """A payment and what screening made of it. ``screened``: a sale or
    pre-authorisation, which screening sees; with no decision, no rule fired on it (it
    was allowed). Refunds, voids, completions and the like are not screened."""

    model_config = ConfigDict(frozen=True)

    payment: PaymentView
    screened: bool
    decision: DecisionView | None
    alerts: list[AlertView]


#: Kinds of payment screening sees (risk/engine.py screens sales and pre-authorisations).
SCREENED_KINDS = frozenset({PaymentKind.SALE, PaymentKind.PREAUTH})


def _definition(r: RiskRule) -> dict[str, Any]:
    return {
        "name": r.name, "expression": r.expression, "action": r.action.value,
        "severity": r.severity.value, "mode": r.mode.value, "params": r.params,
        "scope": r.scope,
    }  # fmt: skip


def _rule_view(r: RiskRule) -> RuleView:
    return RuleView(
        code=r.code, name=r.name, version=r.version, expression=r.expression, action=r.action,
        severity=r.severity, mode=r.mode, params=r.params, scope=r.scope, builtin=r.builtin,
        updated_by=r.updated_by, updated_at=r.updated_at,
    )  # fmt: skip


def check_rule(
    expression: str, params: Mapping[str, Any], scope: Mapping[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """A rule's definition, checked: the expression compiles for every kind it applies
    to with that kind's parameters; parameters are whole numbers; the scope names known
    kinds. Gives the parameters and scope as stored."""
    if not isinstance(params, Mapping) or not isinstance(scope, Mapping):
        raise InvalidInput("risk.rule", N_("A rule's parameters and scope are objects"))
    allowed = {"default", *(k.value for k in MerchantKind)}
    clean: dict[str, dict[str, Any]] = {}
    for group, values in params.items():
        if group not in allowed or not isinstance(values, Mapping):
            raise InvalidInput("risk.params", N_("Unknown parameter group {group}"), group=group)
        if len(values) > MAX_PARAMS:
            raise InvalidInput("risk.params", N_("Too many parameters in {group}"), group=group)
        for name, value in values.items():
            if not (isinstance(name, str) and name.isidentifier() and "." not in name):
                raise InvalidInput("risk.params", N_("Bad parameter name {name}"), name=name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(
                    "risk.params", N_("Parameter {name} must be a whole number"), name=name
                )
            if name in FEATURES:
                raise InvalidInput(
                    "risk.params", N_("Parameter {name} has a feature's name"), name=name
                )
        clean[group] = dict(values)
    where = _check_scope(scope)
    kinds = where.get("kinds", [])
    for kind in MerchantKind:
        if not kinds or kind.value in kinds:
            check(expression, FEATURES, params_for(clean, kind))
    return clean, where


def _check_scope(scope: Mapping[str, Any]) -> dict[str, list[str]]:
    kinds = scope.get("kinds") or []
    mccs = scope.get("mccs") or []
    mids = scope.get("mids") or []
    unknown = set(scope) - {"kinds", "mccs", "mids"}
    if unknown or not all(isinstance(v, list) for v in (kinds, mccs, mids)):
        raise InvalidInput("risk.scope", N_("A scope has lists of kinds, mccs and mids"))
    if any(k not in {x.value for x in MerchantKind} for k in kinds):
        raise InvalidInput("risk.scope", N_("Unknown merchant kind in the scope"))
    if any(not (isinstance(m, str) and m.isdigit() and len(m) == 4) for m in mccs):
        raise InvalidInput("risk.scope", N_("An MCC is four digits"))
    if any(not (isinstance(m, str) and m.isdigit() and len(m) == 15) for m in mids):
        raise InvalidInput("risk.scope", N_("A MID is 15 digits"))
    return {k: v for k, v in (("kinds", kinds), ("mccs", mccs), ("mids", mids)) if v}


class RiskService:
    def __init__(self, ctx: Context, engine: Engine | None, actions: Actions | None) -> None:
        self.ctx = ctx
        self.engine = engine
        self.actions = actions

    def _changed(self, s: Session) -> None:
        next_counter(s, RULES_COUNTER)
        if self.engine is not None:
            self.engine.rules_changed()

    # --- rules ------------------------------------------------------------------------

    def ensure_builtin(self) -> int:
        """Insert the built-in rules this database lacks; how many."""
        added = ensure_builtin(self.ctx.db, self.ctx.now())
        if added and self.engine is not None:
            self.engine.rules_changed()
        return added

    def rules(self) -> list[RuleView]:
        with self.ctx.db.read() as s:
            return [_rule_view(r) for r in s.scalars(select(RiskRule).order_by(RiskRule.id))]

    def rule(self, code: str) -> RuleView:
        with self.ctx.db.read() as s:
            return _rule_view(self._find(s, code))

    @staticmethod
    def _find(s: Session, code: str) -> RiskRule:
        rule = s.scalars(select(RiskRule).where(RiskRule.code == code)).one_or_none()
        if rule is None:
            raise NotFound("risk.rule_not_found", N_("No risk rule {code}"), code=code)
        return rule

    def create(
        self,
        code: str,
        name: str,
        expression: str,
        action: Action,
        severity: Severity,
        actor: str,
        *,
        params: Mapping[str, Any] | None = None,
        scope: Mapping[str, Any] | None = None,
        mode: Mode = Mode.DRAFT,
        note: str = "",
    ) -> RuleView:
        """A new rule, a draft unless said otherwise (a draft runs only in backtests)."""
        actor = check_actor(actor)
        if not (code.isidentifier() and code.isascii() and len(code) <= MAX_CODE):
            raise InvalidInput("risk.code", N_("A rule code is letters, digits and _ (at most 40)"))
        if not name.strip() or len(name) > 200:
            raise InvalidInput("risk.name", N_("A rule needs a name (at most 200 characters)"))
        clean, where = check_rule(expression, params or {}, scope or {})
        with self.ctx.db.transaction() as s:
            if s.scalars(select(RiskRule.id).where(RiskRule.code == code)).first() is not None:
                raise Refused("risk.rule_exists", N_("Risk rule {code} exists already"), code=code)
            d = RuleDef(code, name.strip(), expression, Action(action), Severity(severity),
                        clean, where, Mode(mode))  # fmt: skip
            rule = add_rule(s, d, actor, note or "created", self.ctx.now(), builtin=False)
            self._changed(s)
            return _rule_view(rule)

    def update(self, code: str, actor: str, note: str, **changes: Any) -> RuleView:
        """A new version of the rule: any of name, expression, action, severity, mode,
        params, scope; checked whole before anything is written."""
        actor = check_actor(actor)
        reason = check_reason(note, required=True)
        known = {"name", "expression", "action", "severity", "mode", "params", "scope"}
        if set(changes) - known:
            raise InvalidInput("risk.change", N_("Unknown rule field {field}"),
                               field=sorted(set(changes) - known)[0])  # fmt: skip
        with self.ctx.db.transaction() as s:
            rule = self._find(s, code)
            expression = changes.get("expression", rule.expression)
            params = changes.get("params", rule.params)
            scope = changes.get("scope", rule.scope)
            clean, where = check_rule(expression, params, scope)
            name = changes.get("name", rule.name)
            if not isinstance(name, str) or not name.strip() or len(name) > 200:
                raise InvalidInput("risk.name", N_("A rule needs a name (at most 200 characters)"))
            try:
                action = Action(changes.get("action", rule.action))
                severity = Severity(changes.get("severity", rule.severity))
                mode = Mode(changes.get("mode", rule.mode))
            except ValueError as e:
                raise InvalidInput("risk.change", N_("Unknown action, severity or mode")) from e
            rule.name, rule.expression, rule.params, rule.scope = (
                name.strip(),
                expression,
                clean,
                where,
            )
            rule.action, rule.severity, rule.mode = action, severity, mode
            rule.version += 1
            rule.updated_by, rule.updated_at = actor, self.ctx.now()
            s.add(RiskRuleVersion(rule_id=rule.id, version=rule.version,
                                  definition=_definition(rule), changed_by=actor,
                                  changed_at=rule.updated_at, note=reason or ""))  # fmt: skip
            self._changed(s)
            return _rule_view(rule)

    def versions(self, code: str) -> list[RuleVersionView]:
        with self.ctx.db.read() as s:
            rule = self._find(s, code)
            rows = s.scalars(
                select(RiskRuleVersion)
                .where(RiskRuleVersion.rule_id == rule.id)
                .order_by(RiskRuleVersion.version.desc())
            )
            return [
                RuleVersionView(version=v.version, definition=v.definition,
                                changed_by=v.changed_by, changed_at=v.changed_at, note=v.note)
                for v in rows
            ]  # fmt: skip

    def backtest(
        self,
        date_from: date,
        date_to: date,
        *,
        code: str | None = None,
        expression: str | None = None,
        params: Mapping[str, Any] | None = None,
        scope: Mapping[str, Any] | None = None,
        action: Action = Action.ALERT,
    ) -> BacktestResult:
        """A stored rule (``code``) or a draft given whole, over past days' payments."""
        if code is not None:
            r = self.rule(code)
            expression, params, scope, action = r.expression, r.params, r.scope, r.action
        if expression is None:
            raise InvalidInput("risk.backtest_rule", N_("Name a rule or give an expression"))
        clean, where = check_rule(expression, params or {}, scope or {})
        return backtest(self.ctx.db, expression, clean, where, Action(action), date_from, date_to)

    # --- decisions and alerts ---------------------------------------------------------

    def decision(self, payment_id: int) -> DecisionView | None:
        """What screening decided on a payment, if any rule fired."""
        with self.ctx.db.read() as s:
            d = s.scalars(
                select(RiskDecision).where(RiskDecision.payment_id == payment_id)
            ).one_or_none()
            if d is None:
                return None
            return DecisionView(payment_id=d.payment_id, action=d.action, hits=d.hits, at=d.at)

    def screening(self, ref: str) -> PaymentScreening:
        """A payment named by its reference (RRN, 12 characters) or its id, with the
        decision screening kept and the alerts it raised."""
        ref = ref.strip()[:MAX_REF_CHARS]
        with self.ctx.db.read() as s:
            p = None
            if len(ref) == 12:
                p = s.scalars(select(Payment).where(Payment.rrn == ref)).first()
            if p is None and ref.isascii() and ref.isdigit() and int(ref) <= MAX_PAYMENT_ID:
                p = s.get(Payment, int(ref))
            if p is None:
                raise NotFound("payment.not_found", N_("No payment {ref}"), ref=ref or "-")
            d = s.scalars(select(RiskDecision).where(RiskDecision.payment_id == p.id)).first()
            # Its alerts: those it raised, and those it counted on (a rule firing again
            # the same day adds to the alert it raised first: risk/engine.py).
            live = sorted({h["rule"] for h in d.hits if h.get("mode") == "live"}) if d else []
            alerts = list(
                s.scalars(
                    select(RiskAlert)
                    .where(
                        (RiskAlert.payment_id == p.id)
                        | (
                            (RiskAlert.merchant_id == p.merchant_id)
                            & RiskAlert.rule_code.in_(live)
                            & RiskAlert.created_at.between(
                                business_day_start(d.at) if d else p.created_at, p.created_at
                            )
                        )
                    )
                    .order_by(RiskAlert.id)
                )
            )
            per_terminal = (
                {h["rule"] for h in d.hits if "terminal." in h["expression"]} if d else ()
            )
            alerts = [
                a for a in alerts
                if a.payment_id == p.id or a.rule_code not in per_terminal
                or a.terminal_id == p.terminal_id
            ]  # fmt: skip
            return PaymentScreening(
                payment=payment_view(s, p),
                screened=p.kind in SCREENED_KINDS,
                decision=None if d is None else DecisionView(
                    payment_id=d.payment_id, action=d.action, hits=d.hits, at=d.at),
                alerts=self._alert_views(s, alerts),
            )  # fmt: skip

    def terminal_tids(self, ids: set[int]) -> dict[int, str]:
        """The TIDs of terminals named by id (a case's actions name them so)."""
        with self.ctx.db.read() as s:
            return _tids(s, ids)

    def alerts(
        self, *, case_id: int | None = None, rule: str | None = None, limit: int = PAGE
    ) -> list[AlertView]:
        with self.ctx.db.read() as s:
            q = select(RiskAlert).order_by(RiskAlert.id.desc()).limit(min(max(limit, 1), 1000))
            if case_id is not None:
                q = q.where(RiskAlert.case_id == case_id)
            if rule is not None:
                q = q.where(RiskAlert.rule_code == rule)
            rows = list(s.scalars(q))
            return self._alert_views(s, rows)

    @staticmethod
    def _alert_views(s: Session, rows: Sequence[RiskAlert]) -> list[AlertView]:
        mids = _mids(s, {a.merchant_id for a in rows})
        tids = _tids(s, {a.terminal_id for a in rows if a.terminal_id is not None})
        return [
            AlertView(
                id=a.id, case_id=a.case_id, rule=a.rule_code, rule_version=a.rule_version,
                severity=a.severity, action=a.action, mid=mids.get(a.merchant_id, (None, None))[0],
                tid=tids.get(a.terminal_id) if a.terminal_id else None, payment_id=a.payment_id,
                evidence=a.evidence, created_at=a.created_at,
            )
            for a in rows
        ]  # fmt: skip

    # --- cases ------------------------------------------------------------------------

    def cases(self, *, status: CaseStatus | None = None, limit: int = PAGE) -> list[CaseView]:
        with self.ctx.db.read() as s:
            q = select(RiskCase).order_by(RiskCase.id.desc()).limit(min(max(limit, 1), 1000))
            if status is not None:
                q = q.where(RiskCase.status == status)
            rows = list(s.scalars(q))
            counts = dict(
                s.execute(
                    select(RiskAlert.case_id, func.count())
                    .where(RiskAlert.case_id.in_([c.id for c in rows]))
                    .group_by(RiskAlert.case_id)
                ).all()
            )
            mids = _mids(s, {c.merchant_id for c in rows})
            return [self._case_view(c, counts.get(c.id, 0), mids) for c in rows]

    def open_counts(self) -> dict[Severity, int]:
        """How many cases are open, by severity, the most severe first."""
        with self.ctx.db.read() as s:
            found = dict(
                s.execute(
                    select(RiskCase.severity, func.count())
                    .where(RiskCase.status == CaseStatus.OPEN)
                    .group_by(RiskCase.severity)
                ).all()
            )
        ranked = sorted(Severity, key=SEVERITY_RANK.__getitem__, reverse=True)
        return {severity: int(found.get(severity, 0)) for severity in ranked}

    def queue(
        self,
        *,
        status: CaseStatus | None = CaseStatus.OPEN,
        severity: Severity | None = None,
        assignee: str | None = None,
        unassigned: bool = False,
        order: QueueOrder = QueueOrder.SEVERITY,
        after: int | None = None,
        limit: int = PAGE,
    ) -> CasePage:
        """Cases as analysts work them: by default the open ones, the most severe first
        and the newest first within a severity; filtered by severity and assignee (or
        none), a page at a time after case ``after`` (keyset: where that case stands is
        looked up, so the address of the next page carries nothing else)."""
        limit = min(max(limit, 1), 500)
        rank = case(dict(SEVERITY_RANK), value=RiskCase.severity, else_=0)
        with self.ctx.db.read() as s:
            q = select(RiskCase)
            if status is not None:
                q = q.where(RiskCase.status == status)
            if severity is not None:
                q = q.where(RiskCase.severity == severity)
            if assignee is not None:
                q = q.where(RiskCase.assignee == assignee)
            if unassigned:
                q = q.where(RiskCase.assignee.is_(None))
            if order is QueueOrder.NEWEST:
                q = q.order_by(RiskCase.id.desc())
                if after is not None:
                    q = q.where(RiskCase.id < after)
            else:
                q = q.order_by(rank.desc(), RiskCase.id.desc())
                if after is not None:
                    was = s.get(RiskCase, after)
                    # A case that does not exist stands before every one of its id.
                    r = (
                        SEVERITY_RANK[was.severity]
                        if was is not None
                        else max(SEVERITY_RANK.values())
                    )
                    q = q.where(or_(rank < r, and_(rank == r, RiskCase.id < after)))
            rows = list(s.scalars(q.limit(limit + 1)))
            more, rows = len(rows) > limit, rows[:limit]
            ids = [c.id for c in rows]
            counts = dict(
                s.execute(
                    select(RiskAlert.case_id, func.count())
                    .where(RiskAlert.case_id.in_(ids))
                    .group_by(RiskAlert.case_id)
                ).all()
            )
            rules: dict[int, list[str]] = {i: [] for i in ids}
            for case_id, code in s.execute(
                select(RiskAlert.case_id, RiskAlert.rule_code)
                .where(RiskAlert.case_id.in_(ids))
                .group_by(RiskAlert.case_id, RiskAlert.rule_code)
                .order_by(RiskAlert.case_id, RiskAlert.rule_code)
            ):
                rules[case_id].append(code)
            mids = _mids(s, {c.merchant_id for c in rows})
            cases = [self._case_view(c, counts.get(c.id, 0), mids) for c in rows]
            return CasePage(cases, rules, rows[-1].id if more else None)

    @staticmethod
    def _case_view(
        c: RiskCase, alerts: int, mids: Mapping[int, tuple[str | None, str | None]]
    ) -> CaseView:
        mid, name = mids.get(c.merchant_id, (None, None))
        return CaseView(
            id=c.id, mid=mid, merchant_name=name, status=c.status, severity=c.severity,
            assignee=c.assignee, resolution=c.resolution, opened_at=c.opened_at,
            updated_at=c.updated_at, resolved_at=c.resolved_at, resolved_by=c.resolved_by,
            alerts=alerts,
        )  # fmt: skip

    def case(self, case_id: int) -> CaseView:
        with self.ctx.db.read() as s:
            c = self._case(s, case_id)
            alerts = list(
                s.scalars(select(RiskAlert).where(RiskAlert.case_id == c.id).order_by(RiskAlert.id))
            )
            events = s.scalars(
                select(RiskCaseEvent)
                .where(RiskCaseEvent.case_id == c.id)
                .order_by(RiskCaseEvent.id)
            )
            view = self._case_view(c, len(alerts), _mids(s, {c.merchant_id}))
            return view.model_copy(
                update={
                    "events": [
                        CaseEventView(kind=e.kind, actor=e.actor, detail=e.detail, data=e.data,
                                      at=e.at)
                        for e in events
                    ],
                    "alert_list": self._alert_views(s, alerts[-200:]),
                }
            )  # fmt: skip

    @staticmethod
    def _case(s: Session, case_id: int) -> RiskCase:
        c = s.get(RiskCase, case_id)
        if c is None:
            raise NotFound("risk.case_not_found", N_("No risk case {case}"), case=case_id)
        return c

    def _open(self, s: Session, case_id: int) -> RiskCase:
        c = self._case(s, case_id)
        if c.status is not CaseStatus.OPEN:
            raise Refused("risk.case_resolved", N_("Risk case {case} is resolved"), case=case_id)
        return c

    def assign(self, case_id: int, assignee: str, actor: str) -> CaseView:
        actor, assignee = check_actor(actor), check_actor(assignee)
        with self.ctx.db.transaction() as s:
            c = self._open(s, case_id)
            c.assignee, c.updated_at = assignee, self.ctx.now()
            note_case(s.connection(), c.id, "assigned", actor, assignee, {}, c.updated_at)
        return self.case(case_id)

    def comment(self, case_id: int, text: str, actor: str) -> CaseView:
        actor = check_actor(actor)
        words = check_reason(text, required=True)
        with self.ctx.db.transaction() as s:
            c = self._case(s, case_id)
            c.updated_at = self.ctx.now()
            note_case(s.connection(), c.id, "comment", actor, words or "", {}, c.updated_at)
        return self.case(case_id)

    def act(
        self, case_id: int, action: CaseAction, actor: str, *, tid: str | None = None
    ) -> CaseView:
        """Freeze a terminal of the case's merchant, hold its payouts or suspend it;
        noted in the case, and undone if the case is resolved as a false positive."""
        actor = check_actor(actor)
        if self.actions is None:
            raise Refused("risk.no_actions", N_("Actions are not available here"))
        with self.ctx.db.read() as s:
            c = self._open(s, case_id)
            merchant_id = c.merchant_id
            terminal_id = None
            if action is CaseAction.FREEZE_TERMINAL:
                if tid is None:
                    raise InvalidInput("risk.tid", N_("Name the terminal to freeze"))
                terminal_id = s.scalars(
                    select(Terminal.id).where(Terminal.tid == tid,
                                              Terminal.merchant_id == merchant_id)
                ).first()  # fmt: skip
                if terminal_id is None:
                    raise NotFound("terminal.not_found", N_("No terminal {tid}"), tid=tid)
        reason = f"risk case {case_id}: {actor}"
        data: dict[str, Any]
        if action is CaseAction.FREEZE_TERMINAL:
            assert terminal_id is not None
            self.actions.freeze(terminal_id, reason)
            data = {"action": "freeze", "terminal_id": terminal_id}
        elif action is CaseAction.HOLD_PAYOUTS:
            self.actions.hold(merchant_id, reason)
            data = {"action": "hold", "merchant_id": merchant_id}
        else:
            self.actions.suspend(merchant_id, reason)
            data = {"action": "suspend", "merchant_id": merchant_id}
        with self.ctx.db.transaction() as s:
            c = self._case(s, case_id)
            c.updated_at = self.ctx.now()
            note_case(s.connection(), c.id, "action", actor, action.value, data, c.updated_at)
        return self.case(case_id)

    def resolve(
        self, case_id: int, resolution: Resolution, actor: str, note: str | None = None
    ) -> CaseView:
        """Close the case. A false positive undoes what the case did (terminals frozen
        unfrozen, payouts held released, a suspended merchant reinstated) and spares the
        merchant the rules that fired for ``EXEMPT_FOR``; a confirmed one leaves all as is."""
        actor = check_actor(actor)
        words = check_reason(note, required=False)
        resolution = Resolution(resolution)
        with self.ctx.db.transaction() as s:
            c = self._open(s, case_id)
            now = self.ctx.now()
            c.status, c.resolution = CaseStatus.RESOLVED, resolution
            c.resolved_at, c.resolved_by, c.updated_at = now, actor, now
            done = [e.data for e in s.scalars(
                select(RiskCaseEvent).where(RiskCaseEvent.case_id == c.id,
                                            RiskCaseEvent.kind == "action")
            )]  # fmt: skip
            rules = set(s.scalars(select(RiskAlert.rule_code).where(RiskAlert.case_id == c.id)))
            note_case(s.connection(), c.id, "resolved", actor, words or resolution.value,
                      {"resolution": resolution.value}, now)  # fmt: skip
            if resolution is Resolution.FALSE_POSITIVE:
                for code in sorted(rules):
                    s.add(RiskExemption(case_id=c.id, merchant_id=c.merchant_id, rule_code=code,
                                        until=now + EXEMPT_FOR))  # fmt: skip
                self._changed(s)
            merchant_id = c.merchant_id
        if resolution is Resolution.FALSE_POSITIVE:
            self._undo(case_id, merchant_id, done, actor)
        return self.case(case_id)

    def _undo(self, case_id: int, merchant_id: int, done: list[dict[str, Any]], actor: str) -> None:
        if self.actions is None:
            return
        reason = f"risk case {case_id} resolved as a false positive by {actor}"
        undone: list[dict[str, Any]] = []
        kinds = {d.get("action") for d in done}
        for terminal_id in {int(d["terminal_id"]) for d in done if d.get("action") == "freeze"}:
            try:
                self.actions.unfreeze(terminal_id, reason)
                undone.append({"action": "unfreeze", "terminal_id": terminal_id})
            except (Refused, NotFound):  # unfrozen meanwhile
                pass
        for action, undo in (("hold", self.actions.release), ("suspend", None)):
            if action not in kinds:
                continue
            try:
                if undo is not None:
                    undo(merchant_id)
                else:
                    self.actions.reinstate(merchant_id, reason)
                undone.append({"action": f"undo {action}", "merchant_id": merchant_id})
            except (Refused, NotFound):
                pass
        if undone:
            with self.ctx.db.transaction() as s:
                for d in undone:
                    note_case(s.connection(), case_id, "undone", actor, reason, d, self.ctx.now())

    # --- code jumping found at reconciliation -------------------------------------------

    def clearing_mismatch(self, day: date, found: Sequence[Item]) -> list[int]:
        """A day's reconciliation found payments the networks cleared under another MID,
        MCC or fee class than the merchant's registered ones: one alert per merchant and
        day in its open case (opened if none), with the payments, both values and, for a
        fee class, the merchant's fee plan then; its payouts are held through the case.
        A merchant exempt from the check (a false positive lately) only has its
        differences listed by reconciliation. Told again the same day's differences (a
        second reconciliation run), nothing changes. Gives the merchants held."""
        by_merchant: dict[int, list[Item]] = {}
        for item in found:
            if item.merchant_id is not None and item.acceptor:
                by_merchant.setdefault(item.merchant_id, []).append(item)
        held = []
        for merchant_id, items in sorted(by_merchant.items()):
            case_id = self._clearing_alert(day, merchant_id, items)
            if case_id is None or self.actions is None:
                continue
            reason = f"risk case {case_id}: {CLEARING_CHECK}"
            try:
                self.actions.hold(merchant_id, reason)
            except Exception as e:  # held already (by reconciliation, say): that stands
                log.info(json.dumps({"event": "risk_action_not_taken", "case": case_id,
                                     "action": "hold", "why": type(e).__name__}))  # fmt: skip
                continue
            with self.ctx.db.transaction() as s:
                note_case(s.connection(), case_id, "action", "risk", reason,
                          {"action": "hold", "merchant_id": merchant_id},
                          self.ctx.now())  # fmt: skip
            held.append(merchant_id)
        return held

    def _clearing_alert(self, day: date, merchant_id: int, items: Sequence[Item]) -> int | None:
        """The alert of a merchant's differences of ``day`` in its open case; the case's
        id, or None when it was raised before or the merchant is exempt."""
        now = self.ctx.now()
        refs = sorted({i.network_ref for i in items})
        with self.ctx.db.transaction() as s:
            exempt = s.scalar(
                select(RiskExemption.id).where(
                    RiskExemption.merchant_id == merchant_id,
                    RiskExemption.rule_code == CLEARING_CHECK,
                    RiskExemption.until > now,
                )
            )
            if exempt is not None:
                return None
            listed = refs[:CLEARING_EVIDENCE]
            kept = set(listed)
            shown = [i for i in items if i.network_ref in kept]
            paid = {p.rrn: p for p in s.scalars(select(Payment).where(Payment.rrn.in_(listed)))}
            first = paid.get(refs[0])
            if first is not None and s.scalar(
                select(RiskAlert.id).where(
                    RiskAlert.rule_code == CLEARING_CHECK,
                    RiskAlert.merchant_id == merchant_id,
                    RiskAlert.payment_id == first.id,
                )
            ):
                return None  # told before: the first run raised it
            differences = [_difference(s, i, paid.get(i.network_ref)) for i in shown]
            conn = s.connection()
            case_id = open_case(conn, merchant_id, CLEARING_SEVERITY, now)
            evidence = {
                "business_date": day.isoformat(),
                "rrn": refs[0],
                "amount_minor": first.amount_minor if first is not None else None,
                "payments": len(refs),
                "differences": differences,
                "more": len(items) - len(shown),
                # the first payment's, as the case page lists an alert's values
                "values": {f"{d['field']}_{side}": d[side] for d in differences
                           if d["rrn"] == refs[0] for side in ("registered", "network")},
                "repeats": 1,
            }  # fmt: skip
            s.add(
                RiskAlert(
                    case_id=case_id, rule_code=CLEARING_CHECK, rule_version=1,
                    severity=CLEARING_SEVERITY, action=CLEARING_ACTION, merchant_id=merchant_id,
                    terminal_id=first.terminal_id if first is not None else None,
                    payment_id=first.id if first is not None else None, evidence=evidence,
                    created_at=now,
                )
            )  # fmt: skip
            note_case(conn, case_id, "alert", "risk", CLEARING_CHECK,
                      {"rules": [CLEARING_CHECK], "rrn": refs[0],
                       "payment_id": first.id if first is not None else None,
                       "business_date": day.isoformat()}, now)  # fmt: skip
            return case_id


def _difference(s: Session, item: Item, payment: Payment | None) -> dict[str, Any]:
    """One difference as an alert shows it: the payment, the registered value and the
    network's; for a fee class, the merchant's plan then and what each class costs."""
    d: dict[str, Any] = {
        "rrn": item.network_ref, "field": _FIELDS[item.status],
        "registered": item.host_value, "network": item.network_value,
        "amount_minor": payment.amount_minor if payment is not None else item.host_minor,
        "currency": payment.currency if payment is not None else None,
        "payment_id": payment.id if payment is not None else None,
    }  # fmt: skip
    if item.status is not MatchStatus.FEE_CLASS_MISMATCH or payment is None:
        return d
    d["fee_minor"] = payment.fee_minor
    try:
        plan = plan_in_force(s, payment.merchant_id, payment.business_date)
    except NotFound:
        return d
    d["fee_plan"] = plan.code
    for side in ("registered", "network"):
        try:
            rate = plan_rate(plan, PaymentMethod(d[side]))
        except (ValueError, InvariantViolation):  # a class no plan prices
            continue
        d[f"{side}_rate_percent"] = str(rate.percent)
    return d


def ensure_builtin(db: Database, now: datetime) -> int:
    """Insert the built-in rules the database lacks (as version 1 by ``system``), and
    bring those nobody changed up to this release's definition (a new version by
    ``system``); how many. A rule an operator changed or switched off stays as it is."""

    def stale(have: Mapping[str, RiskRule]) -> list[RuleDef]:
        return [
            d for d in BUILTIN
            if (r := have.get(d.code)) is None
            or (r.updated_by == "system" and _definition(r) != _shipped(d))
        ]  # fmt: skip

    with db.read() as s:
        if not stale({r.code: r for r in s.scalars(select(RiskRule))}):
            return 0
    with db.transaction() as s:
        have = {r.code: r for r in s.scalars(select(RiskRule))}  # another process may have
        todo = stale(have)
        for d in todo:
            rule = have.get(d.code)
            if rule is None:
                add_rule(s, d, "system", "built-in rule", now, builtin=True)
                continue
            rule.name, rule.expression, rule.params, rule.scope = (
                d.name, d.expression, d.params, d.scope
            )  # fmt: skip
            rule.action, rule.severity, rule.mode = d.action, d.severity, d.mode
            rule.version += 1
            rule.updated_at = now
            s.add(RiskRuleVersion(rule_id=rule.id, version=rule.version,
                                  definition=_definition(rule), changed_by="system",
                                  changed_at=now, note="built-in rule updated"))  # fmt: skip
        if todo:
            next_counter(s, RULES_COUNTER)
    return len(todo)


def _shipped(d: RuleDef) -> dict[str, Any]:
    return {
        "name": d.name, "expression": d.expression, "action": d.action.value,
        "severity": d.severity.value, "mode": d.mode.value, "params": d.params,
        "scope": d.scope,
    }  # fmt: skip


def add_rule(
    s: Session, d: RuleDef, actor: str, note: str, now: datetime, *, builtin: bool
) -> RiskRule:
    rule = RiskRule(
        code=d.code, name=d.name, version=1, expression=d.expression, action=d.action,
        severity=d.severity, mode=d.mode, params=d.params, scope=d.scope, builtin=builtin,
        updated_by=actor, updated_at=now,
    )  # fmt: skip
    s.add(rule)
    s.flush()
    s.add(RiskRuleVersion(rule_id=rule.id, version=1, definition=_definition(rule),
                          changed_by=actor, changed_at=now, note=note))  # fmt: skip
    return rule


def _mids(s: Session, ids: set[int]) -> dict[int, tuple[str | None, str | None]]:
    if not ids:
        return {}
    rows = s.execute(
        select(Merchant.id, Merchant.mid, Merchant.display_name).where(Merchant.id.in_(ids))
    )
    return {i: (mid, name) for i, mid, name in rows}


def _tids(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(s.execute(select(Terminal.id, Terminal.tid).where(Terminal.id.in_(ids))).all())
