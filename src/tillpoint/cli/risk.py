"""tillpoint risk ...: rules, alerts, cases (docs/risk.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from tillpoint.cli._common import (
    ByOpt,
    JsonOpt,
    actor,
    app,
    emit_json,
    fields,
    handles_errors,
    money,
    say,
    table,
    when,
)
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_, _

if TYPE_CHECKING:
    from tillpoint.risk.service import CaseView, RuleView

risk = typer.Typer(no_args_is_help=True)
rules = typer.Typer(no_args_is_help=True)
cases = typer.Typer(no_args_is_help=True)
risk.add_typer(rules, name="rules", help=_("Rules as data: list, show, create, change, versions."))
risk.add_typer(cases, name="cases", help=_("Cases: list, show, assign, comment, act, resolve."))

RuleCode = Annotated[str, typer.Argument(help=_("The rule's code (velocity_card...)."))]
CaseId = Annotated[int, typer.Argument(help=_("The case's number."), min=1)]
Note = Annotated[str, typer.Option("--note", help=_("Why (kept with the version)."))]


def _json_object(text: str | None, what: str) -> dict[str, object] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput("risk.json", N_("{what} is a JSON object"), what=what)
    return value


def show_rule(r: RuleView, as_json: bool) -> None:
    if as_json:
        emit_json(r)
        return
    fields(
        _("Rule") + f" {r.code}",
        [
            (_("Name"), _(r.name)),
            (_("Expression"), r.expression),
            (_("Action"), _(r.action.value)),
            (_("Severity"), _(r.severity.value)),
            (_("Mode"), _(r.mode.value)),
            (_("Parameters"), json.dumps(r.params, ensure_ascii=False)),
            (_("Scope"), json.dumps(r.scope, ensure_ascii=False) if r.scope else _("all")),
            (_("Version"), f"{r.version} ({r.updated_by}, {when(r.updated_at)})"),
        ],
    )


@rules.command("list", help=_("Every rule, in the order they run."))
@handles_errors
def list_rules(as_json: JsonOpt = False) -> None:
    found = app().risk.rules()
    if as_json:
        emit_json(found)
        return
    table(
        _("Risk rules"),
        [_("Code"), _("Mode"), _("Action"), _("Severity"), _("Version"), _("Expression")],
        [(r.code, _(r.mode.value), _(r.action.value), _(r.severity.value), r.version,
          r.expression) for r in found],
    )  # fmt: skip


@rules.command("show", help=_("One rule."))
@handles_errors
def show(code: RuleCode, as_json: JsonOpt = False) -> None:
    show_rule(app().risk.rule(code), as_json)


@rules.command("create", help=_("A new rule (a draft unless --mode says otherwise)."))
@handles_errors
def create(
    code: RuleCode,
    name: Annotated[str, typer.Option("--name", help=_("What it catches, in words."))],
    expression: Annotated[str, typer.Option("--expression", help=_("The condition."))],
    action: Annotated[str, typer.Option("--action", help="alert, hold, decline, freeze")],
    severity: Annotated[str, typer.Option("--severity", help="low, medium, high, critical")],
    mode: Annotated[str, typer.Option("--mode", help="draft, shadow, live, off")] = "draft",
    params: Annotated[
        str | None, typer.Option("--params", help=_('JSON: {"default": {"max": 5}}'))
    ] = None,
    scope: Annotated[
        str | None, typer.Option("--scope", help=_('JSON: {"kinds": ["personal"]}'))
    ] = None,
    note: Annotated[str, typer.Option("--note", help=_("Why (kept with the version)."))] = "",
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from tillpoint.risk.models import Action, Mode, Severity

    try:
        the_action, the_severity, the_mode = Action(action), Severity(severity), Mode(mode)
    except ValueError as e:
        raise InvalidInput("risk.change", N_("Unknown action, severity or mode")) from e
    r = app().risk.create(
        code, name, expression, the_action, the_severity, actor(by),
        params=_json_object(params, "--params"), scope=_json_object(scope, "--scope"),
        mode=the_mode, note=note,
    )  # fmt: skip
    show_rule(r, as_json)


@rules.command("update", help=_("Change a rule: a new version, with why."))
@handles_errors
def update(
    code: RuleCode,
    note: Note,
    expression: Annotated[str | None, typer.Option("--expression")] = None,
    action: Annotated[str | None, typer.Option("--action")] = None,
    severity: Annotated[str | None, typer.Option("--severity")] = None,
    mode: Annotated[str | None, typer.Option("--mode", help="draft, shadow, live, off")] = None,
    params: Annotated[str | None, typer.Option("--params", help=_("JSON, replaces all"))] = None,
    scope: Annotated[str | None, typer.Option("--scope", help=_("JSON, replaces all"))] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    changes: dict[str, object] = {
        k: v
        for k, v in (("expression", expression), ("action", action), ("severity", severity),
                     ("mode", mode), ("name", name),
                     ("params", _json_object(params, "--params")),
                     ("scope", _json_object(scope, "--scope")))
        if v is not None
    }  # fmt: skip
    show_rule(app().risk.update(code, actor(by), note, **changes), as_json)


@rules.command("versions", help=_("A rule's versions: who changed what, when and why."))
@handles_errors
def versions(code: RuleCode, as_json: JsonOpt = False) -> None:
    found = app().risk.versions(code)
    if as_json:
        emit_json(found)
        return
    table(
        _("Versions of {code}").format(code=code),
        [_("Version"), _("When"), _("Who"), _("Why"), _("Expression"), _("Mode")],
        [(v.version, when(v.changed_at), v.changed_by, v.note, v.definition.get("expression"),
          v.definition.get("mode")) for v in found],
    )  # fmt: skip


@risk.command("alerts", help=_("Alerts, newest first."))
@handles_errors
def alerts(
    case: Annotated[int | None, typer.Option("--case", min=1, help=_("Only this case's."))] = None,
    rule: Annotated[str | None, typer.Option("--rule", help=_("Only this rule's."))] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    found = app().risk.alerts(case_id=case, rule=rule, limit=limit)
    if as_json:
        emit_json(found)
        return
    table(
        _("Risk alerts"),
        [_("Alert"), _("Case"), _("When"), _("Rule"), _("Severity"), _("Action"), _("MID"),
         _("TID"), _("Evidence")],
        [(a.id, a.case_id, when(a.created_at), a.rule, _(a.severity.value), _(a.action.value),
          a.mid, a.tid, json.dumps(a.evidence.get("values", {}), ensure_ascii=False))
         for a in found],
    )  # fmt: skip


def show_case(c: CaseView, as_json: bool) -> None:
    if as_json:
        emit_json(c)
        return
    fields(
        _("Case") + f" {c.id}",
        [
            (_("Merchant"), f"{c.mid} {c.merchant_name or ''}".strip()),
            (_("Status"), _(c.status.value)),
            (_("Severity"), _(c.severity.value)),
            (_("Assigned to"), c.assignee),
            (_("Resolution"), _(c.resolution.value) if c.resolution else None),
            (_("Opened"), when(c.opened_at)),
            (_("Alerts"), c.alerts),
        ],
    )
    if c.alert_list:
        table(
            _("Alerts"),
            [_("When"), _("Rule"), _("Action"), _("TID"), _("Payment"), _("Evidence")],
            [(when(a.created_at), a.rule, _(a.action.value), a.tid, a.payment_id,
              json.dumps(a.evidence.get("values", {}), ensure_ascii=False))
             for a in c.alert_list],
        )  # fmt: skip
    if c.events:
        table(
            _("History"),
            [_("When"), _("What"), _("Who"), _("Detail")],
            [(when(e.at), _(e.kind), e.actor, e.detail) for e in c.events],
        )


@cases.command("list", help=_("Cases, newest first."))
@handles_errors
def list_cases(
    status: Annotated[str | None, typer.Option("--status", help="open, resolved")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    from tillpoint.risk.models import CaseStatus

    try:
        wanted = None if status is None else CaseStatus(status)
    except ValueError as e:
        raise InvalidInput("risk.status", N_("A case is open or resolved")) from e
    found = app().risk.cases(status=wanted, limit=limit)
    if as_json:
        emit_json(found)
        return
    table(
        _("Risk cases"),
        [_("Case"), _("Merchant"), _("Status"), _("Severity"), _("Alerts"), _("Assigned to"),
         _("Opened")],
        [(c.id, f"{c.mid} {c.merchant_name or ''}".strip(), _(c.status.value),
          _(c.severity.value), c.alerts, c.assignee, when(c.opened_at)) for c in found],
    )  # fmt: skip


@cases.command("show", help=_("A case: its alerts with their evidence, and its history."))
@handles_errors
def show_one(case: CaseId, as_json: JsonOpt = False) -> None:
    show_case(app().risk.case(case), as_json)


@cases.command("assign", help=_("Give a case to someone."))
@handles_errors
def assign(
    case: CaseId,
    to: Annotated[str, typer.Option("--to", help=_("Who takes it."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    show_case(app().risk.assign(case, to, actor(by)), as_json)


@cases.command("comment", help=_("Add a comment to a case."))
@handles_errors
def comment(
    case: CaseId,
    text: Annotated[str, typer.Argument(help=_("The comment."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    show_case(app().risk.comment(case, text, actor(by)), as_json)


@cases.command("act", help=_("Freeze a terminal, hold payouts or suspend the merchant."))
@handles_errors
def act(
    case: CaseId,
    action: Annotated[str, typer.Argument(help="freeze_terminal, hold_payouts, suspend_merchant")],
    tid: Annotated[str | None, typer.Option("--tid", help=_("The terminal to freeze."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from tillpoint.risk.service import CaseAction

    try:
        what = CaseAction(action)
    except ValueError as e:
        raise InvalidInput(
            "risk.action", N_("An action is freeze_terminal, hold_payouts or suspend_merchant")
        ) from e
    show_case(app().risk.act(case, what, actor(by), tid=tid), as_json)


@cases.command("resolve", help=_("Close a case; a false positive undoes what it did."))
@handles_errors
def resolve(
    case: CaseId,
    resolution: Annotated[
        str, typer.Argument(help="false_positive, fraud_confirmed, cash_out_confirmed")
    ],
    note: Annotated[str | None, typer.Option("--note")] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from tillpoint.risk.models import Resolution

    try:
        how = Resolution(resolution)
    except ValueError as e:
        raise InvalidInput(
            "risk.resolution",
            N_("A resolution is false_positive, fraud_confirmed or cash_out_confirmed"),
        ) from e
    c = app().risk.resolve(case, how, actor(by), note)
    show_case(c, as_json)
    if not as_json:
        say(_("Case {case} resolved.").format(case=c.id))


@risk.command("backtest", help=_("Run a rule over past days: what it would have caught."))
@handles_errors
def backtest(
    date_from: Annotated[str, typer.Option("--from", help=_("First business day, YYYY-MM-DD."))],
    date_to: Annotated[str, typer.Option("--to", help=_("Last business day, YYYY-MM-DD."))],
    code: Annotated[str | None, typer.Option("--rule", help=_("A stored rule's code."))] = None,
    expression: Annotated[
        str | None, typer.Option("--expression", help=_("A draft rule's condition."))
    ] = None,
    params: Annotated[str | None, typer.Option("--params", help=_("JSON, for a draft."))] = None,
    scope: Annotated[str | None, typer.Option("--scope", help=_("JSON, for a draft."))] = None,
    action: Annotated[str, typer.Option("--action", help="alert, hold, decline, freeze")] = "alert",
    as_json: JsonOpt = False,
) -> None:
    from datetime import date

    from tillpoint.risk.models import Action

    try:
        first, last = date.fromisoformat(date_from), date.fromisoformat(date_to)
        what = Action(action)
    except ValueError as e:
        raise InvalidInput(
            "risk.backtest_args",
            N_("Dates are YYYY-MM-DD; an action is alert, hold, decline or freeze"),
        ) from e
    r = app().risk.backtest(
        first, last, code=code, expression=expression, params=_json_object(params, "--params"),
        scope=_json_object(scope, "--scope"), action=what,
    )  # fmt: skip
    if as_json:
        import dataclasses

        emit_json(dataclasses.asdict(r))
        return
    pct = "-"

    def share(x: object) -> str:
        return pct if x is None else f"{x:.1%}"

    fields(
        _("Backtest {first} to {last}").format(first=r.date_from, last=r.date_to),
        [
            (_("Payments screened"), f"{r.payments:,}"),
            (_("Fired on"), f"{r.fired} ({r.merchants} " + _("merchants") + ")"),
            (_("Would have declined"), f"{r.declined:,}"),
            (_("Would have flagged"), f"{r.flagged:,}"),
            (_("Amount"), money(r.amount_minor)),
            (_("Precision"), share(r.precision)),
            (_("Recall"), share(r.recall)),
            (_("Examples"), ", ".join(r.examples[:5]) or "-"),
        ],
    )


@risk.command(
    "evaluate", help=_("How well the rules caught a simulation's patterns: recall, false alerts.")
)
@handles_errors
def evaluate(
    run: Annotated[
        int | None, typer.Option("--run", min=1, help=_("The simulation run (default: the last)."))
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    import dataclasses

    from tillpoint.simulation.evaluate import evaluate as measure
    from tillpoint.simulation.models import PATTERN_NAMES

    e = measure(app().ctx.db, run)
    if as_json:
        emit_json(dataclasses.asdict(e))
        return

    def share(x: object) -> str:
        return "-" if x is None else f"{x:.1%}"

    table(
        _("Simulation run {run} (seed {seed}): {merchants} merchants, {days} days").format(
            run=e.run_id, seed=e.seed, merchants=e.merchants, days=e.days
        ),
        [_("Pattern"), _("Episodes"), _("Caught"), _("Recall"), _("Caught by")],
        [(_(PATTERN_NAMES[p.pattern]), p.episodes, p.caught, share(p.recall),
          ", ".join(f"{code} {n}" for code, n in sorted(p.rules.items())))
         for p in e.patterns],
    )  # fmt: skip
    fields(
        _("False alerts"),
        [
            (_("Payments"), f"{e.payments:,}"),
            (_("Alerts"), f"{e.alerts:,}"),
            (_("False alerts"), f"{e.false_alerts:,}"),
            (_("per 1,000 merchant-days"), str(e.false_alerts_per_1000_merchant_days)),
            (_("Merchant-days with a false alert"), f"{e.false_alert_days:,}"),
            (_("per 1,000 merchant-days"), str(e.false_alert_days_per_1000_merchant_days)),
            (_("By rule"), ", ".join(f"{c} {n}" for c, n in e.false_by_rule.items()) or "-"),
        ],
    )
