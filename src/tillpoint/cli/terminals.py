"""tillpoint terminals ... and tillpoint operators ..."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from tillpoint.cli._common import (
    ByOpt,
    JsonOpt,
    actor,
    app,
    emit_json,
    err,
    fields,
    handles_errors,
    history_table,
    say,
    table,
    when,
)
from tillpoint.core.i18n import _, both
from tillpoint.iso8583.fields import DEVICE_TYPE_NAMES
from tillpoint.iso8583.mac import MacMethod
from tillpoint.terminals.models import Capability, TerminalStatus
from tillpoint.terminals.services import DEFAULT_CAPABILITIES
from tillpoint.terminals.views import TerminalView

terminals = typer.Typer(no_args_is_help=True)
operators = typer.Typer(no_args_is_help=True)

Tid = Annotated[str, typer.Argument(help=_("Terminal ID (8 characters)."))]
Reason = Annotated[str, typer.Option("--reason", help=_("Why (kept in the history)."))]
Code = Annotated[str, typer.Argument(help=_("Operator code: 00 supervisor, 001-999 cashiers."))]
Password = Annotated[
    str,
    typer.Option(prompt=True, hide_input=True, help=_("Password (asked for when left out).")),
]


def show_terminal(t: TerminalView, as_json: bool) -> None:
    if as_json:
        emit_json(t)
        return
    fields(
        _("Terminal") + f" {t.tid}",
        [
            (_("TID"), t.tid),
            (_("Serial number"), t.serial_no),
            (_("Model"), t.model),
            (_("Capabilities"), ", ".join(_(c) for c in t.capabilities)),
            (_("MAC method"), t.mac_method.value),
            (_("Status"), _(t.status.value) + (f" ({t.status_reason})" if t.status_reason else "")),
            (_("Merchant"), f"{t.mid} {t.merchant_name}" if t.mid else None),
            (_("Shop"), t.shop_number),
            (_("TMK check value"), t.tmk_kcv),
            (_("Added"), when(t.created_at)),
            (_("Bound"), when(t.bound_at)),
            (_("Shipped"), when(t.shipped_at)),
            (
                _("Activated"),
                when(t.activated_at),
            ),
            (
                _("Operator password to sell"),
                _("required") if t.require_operator_password else _("not required"),
            ),
            *_security_lines(t),
            *place_lines(t),
        ],
    )


def place_lines(t: TerminalView) -> list[tuple[str, str | None]]:
    """Where the terminal last said it was, and the address it came from (spec 4.12)."""
    p = t.place
    if p is None:
        return [(_("Reported place"), _("never reported"))]
    device = None
    if p.device_type is not None:
        name = DEVICE_TYPE_NAMES.get(p.device_type)
        device = f"{_(name)} ({p.device_type})" if name else p.device_type
    position = None if p.latitude is None else f"{p.latitude}, {p.longitude}"
    came = None
    if p.source_address is not None:
        came = _("{address} at {when}").format(
            address=p.source_address, when=when(p.source_seen_at)
        )
    rows = [
        (_("Reported position"), position),
        (_("Reported device type"), device),
        (_("Reported serial number"), p.serial_no),
        (_("Reported cell"), p.cell),
        (_("Reported IP address"), p.ip),
        (_("Place reported"), when(p.reported_at) or None),
        (_("Connection from"), came),
    ]
    return [(label, value) for label, value in rows if value is not None]


def _security_lines(t: TerminalView) -> list[tuple[str, str | None]]:
    """Failed proofs of the terminal's keys (docs/terminals.md, "Security events")."""
    sec = t.security
    if sec is None:
        return []

    def last(at: datetime | None, address: str | None) -> str:
        return _("last {when} from {address}").format(when=when(at), address=address)

    sign_ons = str(sec.failed_sign_ons)
    if sec.failed_sign_ons:
        sign_ons += f" ({last(sec.last_failed_sign_on_at, sec.last_failed_sign_on_address)})"
    macs = str(sec.mac_failures)
    if sec.mac_failures:
        macs += f" ({last(sec.last_mac_failure_at, sec.last_mac_failure_address)})"
    return [
        (_("Failed sign-ons"), sign_ons),
        (_("Sign-on throttles"), str(sec.sign_on_throttles)),
        (_("MAC failures"), macs),
        (_("MAC throttles"), str(sec.mac_throttles)),
    ]


@terminals.command(
    "add", help=_("Take a terminal into stock and create its master key (shown once).")
)
@handles_errors
def add(
    serial: Annotated[str, typer.Option(help=_("Serial number printed on the device."))],
    model: Annotated[str, typer.Option(help=_("Device model."))],
    capabilities: Annotated[
        str,
        typer.Option(
            help=_("Comma-separated: magstripe, chip, contactless, qr_camera, printer, esignature.")
        ),
    ] = ",".join(c.value for c in DEFAULT_CAPABILITIES),
    mac: Annotated[
        MacMethod, typer.Option(help=_("MAC method: ecb (UnionPay) or x919."))
    ] = MacMethod.ECB,
    tid: Annotated[
        str | None, typer.Option(help=_("Use this TID instead of allocating one."))
    ] = None,
    operator_password: Annotated[
        bool,
        typer.Option(
            "--operator-password/--no-operator-password",
            help=_("Whether selling needs an operator signed in with a password."),
        ),
    ] = True,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    try:
        caps = [Capability(c.strip()) for c in capabilities.split(",") if c.strip()]
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--capabilities") from None
    p = app().terminals.add(
        serial,
        model,
        actor(by),
        capabilities=caps,
        mac_method=mac,
        tid=tid,
        require_operator_password=operator_password,
    )
    if as_json:
        emit_json(p)
        return
    say(_("Terminal {tid} added to stock.").format(tid=p.terminal.tid))
    say(f"TMK: [bold]{p.tmk_hex}[/]  KCV: {p.tmk_kcv}")
    err.print(
        "[yellow]"
        + both(
            "Inject this TMK into the device now: it is stored only encrypted and will not be shown again."
        )
        + "[/]"
    )


@terminals.command("bind", help=_("Bind a terminal to one merchant and shop (一机一户)."))
@handles_errors
def bind(
    tid: Tid,
    merchant: Annotated[str, typer.Argument(help=_("MID or application number of the merchant."))],
    shop: Annotated[
        int | None, typer.Option(help=_("Shop number (needed when the merchant has several)."))
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    b = app().terminals.bind(tid, merchant, actor(by), shop=shop)
    if as_json:
        emit_json(b)
        return
    t = b.terminal
    say(
        _("Terminal {tid} bound to merchant {mid}, shop {shop}.").format(
            tid=t.tid, mid=t.mid, shop=t.shop_number
        )
    )
    say(
        _("Supervisor (00) password: {pw} (shown once; give it to the merchant).").format(
            pw=b.supervisor_password
        )
    )


@terminals.command("unbind", help=_("Take a terminal back from its merchant into stock."))
@handles_errors
def unbind(tid: Tid, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    t = app().terminals.unbind(tid, actor(by), reason)
    emit_json(t) if as_json else say(
        _("Terminal {tid} unbound and back in stock.").format(tid=t.tid)
    )


@terminals.command("ship", help=_("Mark a bound terminal as shipped to its merchant."))
@handles_errors
def ship(
    tid: Tid,
    note: Annotated[str | None, typer.Option(help=_("Carrier, tracking number..."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    t = app().terminals.ship(tid, actor(by), note)
    emit_json(t) if as_json else say(_("Terminal {tid} shipped.").format(tid=t.tid))


@terminals.command(
    "freeze", help=_("Freeze a terminal: it can no longer sign on or take payments.")
)
@handles_errors
def freeze(tid: Tid, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    t = app().terminals.freeze(tid, actor(by), reason)
    emit_json(t) if as_json else say(_("Terminal {tid} frozen.").format(tid=t.tid))


@terminals.command(
    "operator-password",
    help=_("Require (or stop requiring) an operator's password before a terminal sells."),
)
@handles_errors
def operator_password(
    tid: Tid,
    reason: Reason,
    required: Annotated[
        bool,
        typer.Option(
            "--required/--not-required", help=_("Require a password, or stop requiring one.")
        ),
    ] = True,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    t = app().terminals.require_operator_password(tid, required, actor(by), reason)
    if as_json:
        emit_json(t)
        return
    message = (
        _("Terminal {tid} sells only after an operator signs in with a password.")
        if t.require_operator_password
        else _("Terminal {tid} sells without an operator password.")
    )
    say(message.format(tid=t.tid))


@terminals.command("unfreeze", help=_("Lift a freeze."))
@handles_errors
def unfreeze(tid: Tid, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    t = app().terminals.unfreeze(tid, actor(by), reason)
    emit_json(t) if as_json else say(
        _("Terminal {tid} is {status} again.").format(tid=t.tid, status=_(t.status.value))
    )


@terminals.command("retire", help=_("Retire a terminal in stock for good."))
@handles_errors
def retire(tid: Tid, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    t = app().terminals.retire(tid, actor(by), reason)
    emit_json(t) if as_json else say(_("Terminal {tid} retired.").format(tid=t.tid))


@terminals.command("rekey", help=_("Give a terminal a new master key (shown once)."))
@handles_errors
def rekey(tid: Tid, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    p = app().terminals.rekey(tid, actor(by), reason)
    if as_json:
        emit_json(p)
        return
    say(f"TMK: [bold]{p.tmk_hex}[/]  KCV: {p.tmk_kcv}")
    err.print(
        "[yellow]"
        + both(
            "Inject this TMK into the device now: it is stored only encrypted and will not be shown again."
        )
        + "[/]"
    )


@terminals.command("list", help=_("List terminals."))
@handles_errors
def list_(
    status: Annotated[TerminalStatus | None, typer.Option(help=_("Only this status."))] = None,
    merchant: Annotated[str | None, typer.Option(help=_("Only this merchant's (MID)."))] = None,
    after: Annotated[int, typer.Option(help=_("Page on: list after this internal id."))] = 0,
    limit: Annotated[int, typer.Option(help=_("At most this many (1-500)."))] = 100,
    as_json: JsonOpt = False,
) -> None:
    rows = app().terminals.search(status=status, merchant_ref=merchant, after_id=after, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table(
        _("Terminals"),
        [_("TID"), _("Serial number"), _("Model"), _("Status"), _("MID"), _("Shop")],
        [(t.tid, t.serial_no, t.model, _(t.status.value), t.mid, t.shop_number) for t in rows],
    )


@terminals.command("show", help=_("Show one terminal."))
@handles_errors
def show(tid: Tid, as_json: JsonOpt = False) -> None:
    show_terminal(app().terminals.get(tid), as_json)


@terminals.command("history", help=_("Every lifecycle change: who, when, why."))
@handles_errors
def history(tid: Tid, as_json: JsonOpt = False) -> None:
    events = app().terminals.history(tid)
    if as_json:
        emit_json(events)
        return
    history_table(events)


@operators.command("list", help=_("A terminal's operators."))
@handles_errors
def op_list(tid: Tid, as_json: JsonOpt = False) -> None:
    rows = app().terminals.list_operators(tid)
    if as_json:
        emit_json(rows)
        return
    table(
        _("Operators"),
        [_("Code"), _("Role"), _("Name"), _("Locked")],
        [(o.code, _(o.role.value), o.name, _("yes") if o.locked else _("no")) for o in rows],
    )


@operators.command("add", help=_("Add a cashier (4-digit password)."))
@handles_errors
def op_add(
    tid: Tid,
    code: Code,
    password: Password,
    name: Annotated[str | None, typer.Option(help=_("The cashier's name."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    o = app().terminals.add_operator(tid, code, password, actor(by), name)
    emit_json(o) if as_json else say(
        _("Operator {code} added to terminal {tid}.").format(code=o.code, tid=tid)
    )


@operators.command("passwd", help=_("Set a new password (also unlocks a locked operator)."))
@handles_errors
def op_passwd(
    tid: Tid, code: Code, password: Password, by: ByOpt = None, as_json: JsonOpt = False
) -> None:
    o = app().terminals.set_operator_password(tid, code, password, actor(by))
    emit_json(o) if as_json else say(_("Password of operator {code} changed.").format(code=o.code))


@operators.command("remove", help=_("Remove a cashier."))
@handles_errors
def op_remove(tid: Tid, code: Code, by: ByOpt = None) -> None:
    app().terminals.remove_operator(tid, code, actor(by))
    say(_("Operator {code} removed from terminal {tid}.").format(code=code, tid=tid))


@operators.command(
    "verify", help=_("Check an operator's password, as the terminal's sign-in does.")
)
@handles_errors
def op_verify(tid: Tid, code: Code, password: Password, as_json: JsonOpt = False) -> None:
    ok = app().terminals.verify_operator(tid, code, password)
    if as_json:
        emit_json({"tid": tid, "code": code, "valid": ok})
    else:
        say(_("Password accepted.") if ok else _("Wrong password."))
    if not ok:
        raise typer.Exit(1)
