"""tillpoint ledger ...: balances and the proof that the books balance."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from tillpoint.cli._common import JsonOpt, app, emit_json, handles_errors, money, say, table
from tillpoint.core.i18n import _

ledger = typer.Typer(no_args_is_help=True)


@ledger.command("balance", help=_("Each account's balance (debit positive, credit negative)."))
@handles_errors
def balance(
    account: Annotated[
        str,
        typer.Option(
            help=_("Only accounts whose code starts with this, e.g. merchant:898310054110001")
        ),
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    rows = app().ledger.balances(account)
    if as_json:
        emit_json(
            [
                {"account": b.code, "kind": b.kind.value, "name": b.name,
                 "balance_minor": b.balance.amount_minor, "currency": b.balance.currency}
                for b in rows
            ]
        )  # fmt: skip
        return
    table(
        _("Ledger balances"),
        [_("Account"), _("Kind"), _("Balance")],
        [
            (b.code, _(b.kind.value), money(b.balance.amount_minor, b.balance.currency))
            for b in rows
        ],
    )


@ledger.command(
    "check", help=_("Prove debits equal credits in every entry and overall; exit 1 if not.")
)
@handles_errors
def check(as_json: JsonOpt = False) -> None:
    problems = app().ledger.check()
    if as_json:
        emit_json({"balanced": not problems, "problems": [dataclasses.asdict(p) for p in problems]})
    elif not problems:
        say(_("The ledger balances: debits equal credits in every entry and overall."))
    else:
        where = {"entry": _("entry"), "total": _("total"),
                 "line": _("line: date or kind differs from its entry")}  # fmt: skip
        table(
            _("The ledger does not balance"),
            [_("Where"), _("Reference"), _("Currency"), _("Off by")],
            [(where[p.what], p.ref, p.currency,
              money(p.imbalance_minor, p.currency or "CNY"))
             for p in problems],
        )  # fmt: skip
    if problems:
        raise typer.Exit(1)
