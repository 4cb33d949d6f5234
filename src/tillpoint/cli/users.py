"""tillpoint users ...: people's accounts for the console, the portal and the cashier."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tillpoint.access.accounts import AccountView, NewAccount
from tillpoint.access.models import AccountRole
from tillpoint.cli._common import (
    ByOpt,
    JsonOpt,
    actor,
    app,
    emit_json,
    err,
    handles_errors,
    say,
    table,
    when,
)
from tillpoint.core.i18n import _, both

users = typer.Typer(no_args_is_help=True)


@users.command(
    "create",
    help=_(
        "Make an account. The password is asked for (twice) when a person is at the "
        "keyboard, else one is made and printed once, to be changed at the first sign-in."
    ),
)
@handles_errors
def create(
    name: Annotated[str, typer.Option(help=_("The person's name."))],
    role: Annotated[
        list[AccountRole],
        typer.Option(
            help=_(
                "admin, reviewer, fleet, risk, finance (staff); owner, manager, cashier "
                "(a merchant's). Repeat for several."
            )
        ),
    ],
    email: Annotated[str | None, typer.Option(help=_("Email address to sign in with."))] = None,
    mobile: Annotated[str | None, typer.Option(help=_("Mobile number to sign in with."))] = None,
    merchant: Annotated[
        str | None, typer.Option(help=_("MID of the merchant (merchant roles only)."))
    ] = None,
    shop: Annotated[int | None, typer.Option(help=_("The cashier's shop number."))] = None,
    locale: Annotated[str | None, typer.Option(help=_("en or zh_CN."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    password = None
    if sys.stdin.isatty() and not as_json:
        password = typer.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    made = app().accounts.create(
        name=name, roles=set(role), actor=actor(by), email=email, mobile=mobile,
        merchant_ref=merchant, shop_number=shop, password=password, locale=locale,
    )  # fmt: skip
    _show_new(made, as_json, _("Account {login} created.").format(login=made.account.login))


@users.command("list", help=_("The accounts, oldest first."))
@handles_errors
def list_(
    after: Annotated[int, typer.Option(help=_("Page on: list after this account id."))] = 0,
    limit: Annotated[int, typer.Option(help=_("At most this many (1-500)."))] = 50,
    as_json: JsonOpt = False,
) -> None:
    rows = app().accounts.list(after_id=after, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table(
        _("Accounts"),
        [_("Id"), _("Login"), _("Name"), _("Roles"), _("MID"), _("Status"), _("Last sign-in")],
        [_row(a) for a in rows],
    )


@users.command(
    "reset-password",
    help=_(
        "Give an account a new password, printed once and to be changed at the next "
        "sign-in; a locked account is unlocked and every session of it ends."
    ),
)
@handles_errors
def reset_password(
    login: Annotated[str, typer.Argument(help=_("Email, mobile number or account id."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    made = app().accounts.reset_password(login, actor(by))
    _show_new(made, as_json, _("New password of {login}:").format(login=made.account.login))


@users.command(
    "reset-totp",
    help=_(
        "Turn off an account's second factor (a lost phone): it signs in with its "
        "password alone until the person sets up a new one."
    ),
)
@handles_errors
def reset_totp(
    login: Annotated[str, typer.Argument(help=_("Email, mobile number or account id."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    account = app().accounts.totp_reset(login, actor(by))
    if as_json:
        emit_json(account)
        return
    say(_("Second factor of {login} reset.").format(login=account.login))


def _row(a: AccountView) -> tuple[object, ...]:
    roles = ", ".join(_(r.value) for r in a.roles)
    return (a.id, a.login, a.name, roles, a.mid, _(a.status.value), when(a.last_sign_in_at))


def _show_new(made: NewAccount, as_json: bool, headline: str) -> None:
    if as_json:
        emit_json(made)
        return
    say(headline)
    if made.password is not None:
        say(f"[bold]{made.password}[/]")
        err.print(
            "[yellow]"
            + both("This password is shown once and must be changed at the first sign-in.")
            + "[/]"
        )
