"""tillpoint terminal ...: the virtual terminal, scriptable (one transaction per command)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import typer

from tillpoint.cli._common import JsonOpt, emit_json, fields, handles_errors, print_error
from tillpoint.core.i18n import _
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_POSITION, DEMO_SUPERVISOR_PASSWORD
from tillpoint.iso8583.codes import describe
from tillpoint.receipts.slip import COPIES, ENTRIES, issuer_name, org_name, pair, render
from tillpoint.terminal.client import TerminalError, explain
from tillpoint.terminal.device import (
    ENTRY_MODES,
    CheckoutOffer,
    Device,
    DeviceState,
    JournalEntry,
    Result,
    action_label,
    hash_supervisor_password,
    terminal_place,
)

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
        help=_(
            "How the card is read: swipe, insert (or chip), tap, manual, or scan (a wallet"
            " code). An inserted or tapped card is read from its chip (ARQC and ARPC)."
        )
    ),
]
Pin = Annotated[str | None, typer.Option(help=_("The cardholder's PIN (test cards: 123456)."))]
Operator = Annotated[
    str,
    typer.Option(
        help=_(
            "Who works the terminal for this command: 001-999, or 00 (supervisor). "
            "Never taken from the screen's last sign-in."
        )
    ),
]
Supervisor = Annotated[
    str,
    typer.Option(
        "--supervisor-password",
        prompt=_("Supervisor password"),
        hide_input=True,
        help=_(
            "The terminal's supervisor password (主管密码; demo: 123456). Asked for when left out."
        ),
    ),
]
SignatureFile = Annotated[
    Path | None,
    typer.Option(
        "--signature",
        help=_(
            "The cardholder's signature as an image file, uploaded after the approval "
            "(电子签名); fitted into 384 x 160 black and white. Without it the terminal "
            "draws --cardholder."
        ),
        show_default=False,
    ),
]
Cardholder = Annotated[
    str,
    typer.Option(
        help=_("The name the terminal draws as the signature when --signature is not given.")
    ),
]
NoSignature = Annotated[
    bool,
    typer.Option("--no-signature", help=_("Upload no e-signature: the paper slip is signed.")),
]
PlaceOpt = Annotated[
    str | None,
    typer.Option(
        "--place",
        metavar="LAT/LON",
        help=_(
            "Where the terminal says it is (field 59) for this command only, in degrees, "
            "e.g. 39.9042/116.4074: a terminal moved away from its shop."
        ),
    ),
]
DEFAULT_STATE = Path("tillpoint-terminal.json")
ENTRY_ALIASES = {"chip": "insert"}  # a card read from its contact chip
DEFAULT_OPERATOR = "001"
DEFAULT_CARDHOLDER = "Cardholder"
CHECKOUT_EVERY_S = 2.0  # how often `terminal checkout --wait` asks again


@dataclasses.dataclass
class Signing:
    """The e-signature a sale or completion uploads once approved, when its slip needs
    one (4.11): the image file given, or the cardholder's name drawn; and what came of it."""

    png: bytes | None
    cardholder: str
    uploaded: Result | None = None
    problem: str | None = None

    @classmethod
    def of(cls, path: Path | None, cardholder: str, skip: bool) -> Signing | None:
        """Read (and fit) the file before anything is sent: a bad one changes nothing."""
        if skip:
            return None
        if path is None:
            return cls(None, cardholder)
        from tillpoint.terminal.signature import from_file

        try:
            data = path.read_bytes()
        except OSError as e:
            raise typer.BadParameter(str(e), param_hint="--signature") from None
        return cls(from_file(data), cardholder)

    async def after(self, device: Device, result: Result) -> None:
        if not (result.approved and result.rrn):
            return
        entry = device.query(rrn=result.rrn)
        if not device.receipt(entry).needs_signature:
            return
        from tillpoint.terminal.signature import from_name

        try:
            self.uploaded = await device.upload_signature(
                entry, self.png or from_name(self.cardholder)
            )
        except (OSError, TerminalError, TimeoutError, asyncio.IncompleteReadError) as e:
            self.problem = explain(e)  # the sale stands: its paper slip is signed

    def json(self) -> dict[str, object] | None:
        if self.uploaded is None and self.problem is None:
            return None
        u = self.uploaded
        return {"uploaded": bool(u and u.approved), "response_code": u.response_code if u else None,
                "problem": self.problem}  # fmt: skip

    def show(self) -> None:
        u = self.uploaded
        if u is None and self.problem is None:
            return
        if u is not None and u.approved:
            verdict = _("uploaded: it shows on the e-receipt")
        elif u is not None:
            verdict = _("not kept ({code}): {meaning}").format(
                code=u.response_code, meaning=describe(u.response_code)
            )
        else:
            verdict = _("not uploaded: {why}").format(why=self.problem)
        fields(action_label("signature"), [(_("Result"), verdict)])


# What was given before the command (``--place``), for this run; set by the callback,
# which runs before every command of the group.
_given: dict[str, str | None] = {}


def _device(state_path: Path, operator: str, *, save: bool = True) -> Device:
    return Device(
        DeviceState.load(state_path),
        state_path if save else None,
        operator=operator,
        place=_given.get("place"),
    )


@handles_errors
def _run(
    state_path: Path,
    action: Callable[[Device], Awaitable[Result]],
    as_json: bool,
    operator: str = DEFAULT_OPERATOR,
    signing: Signing | None = None,
) -> None:
    device = _device(state_path, operator)

    async def go() -> Result:
        try:
            result = await action(device)
            if signing is not None:
                await signing.after(device, result)
            return result
        finally:
            await device.close()

    try:
        result = asyncio.run(go())
    except (OSError, TerminalError, TimeoutError) as e:
        print_error(_("the host did not answer properly: {why}").format(why=explain(e)))
        raise typer.Exit(1) from None
    if as_json:
        extra = {} if signing is None else {"signature": signing.json()}
        emit_json({**dataclasses.asdict(result), **extra})
    else:
        _show(result)
        if signing is not None:
            signing.show()
    if not result.approved:
        raise typer.Exit(1)


def _show(r: Result) -> None:
    verdict = _("APPROVED") if r.approved else _("DECLINED")
    rows: list[tuple[str, object]] = [
        (_("Result"), f"{verdict} ({r.response_code}) {describe(r.response_code)}")
    ]
    if r.amount_minor is not None:
        rows.append((_("Amount"), Money(r.amount_minor).display()))
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
        rows.append((_("Balance"), Money(r.balance_minor).display()))
    if r.settlement is not None:
        rows.append((_("Balanced"), ", ".join(f"{k}: {v}" for k, v in r.settlement.items())))
    fields(action_label(r.action), rows)


def _entry(value: str) -> str:
    value = ENTRY_ALIASES.get(value, value)
    if value not in ENTRY_MODES:
        raise typer.BadParameter(
            _("one of: swipe, insert (or chip), tap, manual, scan"), param_hint="--entry"
        )
    return value


@terminal.callback()
@handles_errors
def pos_screen(ctx: typer.Context, state: StateOpt = DEFAULT_STATE, place: PlaceOpt = None) -> None:
    if place is not None:
        terminal_place(place)  # a malformed place stops here, before anything is sent
    _given["place"] = place
    if ctx.invoked_subcommand is not None:
        return
    from tillpoint.terminal.tui import PosTerminal  # Textual loads only for the screen

    PosTerminal(Device(DeviceState.load(state), state, place=place)).run()


@terminal.command("setup", help=_("Set which terminal this is (default: demo terminal 10000001)."))
@handles_errors
def setup(
    tid: Annotated[str, typer.Option(help=_("Terminal ID."))],
    mid: Annotated[str, typer.Option(help=_("Merchant ID it is bound to."))],
    tmk: Annotated[str, typer.Option(help=_("The injected TMK, 32 hex digits."))],
    host: Annotated[str, typer.Option(help=_("Host address."))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=_("Host port."))] = 5800,
    mac: Annotated[str, typer.Option(help=_("MAC method: ecb or x919."))] = "ecb",
    merchant_name: Annotated[
        str, typer.Option(help=_("The merchant's name as the slips print it."))
    ] = "",
    supervisor_password: Annotated[
        str,
        typer.Option(
            "--supervisor-password",
            help=_("The supervisor password (主管密码), 6 digits; kept only as a hash."),
        ),
    ] = DEMO_SUPERVISOR_PASSWORD,
    place: Annotated[
        str,
        typer.Option(
            "--place",
            metavar="LAT/LON",
            help=_(
                "Where the terminal says it is (field 59), in degrees; empty: no position. "
                "Default: the demo shop's, in Shanghai."
            ),
        ),
    ] = DEMO_POSITION.text(),
    serial_no: Annotated[
        str, typer.Option(help=_("The serial number it reports (field 59); empty: none."))
    ] = "",
    state: StateOpt = DEFAULT_STATE,
) -> None:
    try:
        bytes.fromhex(tmk)
    except ValueError:
        raise typer.BadParameter(_("32 hex digits"), param_hint="--tmk") from None
    if len(tmk) != 32 or mac not in ("ecb", "x919"):
        raise typer.BadParameter(_("32 hex digits and ecb or x919"), param_hint="--tmk/--mac")
    hashed = hash_supervisor_password(supervisor_password)
    terminal_place(place, serial_no)  # malformed: refused, nothing saved
    DeviceState(
        tid, mid, tmk.upper(), host, port, mac, merchant_name=merchant_name,
        supervisor_hash=hashed, place=place, serial_no=serial_no,
    ).save(state)  # fmt: skip
    rows = [("TID", tid), ("MID", mid), (_("Host"), f"{host}:{port}")]
    if merchant_name:
        rows.insert(0, (_("Merchant"), merchant_name))
    fields(_("Terminal"), rows)


@terminal.command(
    "supervisor-password", help=_("Change the supervisor password (主管密码) of the terminal.")
)
@handles_errors
def supervisor_password(
    current: Annotated[
        str,
        typer.Option(
            prompt=_("Current supervisor password"),
            hide_input=True,
            help=_("The supervisor password now."),
        ),
    ],
    new: Annotated[
        str,
        typer.Option(
            prompt=_("New supervisor password"),
            hide_input=True,
            confirmation_prompt=True,
            help=_("The new supervisor password, 6 digits."),
        ),
    ],
    state: StateOpt = DEFAULT_STATE,
) -> None:
    Device(DeviceState.load(state), state).set_supervisor_password(current, new)
    typer.echo(_("The supervisor password is changed."))


@terminal.command("signon", help=_("Sign on (签到): fetch fresh working keys."))
def signon(
    operator: Operator = DEFAULT_OPERATOR, state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False
) -> None:
    _run(state, lambda d: d.sign_on(), as_json, operator)


@terminal.command("signin", help=_("Operator sign-in: the host checks the password."))
def signin(
    operator: Annotated[str, typer.Option(help=_("Operator number: 001-999, or 00 (supervisor)."))],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, help=_("The operator's password."))
    ],
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    _run(state, lambda d: d.sign_in(operator, password), as_json, operator)


def _receipt_rows(e: JournalEntry, device: Device) -> list[tuple[str, object]]:
    r = device.receipt(e)
    rows: list[tuple[str, object]] = [
        (_("Voucher"), e.stan),
        (_("Type"), action_label(e.kind)),
        (_("Amount"), r.signed_amount.display()),
        (_("Card"), e.pan_masked),
        (_("Card organisation"), org_name(e.card_org)),
        (_("Issuer"), issuer_name(e.issuer)),
        (_("Entry mode"), pair(ENTRIES[e.entry]) if e.entry in ENTRIES else ""),
        (_("Authorization code"), e.auth_code),
        ("RRN", e.rrn),
        (_("Original voucher"), e.original_stan),
        (_("Original RRN"), e.original_rrn),
        (_("Batch"), r.batch),
        (_("Date and time"), r.when),
        (_("Operator"), r.operator),
    ]
    if e.voided:
        rows.append((_("Status"), _("Voided")))
    return [(k, v) for k, v in rows if v]


@terminal.command(
    "query", help=_("Transaction query (交易查询) in the open batch, by voucher number or RRN.")
)
@handles_errors
def query(
    voucher: Annotated[str | None, typer.Option(help=_("Voucher number (凭证号)."))] = None,
    rrn: Annotated[str | None, typer.Option(help=_("Reference number (RRN)."))] = None,
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    device = _device(state, operator, save=False)
    found = device.query(voucher=voucher, rrn=rrn)
    if as_json:
        emit_json({**dataclasses.asdict(found), "batch": device.client.batch})
    else:
        fields(_("Transaction query"), _receipt_rows(found, device))


@terminal.command(
    "reprint",
    help=_("Reprint (重打印) a slip: the last transaction's, or any voucher's of the open batch."),
)
@handles_errors
def reprint(
    voucher: Annotated[
        str | None, typer.Option(help=_("Voucher number of the open batch (default: the last)."))
    ] = None,
    copy: Annotated[
        str, typer.Option(help=_("Which copy: merchant, cardholder or both."))
    ] = "both",
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    if copy not in (*COPIES, "both"):
        raise typer.BadParameter(_("one of: merchant, cardholder, both"), param_hint="--copy")
    receipt = _device(state, operator, save=False).receipt_of(voucher)
    copies = list(COPIES) if copy == "both" else [copy]
    slips = {c: render(receipt, copy=c, reprint=True) for c in copies}
    if as_json:
        emit_json({**receipt.to_dict(), "copies": slips})
    else:
        typer.echo(("\n\n" + "- " * 16 + "\n\n").join("\n".join(lines) for lines in slips.values()))


@terminal.command(
    "detail",
    help=_("Print the open batch's detail (交易明细): every transaction, as before settlement."),
)
@handles_errors
def detail(
    operator: Operator = DEFAULT_OPERATOR, state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False
) -> None:
    device = _device(state, operator, save=False)
    lines = device.detail_slip()
    if as_json:
        journal = [dataclasses.asdict(e) for e in device.state.journal]
        emit_json({"batch": device.client.batch, "transactions": journal, "lines": lines})
    else:
        typer.echo("\n".join(lines))


@terminal.command(
    "summary",
    help=_(
        "Print the open batch's summary (交易汇总): counts and totals per card organisation and type."
    ),
)
@handles_errors
def summary(
    operator: Operator = DEFAULT_OPERATOR, state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False
) -> None:
    device = _device(state, operator, save=False)
    lines = device.summary_slip()
    if as_json:
        totals = device.totals()
        emit_json({
            "batch": device.client.batch,
            "tallies": [dataclasses.asdict(t) for t in device.tallies()],
            "totals": {"domestic": dataclasses.asdict(totals.domestic),
                       "foreign": dataclasses.asdict(totals.foreign)},
            "lines": lines,
        })  # fmt: skip
    else:
        typer.echo("\n".join(lines))


@terminal.command("echo", help=_("Echo test."))
def echo(
    operator: Operator = DEFAULT_OPERATOR, state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False
) -> None:
    _run(state, lambda d: d.echo(), as_json, operator)


@terminal.command("signoff", help=_("Sign off (签退)."))
def signoff(
    operator: Operator = DEFAULT_OPERATOR, state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False
) -> None:
    _run(state, lambda d: d.sign_off(), as_json, operator)


@terminal.command(
    "sale",
    help=_(
        "A sale (消费) with a test card; once approved, the cardholder's e-signature "
        "when the slip needs one."
    ),
)
@handles_errors
def sale(
    amount: Annotated[str, typer.Option(help=_("Amount, e.g. 12.34."))],
    card: Card,
    entry: Entry = "insert",
    pin: Pin = None,
    signature: SignatureFile = None,
    cardholder: Cardholder = DEFAULT_CARDHOLDER,
    no_signature: NoSignature = False,
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    signing = Signing.of(signature, cardholder, no_signature)
    _run(state, lambda d: d.sale(value, card, entry=mode, pin=pin), as_json, operator, signing)


async def _checkout_waiting(device: Device, wait_s: float) -> CheckoutOffer | None:
    """The checkout the till handed over: asked once, then again every few seconds for
    at most ``wait_s`` seconds."""
    until = time.monotonic() + wait_s
    while (offer := await device.poll_checkout()) is None:
        left = until - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(CHECKOUT_EVERY_S, left))
    return offer


@terminal.command(
    "checkout",
    help=_(
        "Cashier link (收银联动): take the amount the till handed to this terminal, if one "
        "waits, and pay it with the card."
    ),
)
@handles_errors
def checkout(
    card: Card,
    entry: Entry = "insert",
    pin: Pin = None,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=3600,
            help=_("Seconds to keep asking when none waits yet (default: ask once)."),
        ),
    ] = 0,
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    device = _device(state, operator)

    async def go() -> tuple[CheckoutOffer | None, Result | None]:
        try:
            offer = await _checkout_waiting(device, wait)
            if offer is None:
                return None, None
            paid = await device.sale(
                offer.amount, card, entry=mode, pin=pin, checkout=offer.reference
            )
            return offer, paid
        finally:
            await device.close()

    try:
        offer, result = asyncio.run(go())
    except (OSError, TerminalError, TimeoutError) as e:
        print_error(_("the host did not answer properly: {why}").format(why=explain(e)))
        raise typer.Exit(1) from None
    if offer is None or result is None:
        if as_json:
            emit_json({"checkout": None})
        else:
            typer.echo(_("No checkout waits for this terminal."))
        raise typer.Exit(1)
    if as_json:
        emit_json({
            "checkout": {"amount_minor": offer.amount.amount_minor, "reference": offer.reference},
            **dataclasses.asdict(result),
        })  # fmt: skip
    else:
        rows = [(_("Amount"), offer.amount.display()), (_("Reference"), offer.reference)]
        fields(_("Amount from the till"), rows)
        _show(result)
    if not result.approved:
        raise typer.Exit(1)


@terminal.command("void", help=_("Void (消费撤销) a sale of the open batch, by its RRN."))
@handles_errors
def void(
    rrn: Annotated[str, typer.Option(help=_("RRN of the sale."))],
    card: Card,
    supervisor: Supervisor,
    entry: Entry = "insert",
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(
        state,
        lambda d: d.void(rrn, card, supervisor_password=supervisor, entry=mode),
        as_json,
        operator,
    )


@terminal.command("refund", help=_("Refund (退货) part or all of a sale, by its RRN."))
@handles_errors
def refund(
    rrn: Annotated[str, typer.Option(help=_("RRN of the sale."))],
    amount: Annotated[str, typer.Option(help=_("Amount to give back."))],
    card: Card,
    supervisor: Supervisor,
    entry: Entry = "insert",
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    _run(
        state,
        lambda d: d.refund(rrn, value, card, supervisor_password=supervisor, entry=mode),
        as_json,
        operator,
    )


@terminal.command("preauth", help=_("A pre-authorisation (预授权): hold funds on the card."))
@handles_errors
def preauth(
    amount: Annotated[str, typer.Option(help=_("Amount, e.g. 12.34."))],
    card: Card,
    entry: Entry = "insert",
    pin: Pin = None,
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    _run(state, lambda d: d.preauth(value, card, entry=mode, pin=pin), as_json, operator)


@terminal.command(
    "preauth-void",
    help=_("Release (预授权撤销) a pre-authorisation of the open batch, by its RRN."),
)
@handles_errors
def preauth_void(
    rrn: Annotated[str, typer.Option(help=_("RRN of the pre-authorisation."))],
    card: Card,
    supervisor: Supervisor,
    entry: Entry = "insert",
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(
        state,
        lambda d: d.preauth_void(rrn, card, supervisor_password=supervisor, entry=mode),
        as_json,
        operator,
    )


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
    signature: SignatureFile = None,
    cardholder: Cardholder = DEFAULT_CARDHOLDER,
    no_signature: NoSignature = False,
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    value, mode = Money.parse(amount), _entry(entry)
    signing = Signing.of(signature, cardholder, no_signature)
    _run(
        state,
        lambda d: d.complete(auth_code, value, card, entry=mode, pin=pin),
        as_json,
        operator,
        signing,
    )


@terminal.command(
    "complete-void", help=_("Void (预授权完成撤销) a completion of the open batch, by its RRN.")
)
@handles_errors
def complete_void(
    rrn: Annotated[str, typer.Option(help=_("RRN of the completion."))],
    card: Card,
    supervisor: Supervisor,
    entry: Entry = "insert",
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(
        state,
        lambda d: d.completion_void(rrn, card, supervisor_password=supervisor, entry=mode),
        as_json,
        operator,
    )


@terminal.command("balance", help=_("Balance inquiry (查余额)."))
@handles_errors
def balance(
    card: Card,
    pin: Annotated[str, typer.Option(help=_("The cardholder's PIN (test cards: 123456)."))],
    entry: Entry = "insert",
    operator: Operator = DEFAULT_OPERATOR,
    state: StateOpt = DEFAULT_STATE,
    as_json: JsonOpt = False,
) -> None:
    mode = _entry(entry)
    _run(state, lambda d: d.balance(card, pin, entry=mode), as_json, operator)


@terminal.command("settle", help=_("Batch settlement (批结算); the next batch starts."))
def settle(
    operator: Operator = DEFAULT_OPERATOR, state: StateOpt = DEFAULT_STATE, as_json: JsonOpt = False
) -> None:
    _run(state, lambda d: d.settle(), as_json, operator)
