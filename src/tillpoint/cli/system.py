"""tillpoint db ..., tillpoint keys ..., tillpoint demo."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from tillpoint.cli._common import (
    CliState,
    JsonOpt,
    app,
    emit_json,
    err,
    handles_errors,
    say,
    settings,
    table,
)
from tillpoint.core.db import Database
from tillpoint.core.i18n import _, both
from tillpoint.core.migrate import current_revision, head_revision
from tillpoint.demo import (
    DEMO_OPERATOR_CODE,
    DEMO_OPERATOR_PASSWORD,
    DEMO_SUPERVISOR_PASSWORD,
    ensure_demo,
)

db = typer.Typer(help=_("The database schema."), no_args_is_help=True)
keys = typer.Typer(help=_("Keys."), no_args_is_help=True)


@db.command("upgrade", help=_("Bring the database schema up to this version (Alembic migrations)."))
@handles_errors
def upgrade() -> None:
    app(migrate="always")
    say(_("Database is at revision {rev}.").format(rev=head_revision()))


@db.command(
    "status", help=_("Which schema revision the database is at, and which this version needs.")
)
@handles_errors
def status(as_json: JsonOpt = False) -> None:
    database = Database(settings().database_url)
    try:
        have, want = current_revision(database), head_revision()
    finally:
        database.dispose()
    if as_json:
        emit_json({"current": have, "head": want, "up_to_date": have == want})
    else:
        say(
            _("Database revision {have}; this version needs {want}.").format(
                have=have or "-", want=want
            )
        )


@keys.command("new-master-key", help=_("Print a fresh random master key for TILLPOINT_MASTER_KEY."))
def new_master_key() -> None:
    say(secrets.token_hex(32).upper())
    err.print(both("Keep it secret and backed up: without it, stored keys cannot be read."))


def run_demo(terminals: int, as_json: bool) -> None:
    CliState.demo = True
    made = ensure_demo(app(demo=True, migrate="always"), terminals)
    if as_json:
        emit_json([{"tid": d.tid, "mid": d.mid, "created": d.created} for d in made])
        return
    table(
        _("Demo terminals"),
        [_("TID"), _("MID"), _("TMK"), _("New")],
        [
            (d.tid, d.mid, "0123456789ABCDEFFEDCBA9876543210", _("yes") if d.created else _("no"))
            for d in made
        ],
    )
    say(
        _("Operators: supervisor 00 / {sup}, cashier {code} / {pw}.").format(
            sup=DEMO_SUPERVISOR_PASSWORD, code=DEMO_OPERATOR_CODE, pw=DEMO_OPERATOR_PASSWORD
        )
    )


@handles_errors
def demo(
    terminals: Annotated[int, typer.Option(help=_("How many demo terminals and merchants."))] = 3,
    as_json: JsonOpt = False,
) -> None:
    run_demo(terminals, as_json)
