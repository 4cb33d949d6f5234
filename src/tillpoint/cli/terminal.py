"""tillpoint terminal ...: the virtual terminal, scriptable (one transaction per command)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from tillpoint.cli._common import JsonOpt, emit_json, fields, handles_errors, money, print_error
from tillpoint.core.errors import Refused
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.iso8583.codes import describe
from tillpoint.receipts.slip import render
from tillpoint.terminal.client import TerminalError, explain
from tillpoint.terminal.device import ENTRY_MODES, Device, DeviceState, Result, action_label

terminal = typer.Typer(invoke_without_command=True)

StateOpt = Annotated[
    Path,
    typer.Option("--state", help=_("The terminal's state file (keys, STAN, batch, journal).")),
]
Card = Annotated[
    str,
    typer.Option(
        "--card",
        help=_("Card number, or with --entry scan a wallet payment code (280000000000000001)."),
    ),
]
Entry = Annotated[
    str,
    typer.Option(
        help=_("How the card is read: swipe, insert, tap, manual, or scan (a wallet code).")
    ),
]
Pin = Annotated[str | None, typer.Option(help=_("The cardholder's PIN (test cards: 123456)."))]
DEFAULT_STATE = Path("tillpoint-terminal.json")


@handles_errors
def _run(state_path: Path, action: Callable[[Device], Awaitable[Result]], as_json: bool) -> None:
    device = Device(DeviceState.load(state_path), state_path)

    async def go() -> Result:
        try:
            return await action(device)
        finally:
            await device.close()

    try:
        result = asyncio.run(go())
    except (OSError, TerminalError, TimeoutError) as e:
        print_error(_("the host did not answer properly: {why}").format(why=explain(e)))
        raise typer.Exit(1) from None
    if as_json:
        emit_json(dataclasses.asdict(result))
    else:
        _show(result)
    if not result.approved:
        raise typer.Exit(1)


def _show(r: Result) -> None:
    verdict = _("APPROVED") if r.approved else _("DECLINED")
    rows: list[tuple[str, object]] = [
        (_("Result"), f"{verdict} ({r.response_code}) {describe(r.response_code)}")
    ]
    if r.amount_minor is not None:
        rows.append((_("Amount"), money(r.amount_minor)))
    for label, value in (
        (_("Card"), r.card),
        (_("Card organisation"), r.card_org),
        ("RRN", r.rrn),
        (_("Authorization code"), r.auth_code),
        (_("Batch"), r.batch),
        (_("Voucher"), r.stan),
    ):
        if value:
            rows.append((label, value))
    if r.balance_minor is not None:
        rows.append((_("Balance"), money(r.balance_minor)))
    if r.settlement is not None:
        rows.append((_("Balanced"), ", ".join(f"{k}: {v}" for k, v in r.settlement.items())))
    fields(action_label(r.action), rows)


def _entry(value: str) -> str:
    if value not in ENTRY_MODES:
        raise typer.BadParameter(
            _("one of: swipe, insert, tap, manual, scan"), param_hint="--entry"
        )
    return value


@terminal.callback()
@handles_errors
def pos_screen(ctx: typer.Context, state: StateOpt = DEFAULT_STATE) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from tillpoint.terminal.tui import PosTerminal  # Textual loads only for the screen

    PosTerminal(Device(DeviceState.load(state), state)).run()


@terminal.command("setup", help=_("Set which terminal this is (default: demo terminal 10000001)."))
@handles_errors
def setup(
    tid: Annotated[str, typer.Option(help=_("Terminal ID."))],
    mid: Annotated[str, typer.Option(help=_("Merchant ID it is bound to."))],
    tmk: Annotated[str, typer.Option(help=_("The injected TMK, 32 hex digits."))],
    host: Annotated[str, typer.Option(help=_("Host address."))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=_("Host port."))] = 5800,
    mac: Annotated[str, typer.Option(help=_("MAC method: ecb or x919."))] = "ecb",
    state: StateOpt = DEFAULT_STATE,
) -> None:
    try:
        bytes.fromhex(tmk)
    except ValueError:
        raise typer.BadParameter(_("32 hex digits"), param_hint="--tmk") from None
    if len(tmk) != 32 or mac not in ("ecb", "x919"):
        raise typer.BadParameter(_("32 hex digits and ecb or x919"), param_hint="--tmk/--mac")
    DeviceState(tid, mid, tmk.upper(), host, port, mac).save(state)
    fields(_("Terminal"), [("TID", tid), ("MID", mid), (_("Host"), f"{host}:{port}")])


@terminal.command("signon", help=_("Sign on (签到): fetch fresh working keys."))
def signon(state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False) -> None:
    _run(state, lambda d: d.sign_on(), as_json)


@terminal.command("signin", help=_("Operator sign-in: the host checks the password."))
def signin(
    operator: Annotated[str, typer.Option(help=_("Operator number: 001-999, or 00 (supervisor)."))],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help=_("The operator's password."))
    ],
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    _run(state, lambda d: d.sign_in(operator, password), as_json)


@terminal.command("reprint", help=_("Reprint (重打印) the slip of the last transaction."))
@handles_errors
def reprint(state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False) -> None:
    receipt = Device(DeviceState.load(state)).last_receipt()
    if receipt is None:
        raise Refused("terminal.no_receipt", N_("There is no transaction to reprint"))
    if as_json:
        emit_json({**receipt.to_dict(), "lines": render(receipt, reprint=True)})
    else:
        typer.echo("\n".join(render(receipt, reprint=True)))


@terminal.command("echo", help=_("Echo test."))
def echo(state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False) -> None:
    _run(state, lambda d: d.echo(), as_json)


@terminal.command("signoff", help=_("Sign off (签退)."))
def signoff(state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False) -> None:
    _run(state, lambda d: d.sign_off(), as_json)


@terminal.command("sale", help=_("A sale (消费) with a test card."))
@handles_errors
def sale(
    amount: Annotated[str, typer.Option(help=_("Amount, e.g. 12.34."))],
    card: Card,
    entry: Entry = "insert",
    pin: Pin = None,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    _run(state, lambda d: d.sale(value, card, entry=mode, pin=pin), as_json)


@terminal.command("void", help=_("Void (消费撤销) a sale of the open batch, by its RRN."))
@handles_errors
def void(
    rrn: Annotated[str, typer.Option(help=_("RRN of the sale."))],
    card: Card,
    entry: Entry = "insert",
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(state, lambda d: d.void(rrn, card, entry=mode), as_json)


@terminal.command("refund", help=_("Refund (退货) part or all of a sale, by its RRN."))
@handles_errors
def refund(
    rrn: Annotated[str, typer.Option(help=_("RRN of the sale."))],
    amount: Annotated[str, typer.Option(help=_("Amount to give back."))],
    card: Card,
    entry: Entry = "insert",
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    _run(state, lambda d: d.refund(rrn, value, card, entry=mode), as_json)


@terminal.command("preauth", help=_("A pre-authorisation (预授权): hold funds on the card."))
@handles_errors
def preauth(
    amount: Annotated[str, typer.Option(help=_("Amount, e.g. 12.34."))],
    card: Card,
    entry: Entry = "insert",
    pin: Pin = None,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    _run(state, lambda d: d.preauth(value, card, entry=mode, pin=pin), as_json)


@terminal.command(
    "preauth-void",
    help=_("Release (预授权撤销) a pre-authorisation of the open batch, by its RRN."),
)
@handles_errors
def preauth_void(
    rrn: Annotated[str, typer.Option(help=_("RRN of the pre-authorisation."))],
    card: Card,
    entry: Entry = "insert",
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(state, lambda d: d.preauth_void(rrn, card, entry=mode), as_json)


@terminal.command(
    "complete", help=_("Complete (预授权完成) a pre-authorisation, for at most 115% of it.")
)
@handles_errors
def complete(
    auth_code: Annotated[
        str, typer.Option("--auth-code", help=_("Authorization code of the pre-authorisation."))
    ],
    amount: Annotated[str, typer.Option(help=_("Amount to capture, e.g. 12.34."))],
    card: Card,
    entry: Entry = "insert",
    pin: Pin = None,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    _run(state, lambda d: d.complete(auth_code, value, card, entry=mode, pin=pin), as_json)


@terminal.command(
    "complete-void", help=_("Void (预授权完成撤销) a completion of the open batch, by its RRN.")
)
@handles_errors
def complete_void(
    rrn: Annotated[str, typer.Option(help=_("RRN of the completion."))],
    card: Card,
    entry: Entry = "insert",
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(state, lambda d: d.completion_void(rrn, card, entry=mode), as_json)


@terminal.command("balance", help=_("Balance inquiry (查余额)."))
@handles_errors
def balance(
    card: Card,
    pin: Annotated[str, typer.Option(help=_("The cardholder's PIN (test cards: 123456)."))],
    entry: Entry = "insert",
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(state, lambda d: d.balance(card, pin, entry=mode), as_json)


@terminal.command("settle", help=_("Batch settlement (批结算); the next batch starts."))
def settle(state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False) -> None:
    _run(state, lambda d: d.settle(), as_json)
