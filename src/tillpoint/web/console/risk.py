"""The console's risk monitoring (area RISK: risk analysts and reviewers, and admins).

- ``GET /console/risk``: the queue of cases (the open ones by default, the most severe
  and then the newest first; by status, severity and assignee; 50 a page, keyset), the
  latest alerts and a search for a payment.
- ``GET /console/risk/cases/{id}``: a case: its merchant, every alert with its rule,
  terminal, payment and evidence (the values read against the rule's thresholds, the
  payments behind a count), its history; and the forms to assign, comment, act and
  resolve it.
- ``GET /console/risk/rules`` and ``/console/risk/rules/{code}``: the rules, one rule's
  expression, parameters per merchant kind, versions, the form that changes it and a
  backtest over past days.
- ``GET /console/payments/{rrn or id}``: a payment's facts and screening's decision on it.

Everyone of the area reads; only risk analysts (and admins) change anything: a
reviewer sees no form, and a post of theirs is refused (403). Each change goes through
the risk service, which keeps it in the case's history or the rule's versions under the
person's name, and is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tillpoint.access.accounts import AccountView, SignedIn
from tillpoint.access.models import AccountStatus
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.merchants.models import MerchantKind
from tillpoint.risk.backtest import MAX_DAYS, BacktestResult
from tillpoint.risk.engine import FEATURES, params_for
from tillpoint.risk.models import Action, CaseStatus, Mode, Resolution, Severity
from tillpoint.risk.service import (
    CLEARING_CHECK,
    MAX_PARAMS,
    CaseAction,
    CaseView,
    QueueOrder,
    RuleView,
    check_rule,
)
from tillpoint.terminals.models import TerminalStatus
from tillpoint.web.page import (
    PAGE,
    RISK,
    R,
    after_action,
    area_guard,
    audit,
    day_of,
    enum_query,
    page,
    page_link,
    query_int,
    query_text,
    read_form,
    speak,
    tp,
    trouble,
)
from tillpoint.web.page import actor as actor_of
from tillpoint.web.render import page_text

router = APIRouter(include_in_schema=False)

Readers = Annotated[SignedIn, area_guard(RISK)]
Analysts = Annotated[SignedIn, area_guard(RISK, R.RISK)]
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Code = Annotated[str, Path(max_length=40)]

HOME = RISK.href
CASES = f"{HOME}/cases"
RULES = f"{HOME}/rules"
PAYMENTS = "/console/payments"
LATEST_ALERTS = 10
ASSIGNEES = 200  # people offered to assign a case to
GROUPS = ("default", *(k.value for k in MerchantKind))  # a rule's parameter groups
PARAM_ROWS = MAX_PARAMS + 2  # rows of the parameters' table: every one, and new ones
BACKTEST_DAYS = 7  # the backtest form's range, by default: the last week, today included

# Features whose values are amounts in fen (the rest are counts, flags, ratios, hours).
MONEY_FEATURES = frozenset({
    "amount", "limit_per_txn", "limit_daily", "card.amount_24h", "merchant.amount_24h",
    "merchant.approved_7d", "merchant.avg_ticket_30d", "peers.avg_ticket_30d",
})  # fmt: skip
# What a case's history says happened (risk/engine.py and risk/service.py write them).
EVENT_KINDS = {
    "opened": N_("opened"), "alert": N_("alert"), "assigned": N_("assigned"),
    "comment": N_("comment"), "action": N_("action"), "undone": N_("undone"),
    "resolved": N_("resolved"),
}  # fmt: skip
# The actions of a case as its history names them (``data["action"]``).
DONE = {
    "freeze": N_("Terminal {tid} frozen"),
    "unfreeze": N_("Terminal {tid} unfrozen"),
    "hold": N_("Payouts held"),
    "undo hold": N_("Payouts released"),
    "suspend": N_("Merchant suspended"),
    "undo suspend": N_("Merchant reinstated"),
}
ACTED = {
    CaseAction.FREEZE_TERMINAL: N_("Terminal {tid} is frozen."),
    CaseAction.HOLD_PAYOUTS: N_("The merchant's payouts are held."),
    CaseAction.SUSPEND_MERCHANT: N_("The merchant is suspended."),
}
CASE_STATES = {"open": N_("Open cases"), "resolved": N_("Resolved cases"), "all": N_("All")}
WHO = {"": N_("Anyone"), "me": N_("Assigned to me"), "none": N_("Not assigned")}
ORDERS = {QueueOrder.SEVERITY: N_("Most severe first"), QueueOrder.NEWEST: N_("Newest first")}


@dataclass(frozen=True)
class Evidence:
    """One value a rule read: a feature (of the payment, card, terminal, merchant) or
    one of the rule's parameters (a threshold), as a page shows it: an amount in fen as
    money (``amount_minor``), anything else as ``shown``."""

    name: str
    shown: str
    amount_minor: int | None
    threshold: bool


def percent(ratio: Decimal) -> str:
    """``66.7%``: a ratio (precision, recall) to one decimal place, never through float."""
    return f"{(ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


#: Alert codes of checks that are no rule (no rule page to link to): code jumping found
#: at reconciliation.
CHECKS = frozenset({CLEARING_CHECK})


def is_money(name: str) -> bool:
    """Whether a feature or parameter is an amount in fen (parameters by their name:
    ``min_amount``, ``round_to``, ``min_volume``)."""
    if name in FEATURES:
        return name in MONEY_FEATURES
    return "amount" in name or "volume" in name or "ticket" in name or name == "round_to"


def evidence(values: dict[str, Any]) -> list[Evidence]:
    """A decision's or an alert's values: what was seen first, then the thresholds."""
    rows = []
    for name, value in values.items():
        whole = isinstance(value, int) and not isinstance(value, bool)
        shown = (_("yes") if value else _("no")) if isinstance(value, bool) else str(value)
        amount = value if whole and is_money(name) else None
        rows.append(Evidence(name, shown, amount, name not in FEATURES))
    return sorted(rows, key=lambda e: (e.threshold, e.name))


# --- the queue ------------------------------------------------------------------------------


@router.get(HOME, response_class=HTMLResponse)
def queue(request: Request, session: Readers) -> Response:
    app = tp(request)
    state = query_text(request, "status", 10) or "open"
    state = state if state in CASE_STATES else "open"
    who = query_text(request, "who", 10)
    who = who if who in WHO else ""
    order = enum_query(request, "order", QueueOrder) or QueueOrder.SEVERITY
    severity = enum_query(request, "severity", Severity)
    found = app.risk.queue(
        status=None if state == "all" else CaseStatus(state), severity=severity,
        assignee=actor_of(session) if who == "me" else None, unassigned=who == "none",
        order=order, after=query_int(request, "after") or None, limit=PAGE,
    )  # fmt: skip
    next_href = page_link(request, after=found.next_after) if found.next_after else None
    return page(request, session, "console/risk/queue.html", cases=found.cases,
                rules=found.rules, next_href=next_href, state=state, whom=who, order=order,
                severity=severity.value if severity else "", states=CASE_STATES, whos=WHO,
                orders=ORDERS, severities=list(Severity),
                alerts=app.risk.alerts(limit=LATEST_ALERTS), q="", checks=CHECKS)  # fmt: skip


# --- a case ---------------------------------------------------------------------------------


def case_back(case_id: int) -> str:
    return f"{CASES}/{case_id}"


def assignees(request: Request) -> list[AccountView]:
    """Whom a case may be given to: active risk analysts and admins."""
    accounts = tp(request).accounts
    people = {a.id: a for a in accounts.list(role=R.RISK, limit=ASSIGNEES)}
    people.update({a.id: a for a in accounts.list(role=R.ADMIN, limit=ASSIGNEES)})
    active = [a for a in people.values() if a.status is AccountStatus.ACTIVE]
    return sorted(active, key=lambda a: (a.name, a.login))[:ASSIGNEES]


@router.get(CASES + "/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, session: Readers, case_id: CaseId) -> Response:
    app = tp(request)
    try:
        c = app.risk.case(case_id)
    except TillpointError as e:
        return trouble(request, session, e, HOME)
    terminal_ids = {
        int(e.data["terminal_id"]) for e in c.events if "terminal_id" in e.data
    }  # fmt: skip
    may_act = session.account.has(R.RISK)
    terminals = []
    if may_act and c.mid is not None and c.status is CaseStatus.OPEN:
        terminals = [t for t in app.terminals.search(merchant_ref=c.mid, limit=PAGE)
                     if t.status not in (TerminalStatus.FROZEN, TerminalStatus.RETIRED,
                                         TerminalStatus.IN_STOCK)]  # fmt: skip
    held = may_act and c.mid is not None and bool(app.settlement.held_mids([c.mid]))
    alert_tids = [a.tid for a in c.alert_list if a.tid]
    terminals.sort(key=lambda t: (t.tid not in alert_tids, t.tid))
    return page(
        request, session, "console/risk/case.html", c=c,
        rules=sorted({a.rule for a in c.alert_list}),
        tids=app.risk.terminal_tids(terminal_ids), done=DONE, event_kinds=EVENT_KINDS,
        evidence=evidence, is_money=is_money, may_act=may_act,
        is_open=c.status is CaseStatus.OPEN, terminals=terminals, held=held,
        people=assignees(request) if may_act else [], me=actor_of(session),
        case_actions={a.value for a in CaseAction}, resolutions=list(Resolution), checks=CHECKS,
    )  # fmt: skip


def _case_change(
    request: Request, session: SignedIn, case_id: int, what: str, change: Any, done: str,
    **detail: Any,
) -> Response:  # fmt: skip
    """One change to a case through the risk service, audited either way, then back to
    the case with ``done`` or with why it was refused (nothing changed)."""
    target = f"risk case {case_id}"
    try:
        c: CaseView = change()
    except TillpointError as e:
        audit(request, session, f"risk case {what}", target, e, **detail)
        return after_action(case_back(case_id), e.localized(), error=True)
    audit(request, session, f"risk case {what}", target,
          merchant_id=_merchant_id(request, c), **detail)  # fmt: skip
    return after_action(case_back(case_id), done)


def _merchant_id(request: Request, c: CaseView) -> int | None:
    try:
        return tp(request).merchants.get(c.mid).id if c.mid else None
    except TillpointError:
        return None


@router.post(CASES + "/{case_id}/assign")
async def assign(request: Request, session: Analysts, case_id: CaseId) -> Response:
    """To me, or to one of the people offered (a risk analyst or an admin)."""
    form = await read_form(request, session, "to")
    me = actor_of(session)
    to = me if form["to"] in ("", "me") else form["to"]
    allowed = {me} | {f"console:{a.login}" for a in assignees(request)}
    if to not in allowed:
        return after_action(case_back(case_id), _("Choose someone from the list"), error=True)
    risk = tp(request).risk
    return _case_change(request, session, case_id, "assign",
                        lambda: risk.assign(case_id, to, me),
                        _("Case {id} assigned to {who}.").format(id=case_id, who=to),
                        assignee=to)  # fmt: skip


@router.post(CASES + "/{case_id}/comment")
async def comment(request: Request, session: Analysts, case_id: CaseId) -> Response:
    form = await read_form(request, session, "text")
    risk = tp(request).risk
    return _case_change(request, session, case_id, "comment",
                        lambda: risk.comment(case_id, form["text"], actor_of(session)),
                        _("Comment added."))  # fmt: skip


@router.post(CASES + "/{case_id}/act")
async def act(request: Request, session: Analysts, case_id: CaseId) -> Response:
    """Freeze one of the merchant's terminals, hold its payouts or suspend it."""
    form = await read_form(request, session, "act", "tid")
    try:
        action = CaseAction(form["act"])
    except ValueError:
        return after_action(case_back(case_id), _("Choose an action from the list"), error=True)
    tid = form["tid"][:8] if action is CaseAction.FREEZE_TERMINAL else None
    risk = tp(request).risk
    return _case_change(request, session, case_id, "act",
                        lambda: risk.act(case_id, action, actor_of(session), tid=tid or None),
                        _(ACTED[action]).format(tid=tid), case_action=action.value,
                        tid=tid)  # fmt: skip


@router.post(CASES + "/{case_id}/resolve")
async def resolve(request: Request, session: Analysts, case_id: CaseId) -> Response:
    form = await read_form(request, session, "resolution", "note")
    try:
        resolution = Resolution(form["resolution"])
    except ValueError:
        return after_action(case_back(case_id), _("Choose how the case ends"), error=True)
    risk = tp(request).risk
    done = _("Case {id} resolved: {resolution}.").format(
        id=case_id, resolution=page_text(resolution.value)
    )
    if resolution is Resolution.FALSE_POSITIVE:
        done += " " + _("What it did is undone, and its rules spare the merchant for 7 days.")
    return _case_change(request, session, case_id, "resolve",
                        lambda: risk.resolve(case_id, resolution, actor_of(session),
                                             form["note"] or None),
                        done, resolution=resolution.value)  # fmt: skip


# --- rules ----------------------------------------------------------------------------------


def rule_back(code: str) -> str:
    return f"{RULES}/{code}"


@router.get(RULES, response_class=HTMLResponse)
def rule_list(request: Request, session: Readers) -> Response:
    return page(request, session, "console/risk/rules.html", rules=tp(request).risk.rules())


def _params_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The parameters' table: the rows given (one a parameter, a column a group; empty:
    not set there) and two empty ones to add new parameters."""
    filled = [r for r in rows if any(r.values())][:PARAM_ROWS]
    blank = dict.fromkeys(("name", *GROUPS), "")
    return filled + [dict(blank) for _ in range(min(2, PARAM_ROWS - len(filled)))]


def _rule_rows(params: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    names = sorted({n for values in params.values() for n in values})
    return _params_rows(
        [{"name": n, **{g: str(params.get(g, {}).get(n, "")) for g in GROUPS}} for n in names]
    )


def _rule_page(
    request: Request, session: SignedIn, code: str, *, status_code: int = 200,
    values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
    result: BacktestResult | None = None, span: tuple[str, str] | None = None,
) -> Response:  # fmt: skip
    app = tp(request)
    try:
        rule = app.risk.rule(code)
    except TillpointError as e:
        return trouble(request, session, e, RULES)
    today = app.ctx.today()
    if span is None:
        span = ((today - timedelta(days=BACKTEST_DAYS - 1)).isoformat(), today.isoformat())
    shown = values or {
        "mode": rule.mode.value, "action": rule.action.value, "severity": rule.severity.value,
        "expression": rule.expression, "params": _rule_rows(rule.params), "note": "",
    }  # fmt: skip
    return page(
        request, session, "console/risk/rule.html", status_code=status_code, rule=rule,
        per_kind=[(k, params_for(rule.params, k)) for k in MerchantKind],
        param_names=sorted({n for values in rule.params.values() for n in values}),
        percent=percent, is_money=is_money,
        versions=app.risk.versions(code), values=shown, errors=errors or {},
        groups=GROUPS, modes=list(Mode), rule_actions=list(Action), severities=list(Severity),
        may_change=session.account.has(R.RISK), result=result, span=span, max_days=MAX_DAYS,
    )  # fmt: skip


@router.get(RULES + "/{code}", response_class=HTMLResponse)
def rule_page(request: Request, session: Readers, code: Code) -> Response:
    return _rule_page(request, session, code)


def _read_params(form: dict[str, str]) -> dict[str, dict[str, int]]:
    """The parameters' table as the service takes it: whole numbers by group; a row
    without a name and values is skipped, one without values is dropped."""
    params: dict[str, dict[str, int]] = {}
    for i in range(PARAM_ROWS):
        name = form[f"param_{i}_name"]
        cells = {g: form[f"param_{i}_{g}"].replace(",", "").replace("_", "") for g in GROUPS}
        if not name and not any(cells.values()):
            continue
        if not name:
            raise InvalidInput("risk.params", N_("Name every parameter that has values"))
        for group, text in cells.items():
            if not text:
                continue
            digits = text[1:] if text.startswith("-") else text
            if not (digits.isascii() and digits.isdigit() and len(digits) <= 15):
                raise InvalidInput("risk.params", N_("Parameter {name} must be a whole number"),
                                   name=name)  # fmt: skip
            params.setdefault(group, {})[name] = int(text)
    return params


RULE_FIELDS = (
    "mode", "action", "severity", "expression", "note",
    *(f"param_{i}_{c}" for i in range(PARAM_ROWS) for c in ("name", *GROUPS)),
)  # fmt: skip


def _changes(rule: RuleView, form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """What the form changes of the rule, or what is wrong with it, by field (the
    expression is compiled for every kind the rule applies to, with the parameters
    typed, exactly as saving it would)."""
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name, enum in (("mode", Mode), ("action", Action), ("severity", Severity)):
        if form[name] not in {e.value for e in enum}:
            errors[name] = _("Choose from the list")
        elif form[name] != getattr(rule, name).value:
            changes[name] = enum(form[name])
    try:
        params = _read_params(form)
    except InvalidInput as e:
        errors["params"], params = e.localized(), rule.params
    expression = form["expression"].replace("\r\n", "\n").strip()
    if not expression:
        errors["expression"] = _("Write the rule's expression")
    elif "params" not in errors:
        try:
            check_rule(expression, params, rule.scope)
        except InvalidInput as e:
            errors["params" if e.code == "risk.params" else "expression"] = e.localized()
    if expression != rule.expression:
        changes["expression"] = expression
    if params != {group: values for group, values in rule.params.items() if values}:
        changes["params"] = params
    if not errors and not changes:
        errors["form"] = _("Nothing to change: the rule is as the form says.")
    elif not errors and not form["note"]:
        errors["note"] = _("Say why (kept with the version)")
    return changes, errors


@router.post(RULES + "/{code}", response_class=HTMLResponse)
async def change_rule(request: Request, session: Analysts, code: Code) -> Response:
    """A new version of the rule from the form: checked whole first; anything wrong is
    shown beside its field with what was typed, and nothing changes."""
    form = await read_form(request, session, *RULE_FIELDS, max_chars=1000)
    risk = tp(request).risk
    try:
        rule = risk.rule(code)
    except TillpointError as e:
        return trouble(request, session, e, RULES)
    values: dict[str, Any] = {k: form[k] for k in ("mode", "action", "severity", "expression",
                                                   "note")}  # fmt: skip
    values["params"] = _params_rows([{"name": form[f"param_{i}_name"][:40],
                                      **{g: form[f"param_{i}_{g}"][:20] for g in GROUPS}}
                                     for i in range(PARAM_ROWS)])  # fmt: skip
    target = f"risk rule {code}"
    changes, errors = _changes(rule, form)
    if errors:
        refusal = InvalidInput("risk.change", next(iter(errors.values())))
        audit(request, session, "risk rule change", target, refusal, fields=sorted(errors))
        return _rule_page(request, session, code, status_code=400, values=values, errors=errors)
    try:
        done = risk.update(code, actor_of(session), form["note"], **changes)
    except TillpointError as e:
        audit(request, session, "risk rule change", target, e)
        return _rule_page(request, session, code, status_code=400, values=values,
                          errors={"form": e.localized()})  # fmt: skip
    audit(request, session, "risk rule change", target, version=done.version,
          fields=sorted(changes))  # fmt: skip
    return after_action(rule_back(code), _("Rule {code} is now version {version}.").format(
        code=code, version=done.version))  # fmt: skip


@router.post(RULES + "/{code}/backtest", response_class=HTMLResponse)
async def run_backtest(request: Request, session: Readers, code: Code) -> Response:
    """The rule as it stands over past business days: shown on the rule's page; nothing
    changes."""
    form = await read_form(request, session, "date_from", "date_to")
    span = (form["date_from"][:10], form["date_to"][:10])
    start, end = day_of(span[0]), day_of(span[1])
    if start is None or end is None:
        wrong = _("Give both days as dates like 2026-12-04")
        return _rule_page(request, session, code, status_code=400, span=span,
                          errors={"backtest": wrong})  # fmt: skip
    try:
        result = tp(request).risk.backtest(start, end, code=code)
    except TillpointError as e:
        return _rule_page(request, session, code, status_code=400, span=span,
                          errors={"backtest": e.localized()})  # fmt: skip
    return _rule_page(request, session, code, result=result, span=span)


# --- a payment and its decision ---------------------------------------------------------


@router.get(PAYMENTS, response_class=HTMLResponse)
def find_payment(request: Request, session: Readers) -> Response:
    """The search box: to the payment a reference or an id names, or back to the queue
    saying there is none."""
    speak(request, session)
    q = query_text(request, "q", 40)
    if not q:
        return RedirectResponse(HOME, status_code=303)
    try:
        found = tp(request).risk.screening(q)
    except TillpointError as e:
        return after_action(HOME, e.localized(), error=True)
    return RedirectResponse(f"{PAYMENTS}/{found.payment.rrn}", status_code=303)


@router.get(PAYMENTS + "/{ref}", response_class=HTMLResponse)
def payment_page(request: Request, session: Readers, ref: str) -> Response:
    try:
        found = tp(request).risk.screening(ref[:40])
    except TillpointError as e:
        return trouble(request, session, e, HOME)
    return page(request, session, "console/risk/payment.html", s=found, p=found.payment,
                evidence=evidence, is_money=is_money)  # fmt: skip
