"""tillpoint db ..., tillpoint keys ..., tillpoint demo."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer

from tillpoint.access.models import Role
from tillpoint.access.service import ApiKeyView
from tillpoint.cli._common import (
    ByOpt,
    CliState,
    JsonOpt,
    actor,
    app,
    emit_json,
    err,
    handles_errors,
    say,
    settings,
    table,
    when,
)
from tillpoint.core.db import Database
from tillpoint.core.i18n import _, both
from tillpoint.core.migrate import current_revision, head_revision
from tillpoint.demo import (
    DEMO_CASHIER,
    DEMO_OPERATOR_CODE,
    DEMO_OPERATOR_PASSWORD,
    DEMO_PASSWORD,
    DEMO_SUPERVISOR_PASSWORD,
    ensure_demo,
)

db = typer.Typer(no_args_is_help=True)
keys = typer.Typer(no_args_is_help=True)


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


def _key_rows(rows: list[ApiKeyView]) -> None:
    table(
        _("API keys"),
        [_("ID"), _("Prefix"), _("Name"), _("Role"), _("MID"), _("Created"), _("Last used"),
         _("Revoked")],
        [(k.id, k.prefix, k.name, _(k.role.value), k.mid, when(k.created_at),
          when(k.last_used_at), when(k.revoked_at)) for k in rows],
    )  # fmt: skip


@keys.command("create", help=_("Make an API key; its secret is printed once."))
@handles_errors
def key_create(
    role: Annotated[
        Role, typer.Option(help=_("ops_admin, reviewer, risk, merchant_owner or merchant_staff."))
    ],
    name: Annotated[str, typer.Option(help=_("What the key is for, e.g. the shop's tablet."))],
    merchant: Annotated[
        str | None, typer.Option(help=_("MID of the merchant (merchant roles only)."))
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    made = app().access.create_key(role, name, actor(by), merchant_ref=merchant)
    if as_json:
        emit_json(made)
    else:
        say(_("API key {id} ({role}) created:").format(id=made.key.id, role=_(made.key.role.value)))
        say(f"[bold]{made.secret}[/]")
    err.print(
        "[yellow]"
        + both("Keep this key secret: it is stored only as a hash and will not be shown again.")
        + "[/]"
    )


@keys.command("list", help=_("List API keys (never their secrets)."))
@handles_errors
def key_list(
    merchant: Annotated[str | None, typer.Option(help=_("Only this merchant's (MID)."))] = None,
    after: Annotated[int, typer.Option(help=_("Page on: list after this key id."))] = 0,
    limit: Annotated[int, typer.Option(help=_("At most this many (1-500)."))] = 100,
    as_json: JsonOpt = False,
) -> None:
    tp = app()
    merchant_id = tp.merchants.get(merchant).id if merchant is not None else None
    rows = tp.access.list_keys(merchant_id=merchant_id, after_id=after, limit=limit)
    emit_json(rows) if as_json else _key_rows(rows)


@keys.command("revoke", help=_("Revoke an API key at once and for good."))
@handles_errors
def key_revoke(
    key_id: Annotated[int, typer.Argument(help=_("The key's id (see keys list)."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    key = app().access.revoke(key_id, actor(by))
    emit_json(key) if as_json else say(_("API key {id} revoked.").format(id=key.id))


def run_demo(terminals: int, as_json: bool) -> None:
    CliState.demo = True
    made = ensure_demo(app(demo=True, migrate="always"), terminals, shop=True)
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
    say(
        _("Browser: owner1@demo.test and, at the till (/cashier), {cashier}; password {pw}.")
        .format(cashier=DEMO_CASHIER, pw=DEMO_PASSWORD)
    )  # fmt: skip


@handles_errors
def demo(
    terminals: Annotated[int, typer.Option(help=_("How many demo terminals and merchants."))] = 3,
    as_json: JsonOpt = False,
) -> None:
    run_demo(terminals, as_json)
