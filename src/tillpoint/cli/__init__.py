"""The ``tillpoint`` command line (an adapter: it calls one service per command).

Each command group lives in a module of its own, imported only when the command line
names it: ``tillpoint --help`` imports none of them, ``tillpoint terminal sale`` only
the terminal's (``COMMANDS`` says where each is and what it is for). That is what keeps
a command's start quick: the web application, the database layer and the card network
simulators are loaded by the commands that use them, not by every one.
"""

from __future__ import annotations

import gc
import importlib
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import N_, _


@dataclass(frozen=True)
class Entry:
    """Where a command is (its module and the Typer app or function in it) and what it
    is for (an English message id)."""

    module: str
    attribute: str
    help: str


COMMANDS: dict[str, Entry] = {
    "merchants": Entry("merchants", "merchants", N_("Merchant applications, review and lifecycle.")),
    "shops": Entry("merchants", "shops", N_("A merchant's shops (门店).")),
    "terminals": Entry("terminals", "terminals",
                       N_("The terminal fleet: provision, bind, ship, freeze.")),
    "operators": Entry("terminals", "operators",
                       N_("A terminal's operators: supervisor 00 and cashiers 001...")),
    "fees": Entry("fees", "fees",
                  N_("Fee plans: a rate per payment method, optional caps, data fee.")),
    "limits": Entry("fees", "limits", N_("Limits per merchant kind.")),
    "terminal": Entry("terminal", "terminal", N_(
        "The virtual terminal. Without a command it opens the countertop POS screen; "
        "each command below is one transaction for scripts.")),
    "ledger": Entry("ledger", "ledger", N_("The double-entry ledger.")),
    "settle": Entry("settle", "settle", N_("Cut-off (日切) and T+1 settlement to merchants (一清).")),
    "db": Entry("system", "db", N_("The database schema.")),
    "keys": Entry("system", "keys", N_("The master key and API keys.")),
    "webhooks": Entry("webhooks", "webhooks", N_("Webhooks: a receiver to try them with.")),
    "users": Entry("users", "users",
                   N_("People's accounts for the console, the portal and the cashier.")),
    "serve": Entry("serve", "serve",
                   N_("Run the terminal host and the HTTP side (migrates the database first).")),
    "networks": Entry("networks", "networks",
                      N_("The card network and wallet simulators in a process of their own.")),
    "risk": Entry("risk", "risk",
                  N_("Risk monitoring: rules, alerts and cases, backtests, evaluation.")),
    "store": Entry("store", "store", N_(
        "The shop's own point of sale: the catalogue's import and export.")),
    "demo": Entry("system", "demo",
                  N_("Create the fixed demo merchants and terminals (safe to run again).")),
    "simulate": Entry("simulate", "simulate", N_(
        "Book simulated merchants' traffic through the payment service, with labelled "
        "fraud patterns (docs/risk.md).")),
}  # fmt: skip


class Commands(TyperGroup):
    """The root command: its subcommands are loaded when named. Its help lists them from
    ``COMMANDS`` alone, loading none."""

    listing = False  # while the help is written: each command is its name and help only

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self.listing:
            return typer.main.get_command(_stub(cmd_name, entry))
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load(cmd_name, entry)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False


def _stub(name: str, entry: Entry) -> typer.Typer:
    stub = typer.Typer(add_completion=False)
    stub.command(name, help=_(entry.help))(lambda: None)
    return stub


def load(name: str, entry: Entry) -> Any:
    """The command ``name``, its module imported now."""
    module = importlib.import_module(f"tillpoint.cli.{entry.module}")
    found = getattr(module, entry.attribute)
    command: Any
    if isinstance(found, typer.Typer):
        found.info.help = _(entry.help)
        command = typer.main.get_group(found)
    else:  # a single command: a function
        single = typer.Typer(add_completion=False)
        single.command(name, help=_(entry.help))(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


def root() -> Commands:
    """The ``tillpoint`` command, its subcommands not loaded yet."""
    app = typer.Typer(
        cls=Commands,
        help=_("Tillpoint: payment acquiring platform and store point-of-sale."),
        no_args_is_help=True,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False,
            "--version",
            is_eager=True,
            callback=_print_version,
            help=_("Show the version and exit."),
        ),
    ) -> None:
        pass

    group = typer.main.get_group(app)
    assert isinstance(group, Commands)
    return group


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"tillpoint {version('tillpoint')}")
        raise typer.Exit


def main(argv: list[str] | None = None) -> NoReturn:
    """Run one command. Exit codes: 0 done, 1 refused, 2 bad usage or configuration."""
    code = 0
    state = None
    try:
        result = root().main(args=argv, prog_name="tillpoint", standalone_mode=False)
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
        state = sys.modules.get("tillpoint.cli._common")
        if state is not None:  # a command that opened the application closes it
            state.CliState.close()
    sys.exit(code)


def run() -> NoReturn:
    """The `tillpoint` command (and ``python -m tillpoint``): main(), then the
    interpreter's own exit without its last collections. Those walk every object the
    command made (a server's routes, models and caches: over a second of CPU for
    `serve`) only to free what the exit frees anyway; frozen, they are skipped. Not in
    main(), which tests call in their own process."""
    try:
        main()
    finally:
        gc.freeze()


def print_error(message: str) -> None:
    from tillpoint.cli._common import print_error as say_error

    say_error(message)
