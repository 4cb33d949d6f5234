"""The ``tillpoint`` command line (an adapter: it calls one service per command)."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from typer.exceptions import TyperException

from tillpoint.cli import (
    fees,
    ledger,
    merchants,
    serve,
    settle,
    system,
    terminal,
    terminals,
    users,
    webhooks,
)
from tillpoint.cli._common import CliState, print_error
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import _

cli = typer.Typer(
    name="tillpoint",
    help=_("Tillpoint: payment acquiring platform and store point-of-sale."),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.add_typer(merchants.merchants, name="merchants")
cli.add_typer(merchants.shops, name="shops")
cli.add_typer(terminals.terminals, name="terminals")
cli.add_typer(terminals.operators, name="operators")
cli.add_typer(fees.fees, name="fees")
cli.add_typer(fees.limits, name="limits")
cli.add_typer(terminal.terminal, name="terminal")
cli.add_typer(ledger.ledger, name="ledger")
cli.add_typer(settle.settle, name="settle")
cli.add_typer(system.db, name="db")
cli.add_typer(system.keys, name="keys")
cli.add_typer(webhooks.webhooks, name="webhooks")
cli.add_typer(users.users, name="users")
cli.command(
    "serve", help=_("Run the terminal host and the HTTP side (migrates the database first).")
)(serve.serve)
cli.command("demo", help=_("Create the fixed demo merchants and terminals (safe to run again)."))(
    system.demo
)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run one command. Exit codes: 0 done, 1 refused, 2 bad usage or configuration."""
    code = 0
    try:
        result = cli(args=argv, prog_name="tillpoint", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except TyperException as e:  # bad usage: one line, exit 2
        ctx = getattr(e, "ctx", None)
        see = _("see")
        hint = f" ({see} '{ctx.command_path} --help')" if ctx is not None else ""
        print_error(f"{e.format_message()}{hint}")
        code = e.exit_code
    except TillpointError as e:  # raised while opening the app (configuration)
        print_error(e.localized())
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    finally:
        if CliState.app is not None:
            CliState.app.close()
        CliState.app, CliState.demo = None, False
    sys.exit(code)
