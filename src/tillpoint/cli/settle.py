"""tillpoint settle ...: the daily cut-off and the settlement run."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from tillpoint.clearing.settlement import SettlementView
from tillpoint.cli._common import (
    ByOpt,
    JsonOpt,
    actor,
    app,
    emit_json,
    fields,
    handles_errors,
    money,
    out,
    say,
    table,
    when,
)
from tillpoint.core.errors import InvalidInput
from tillpoint.core.files import write_private
from tillpoint.core.i18n import N_, _
from tillpoint.payments.intents import recent_calls

settle = typer.Typer(no_args_is_help=True)

DateOpt = Annotated[str, typer.Option("--date", help=_("Business date, YYYY-MM-DD."))]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "settle.bad_date", N_("{value} is not a date (YYYY-MM-DD)"), value=text
        ) from None


def _emit(rows: list[SettlementView], as_json: bool, title: str) -> None:
    if as_json:
        emit_json([{**dataclasses.asdict(r), "business_date": r.business_date.isoformat(),
                    "payout_date": r.payout_date.isoformat() if r.payout_date else None,
                    "status": r.status.value}
                   for r in rows])  # fmt: skip
        return
    columns = [_("Transactions"), _("Gross"), _("Refunds"), _("Fees"), _("Data fees"), _("Net"),
               _("Carried in"), _("Payout"), _("Carried out"), _("Payout date")]  # fmt: skip

    def values(r: SettlementView) -> list[object]:
        due = r.payout_date.isoformat() if r.payout_date else _(r.status.value)
        amounts = (r.gross_minor, r.refunds_minor, r.fees_minor, r.data_fees_minor, r.net_minor,
                   r.carried_in_minor, r.payout_minor, r.carried_out_minor)  # fmt: skip
        return [r.transactions, *(money(a) for a in amounts), due]

    if out.width >= 130:  # room for one line per merchant
        table(title, ["MID", *columns], [[r.mid, *values(r)] for r in rows])
        return
    say(title)
    for r in rows:  # else one block per merchant
        fields(r.mid, list(zip(columns, values(r), strict=True)))


@settle.command("cutoff", help=_("Close the open business day now (a manual 日切) and print it."))
@handles_errors
def cutoff(by: ByOpt = None, as_json: JsonOpt = False) -> None:
    day = app().days.cut_off(actor(by))
    if as_json:
        emit_json({"closed": day.isoformat()})
    else:
        say(_("Business day {day} is closed; payments now belong to the next one.").format(day=day))


@settle.command("run", help=_("Settle every merchant for a closed business day (safe to repeat)."))
@handles_errors
def run(day: DateOpt, as_json: JsonOpt = False) -> None:
    when = _date(day)
    tp = app()
    if as_json:
        rows = tp.settlement.run(when)
    else:
        with Progress(transient=True) as bar:
            task = bar.add_task(_("Settling {day}").format(day=when), total=None)
            rows = tp.settlement.run(when, lambda n, of: bar.update(task, completed=n, total=of))
    _emit(rows, as_json, _("Settlement of {day}").format(day=when))


@settle.command("show", help=_("The settlements of a business day."))
@handles_errors
def show(
    day: DateOpt,
    merchant: Annotated[str | None, typer.Option(help=_("Only this MID."))] = None,
    as_json: JsonOpt = False,
) -> None:
    when = _date(day)
    _emit(app().settlement.show(when, merchant), as_json, _("Settlement of {day}").format(day=when))


@settle.command("export", help=_("Write the bank's payout file (CSV) of a settled day."))
@handles_errors
def export(
    day: DateOpt,
    out: Annotated[
        Path | None, typer.Option(help=_("File to write (mode 0600); default payouts-DATE.csv."))
    ] = None,
) -> None:
    when = _date(day)
    text = app().settlement.payout_file(when)
    path = out or Path(f"payouts-{when.isoformat()}.csv")
    write_private(path, text)  # merchants' account numbers in clear, for the bank only
    say(_("Payouts written to {path}: {n}").format(n=text.count("\n") - 1, path=path))


@settle.command("hold", help=_("Hold a merchant's payouts until released (--reason)."))
@handles_errors
def hold(
    mid: Annotated[str, typer.Argument(help=_("MID."))],
    reason: Annotated[str, typer.Option(help=_("Why (kept with the hold)."))],
    by: ByOpt = None,
) -> None:
    app().settlement.hold(mid, reason, actor(by))
    say(_("Payouts of {mid} are held.").format(mid=mid))


@settle.command("release", help=_("Release a merchant's payouts; what was held is paid out."))
@handles_errors
def release(
    mid: Annotated[str, typer.Argument(help=_("MID."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    rows = app().settlement.release(mid, actor(by))
    _emit(rows, as_json, _("Released payouts of {mid}").format(mid=mid))


@settle.command(
    "statement", help=_("A merchant's statement of a day, in Chinese and English (HTML or PDF).")
)
@handles_errors
def statement(
    mid: Annotated[str, typer.Argument(help=_("MID."))],
    day: DateOpt,
    fmt: Annotated[str, typer.Option("--format", help=_("html or pdf."))] = "html",
    out: Annotated[
        Path | None, typer.Option(help=_("File to write; default statement-MID-DATE.html/.pdf."))
    ] = None,
) -> None:
    if fmt not in ("html", "pdf"):
        raise typer.BadParameter(_("html or pdf"), param_hint="--format")
    tp = app()
    st = tp.statements.statement(mid, _date(day))
    path = out or Path(f"statement-{mid}-{day}.{fmt}")
    if fmt == "pdf":
        path.write_bytes(tp.statements.pdf(st))
    else:
        path.write_text(tp.statements.html(st), encoding="utf-8")
    say(_("Statement written to {path}").format(path=path))


@settle.command(
    "reconcile",
    help=_("Match a closed day with the networks' clearing files; mismatches hold the merchant."),
)
@handles_errors
def reconcile(day: DateOpt, as_json: JsonOpt = False) -> None:
    when = _date(day)
    result = app().reconciliation.run(when)
    if as_json:
        problems = [{**dataclasses.asdict(i), "status": i.status.value} for i in result.problems]
        emit_json({"business_date": when.isoformat(), "matched": result.matched,
                   "problems": problems, "held_merchants": len(result.held)})  # fmt: skip
        return
    say(
        _("{day}: references matched: {matched}; not matched: {problems}.").format(
            day=when, matched=result.matched, problems=result.unmatched
        )
    )
    if result.problems:
        table(
            _("Reconciliation problems"),
            [_("Reference"), _("Network"), _("Status"), _("Host"), _("Network amount"),
             _("Registered"), _("Network's")],
            [(i.network_ref, i.org, _(i.status.value), money(i.host_minor),
              money(i.network_minor), i.host_value or "", i.network_value or "")
             for i in result.problems],
        )  # fmt: skip
    if result.held:
        say(_("Payouts held for the differences: {n} merchants.").format(n=len(result.held)))


@settle.command(
    "reversals",
    help=_(
        "Calls to the networks whose answer is not on our books: on their way, being "
        "reversed, or reversed by the host (with why)."
    ),
)
@handles_errors
def reversals(
    open_only: Annotated[
        bool, typer.Option("--open", help=_("Only calls on their way or being reversed."))
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help=_("At most this many."))] = 50,
    as_json: JsonOpt = False,
) -> None:
    rows = recent_calls(app().ctx.db, limit=limit, open_only=open_only)
    if as_json:
        emit_json([{**dataclasses.asdict(r), "state": r.state.value} for r in rows])
        return
    table(
        _("Calls reversed at the networks, or still open"),
        [_("Reference"), _("Network"), _("Call"), _("State"), _("Terminal"), _("STAN"),
         _("Amount"), _("Noted"), _("Reversed"), _("Why")],
        [(r.rrn, r.network, r.action, _(r.state.value), r.tid, r.stan,
          money(r.amount_minor, r.currency), when(r.created_at), when(r.resolved_at), r.cause)
         for r in rows],
    )  # fmt: skip
