"""tillpoint fees ... and tillpoint limits ..."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from tillpoint.cli._common import (
    ByOpt,
    JsonOpt,
    actor,
    app,
    emit_json,
    handles_errors,
    money,
    say,
    table,
)
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.merchants.fees import Rate, parse_rate
from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.merchants.views import FeePlanView

fees = typer.Typer(no_args_is_help=True)
limits = typer.Typer(no_args_is_help=True)

Merchant = Annotated[str, typer.Argument(help=_("MID or application number."))]


def show_plan(p: FeePlanView) -> None:
    table(
        f"{p.code} {p.name}",
        [_("Method"), _("Rate"), _("Cap")],
        [
            (_(r.method.value), f"{r.rate_percent}%", money(r.cap_minor, p.currency) or "-")
            for r in p.rates
        ],
    )
    say(
        _("Terminal data fee {fee} a year, free for {days} days after activation.").format(
            fee=money(p.data_fee_minor, p.currency), days=p.data_fee_free_days
        )
        + (
            " " + _("Default plan for {kind} merchants.").format(kind=_(p.default_for.value))
            if p.default_for
            else ""
        )
    )


@fees.command("plans", help=_("List fee plans."))
@handles_errors
def plans(as_json: JsonOpt = False) -> None:
    rows = app().fees.list_plans()
    if as_json:
        emit_json(rows)
        return
    for p in rows:
        show_plan(p)


@fees.command("show", help=_("Show one fee plan."))
@handles_errors
def show(
    code: Annotated[str, typer.Argument(help=_("Plan code, e.g. BIZ-STD."))],
    as_json: JsonOpt = False,
) -> None:
    p = app().fees.get_plan(code)
    emit_json(p) if as_json else show_plan(p)


@fees.command(
    "create", help=_("Create a fee plan (plans never change: create a new one for new prices).")
)
@handles_errors
def create(
    code: Annotated[str, typer.Argument(help=_("Plan code, e.g. BIZ-2027."))],
    name: Annotated[str, typer.Option(help=_("Plan name."))],
    rate: Annotated[
        list[str],
        typer.Option(
            help=_("METHOD=RATE[:CAP] for each method, e.g. debit=0.50%:20.00 or alipay=0.38.")
        ),
    ],
    data_fee: Annotated[
        str, typer.Option(help=_("Annual terminal data fee, e.g. 36.00."))
    ] = "36.00",
    free_days: Annotated[
        int, typer.Option(help=_("Days after activation free of the data fee."))
    ] = 30,
    default_for: Annotated[
        MerchantKind | None, typer.Option(help=_("Make it the default plan of this kind."))
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    rates: dict[PaymentMethod, Rate] = {}
    for item in rate:
        method, sep, value = item.partition("=")
        try:
            m = PaymentMethod(method.strip())
        except ValueError:
            raise InvalidInput(
                "fee.unknown_method",
                N_("Unknown payment method {method!r}; one of: {methods}"),
                method=method,
                methods=", ".join(p.value for p in PaymentMethod),
            ) from None
        if not sep:
            raise typer.BadParameter(_("write METHOD=RATE[:CAP]"), param_hint="--rate")
        rates[m] = parse_rate(value)
    p = app().fees.create_plan(
        code,
        name,
        rates,
        actor(by),
        data_fee=Money.parse(data_fee),
        data_fee_free_days=free_days,
        default_for=default_for,
    )
    emit_json(p) if as_json else say(_("Fee plan {code} created.").format(code=p.code))


@fees.command("assign", help=_("Move a merchant to another plan from a date on."))
@handles_errors
def assign(
    merchant: Merchant,
    plan: Annotated[str, typer.Argument(help=_("Plan code."))],
    reason: Annotated[str, typer.Option(help=_("Why (kept in the history)."))],
    effective: Annotated[
        str | None,
        typer.Option("--from", help=_("First day on the plan, YYYY-MM-DD (default today).")),
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    try:
        start = date.fromisoformat(effective) if effective else None
    except ValueError:
        raise typer.BadParameter(_("a date is YYYY-MM-DD"), param_hint="--from") from None
    a = app().fees.assign(merchant, plan, actor(by), effective_from=start, reason=reason)
    emit_json(a) if as_json else say(
        _("Merchant {ref} is on {plan} from {date}.").format(
            ref=merchant, plan=a.plan_code, date=a.effective_from
        )
    )


@fees.command("history", help=_("A merchant's fee plans over time."))
@handles_errors
def history(merchant: Merchant, as_json: JsonOpt = False) -> None:
    rows = app().fees.history(merchant)
    if as_json:
        emit_json(rows)
        return
    table(
        _("Fee plan history"),
        [_("From"), _("Plan"), _("Who"), _("Why")],
        [(a.effective_from, a.plan_code, a.actor, a.reason) for a in rows],
    )


@fees.command("quote", help=_("The fee a merchant pays on an amount today."))
@handles_errors
def quote(
    merchant: Merchant,
    method: Annotated[PaymentMethod, typer.Option(help=_("Payment method."))],
    amount: Annotated[str, typer.Option(help=_("Amount, e.g. 100.00."))],
    as_json: JsonOpt = False,
) -> None:
    value = Money.parse(amount)
    plan, charged = app().fees.quote(merchant, method, value)
    if as_json:
        emit_json(
            {
                "plan": plan.code,
                "method": method.value,
                "amount_minor": value.amount_minor,
                "fee_minor": charged.amount_minor,
                "currency": charged.currency,
            }
        )
    else:
        say(
            _("Fee on {amount} by {method} under {plan}: {fee}.").format(
                amount=value.display(),
                method=_(method.value),
                plan=plan.code,
                fee=charged.display(),
            )
        )


@limits.command("show", help=_("Limits of each merchant kind."))
@handles_errors
def limits_show(as_json: JsonOpt = False) -> None:
    rows = app().limits.list()
    if as_json:
        emit_json(rows)
        return
    table(
        _("Limits"),
        [_("Kind"), _("Per transaction"), _("Per day"), _("Terminals")],
        [
            (
                _(r.kind.value),
                money(r.per_txn_limit_minor, r.currency),
                money(r.daily_limit_minor, r.currency),
                r.max_terminals,
            )
            for r in rows
        ],
    )


@limits.command("set", help=_("Change the limits of a merchant kind."))
@handles_errors
def limits_set(
    kind: Annotated[MerchantKind, typer.Argument(help=_("personal or business."))],
    per_txn: Annotated[
        str | None, typer.Option(help=_("Most one transaction may take, e.g. 20000.00."))
    ] = None,
    daily: Annotated[str | None, typer.Option(help=_("Most one day may take."))] = None,
    max_terminals: Annotated[
        int | None, typer.Option(help=_("Most terminals a merchant may have."))
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    r = app().limits.set(
        kind,
        actor(by),
        per_txn=Money.parse(per_txn) if per_txn else None,
        daily=Money.parse(daily) if daily else None,
        max_terminals=max_terminals,
    )
    emit_json(r) if as_json else say(
        _("Limits of {kind} merchants changed.").format(kind=_(r.kind.value))
    )
