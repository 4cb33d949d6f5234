"""``tillpoint terminal``: a countertop POS in a text window.

An LCD screen, a keypad and a slip printer, driven by the keyboard (digits, Enter,
Backspace to clear, Escape to cancel) or by clicking the keys. Underneath is the same
``Device`` the scriptable commands use, so keys, STAN, batch, journal and the pending
reversal live in the same state file.

Each function of the terminal is one coroutine that reads like the cashier's dialogue:
it asks for an amount, then a card, then a PIN, then talks to the host. A question
waits for keys from a queue; CANCEL raises ``Cancelled`` back to the menu.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.iso8583.codes import describe
from tillpoint.networks.simulator import section6_cards
from tillpoint.receipts.slip import render, render_settlement
from tillpoint.terminal.client import TerminalError, explain
from tillpoint.terminal.device import Device, JournalEntry, Result, action_label

NO_PIN_LIMIT = Money(100_000)  # contactless up to 1,000.00 needs no PIN (小额免密)
MAX_AMOUNT_DIGITS = 10
LCD_WIDTH = 36

# The test cards of spec section 6, as a tester's deck beside the terminal.
CARD_LABELS = {
    "6212340000000000012": N_("UnionPay debit"),
    "6250940000000000016": N_("UnionPay credit"),
    "6212340000000000020": N_("Debit, balance 10.00"),
    "6212340000000000038": N_("Debit, expired"),
    "6212340000000000046": N_("Debit, reported lost"),
    "6212340000000000053": N_("Debit, issuer silent"),
    "4761340000000019": N_("Visa credit, foreign"),
    "5222220000000005": N_("Mastercard, foreign"),
}
DECK = [(c.pan, c.expiry, CARD_LABELS[c.pan]) for c in section6_cards()]
WALLET_CODES = [
    ("280000000000000001", N_("Alipay")),
    ("130000000000000001", N_("WeChat Pay")),
    ("280000000000000002", N_("Alipay, insufficient funds")),
    ("6200000000000000001", N_("UnionPay QR")),
]
KEYPAD = [
    ("1", "1"),
    ("2", "2"),
    ("3", "3"),
    ("cancel", N_("Cancel")),
    ("4", "4"),
    ("5", "5"),
    ("6", "6"),
    ("clear", N_("Clear")),
    ("7", "7"),
    ("8", "8"),
    ("9", "9"),
    ("enter", N_("Enter")),
    ("menu", N_("Menu")),
    ("0", "0"),
    ("00", "00"),
]
KEY_VARIANTS: dict[str, ButtonVariant] = {
    "cancel": "error",
    "clear": "warning",
    "enter": "success",
}
KEYS = {"enter": "enter", "escape": "cancel", "backspace": "clear", "delete": "clear"}


class Cancelled(Exception):
    """The cashier pressed CANCEL (or MENU): back to the menu."""


@dataclass(frozen=True)
class Presented:
    """A card (or payment code) as the terminal read it."""

    pan: str
    entry: str  # swipe, insert, tap, manual or scan
    expiry: str = "3012"


class Key(Button, can_focus=False):
    """A keypad key: never takes the focus, so Enter on the keyboard stays Enter."""


class PosTerminal(App[None]):
    TITLE = "Tillpoint POS"
    CSS = """
    Screen { layout: horizontal; background: #24262b; }
    #device { width: 46; height: auto; padding: 1 2; margin: 1 1;
              background: #3a3d44; border: round #6b7079; }
    #brand { color: #c9ccd2; text-style: bold; content-align: center middle; width: 100%; }
    #lcd { height: 17; width: 100%; padding: 0 1; margin: 1 0;
           background: #b9cf9e; color: #17240f; border: tall #20231f; }
    #keypad { grid-size: 4 4; grid-gutter: 1 1; height: 19; width: 100%; }
    #keypad Key { width: 100%; height: 100%; min-width: 5; }
    #key-enter { row-span: 2; }
    #paper { width: 40; margin: 1 1; background: #f4f1e8; color: #111111;
             border: round #9a968c; scrollbar-size-vertical: 1;
             scrollbar-background: #e2ddd0; scrollbar-color: #9a968c; }
    #paper-title { color: #6b675e; padding: 0 1; }
    Screen.-short #keypad, Screen.-short #brand { display: none; }
    Screen.-short #device { padding: 0 1; margin: 0 1; }
    Screen.-short #lcd { margin: 0; }
    Screen.-short #paper { margin: 0 1; }
    Screen.-narrow #paper { width: 1fr; min-width: 20; }
    #roll { padding: 0 1; }
    """
    # A small terminal window (80 x 24) keeps the screen and the printer; the keypad
    # goes (the keyboard does the same) and the printer takes what width is left.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (44, "-tall")]  # noqa: RUF012 - as App declares it
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (90, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar = [("ctrl+q", "quit", N_("Quit"))]

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self.slips: list[str] = []  # the paper roll
        self.shown = ""  # what the screen says now

    # --- the device's face ------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="device"):
                yield Static("TILLPOINT  ·  POS", id="brand")
                yield Static(id="lcd")
                with Grid(id="keypad"):
                    for key, label in KEYPAD:
                        variant = KEY_VARIANTS.get(key, "default")
                        yield Key(_(label), id=f"key-{key}", variant=variant)
            with VerticalScroll(id="paper"):
                yield Static(_("Printer"), id="paper-title")
                yield Static(id="roll")

    def on_mount(self) -> None:
        self.run_worker(self._run(), exclusive=True, name="pos")

    async def on_unmount(self) -> None:
        await self.device.close()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id:
            self._press(event.button.id.removeprefix("key-"))

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            self._press(event.character)
        elif event.key in KEYS:
            self._press(KEYS[event.key])

    def _press(self, key: str) -> None:
        if key == "00":
            self._keys.put_nowait("0")
            self._keys.put_nowait("0")
        else:
            self._keys.put_nowait(key)

    def lcd(self, title: str, lines: list[str | Text], hint: str = "") -> None:
        """Draw the screen: a status line, the title, the body and a hint."""
        c = self.device.client
        screen = Text(no_wrap=True, overflow="ellipsis")
        status = _("TID {tid}  Op. {operator}  Batch {batch}").format(
            tid=c.tid, operator=c.operator, batch=c.batch
        )
        screen.append(status + "\n", style="dim")
        heading = Text(title, style="bold reverse")
        heading.align("left", LCD_WIDTH - 2)  # a full-width bar
        screen.append(heading)
        screen.append("\n")
        for line in lines:
            screen.append(line if isinstance(line, Text) else Text(line))
            screen.append("\n")
        if hint:
            screen.append("\n" + hint, style="italic")
        self.shown = screen.plain
        self.query_one("#lcd", Static).update(screen)

    def print_slip(self, lines: list[str]) -> None:
        self.slips.append("\n".join(lines))
        self.query_one("#roll", Static).update(("\n\n" + "✂ " * 16 + "\n\n").join(self.slips))
        self.query_one("#paper", VerticalScroll).scroll_end(animate=False)

    # --- questions --------------------------------------------------------------------

    async def key(self) -> str:
        key = await self._keys.get()
        if key in ("cancel", "menu"):
            raise Cancelled
        return key

    async def choose(self, title: str, options: list[tuple[str, str]], hint: str = "") -> str:
        self.lcd(title, [f"{k} {label}" for k, label in options], hint or _("Press a number"))
        keys = {k for k, _label in options}
        while (key := await self.key()) not in keys:
            pass
        return key

    async def amount(self, title: str, prompt: str | None = None) -> Money:
        """Digits fill from the right, as on every POS: 1, 2, 3, 4 → 12.34."""
        digits = ""
        while True:
            value = Money(int(digits or "0"))
            figure = Text(f"RMB {value.plain():>20}", style="bold")
            self.lcd(title, [prompt or _("Amount:"), "", figure], _("Enter to confirm"))
            key = await self.key()
            if key == "enter" and value.amount_minor > 0:
                return value
            if key == "clear":
                digits = digits[:-1]
            elif key.isdigit() and len(digits) < MAX_AMOUNT_DIGITS and (digits or key != "0"):
                digits += key

    async def digits(
        self,
        title: str,
        prompt: str,
        *,
        fewest: int,
        most: int,
        secret: bool = False,
        default: str = "",
    ) -> str:
        typed = ""
        while True:
            shown = "*" * len(typed) if secret else typed or default
            hint = _("Enter to confirm") if not default else _("Enter to take the default")
            self.lcd(title, [prompt, "", Text(shown or "_", style="bold")], hint)
            key = await self.key()
            if key == "enter":
                value = typed or default
                if fewest <= len(value) <= most:
                    return value
            elif key == "clear":
                typed = typed[:-1]
            elif key.isdigit() and len(typed) < most:
                typed += key

    async def notice(self, title: str, lines: list[str | Text]) -> None:
        self.lcd(title, lines, _("Enter to go on"))
        while await self.key() != "enter":
            pass

    async def present(self, title: str, amount: Money | None, *, scan: bool = True) -> Presented:
        """插卡/挥卡/刷卡 or 扫码: pick a test card and how it is read, or a code."""
        head = f"{title}  RMB {amount.plain()}" if amount else title
        options = [
            (str(i), f"{_(label)} ·{pan[-4:]}") for i, (pan, _e, label) in enumerate(DECK, 1)
        ]
        if scan:
            options.append(("9", _("Scan a payment code")))
        options.append(("0", _("Key in a card number")))
        choice = await self.choose(head, options, _("Present the card"))
        if choice == "9":
            return await self._scan(head)
        if choice == "0":
            pan = await self.digits(head, _("Card number:"), fewest=13, most=19)
            expiry = await self.digits(head, _("Expiry (YYMM):"), fewest=4, most=4)
            return Presented(pan, "manual", expiry)
        pan, expiry, _label = DECK[int(choice) - 1]
        how = await self.choose(
            head, [("1", _("Swipe")), ("2", _("Insert")), ("3", _("Tap"))], _("How is it read?")
        )
        return Presented(pan, {"1": "swipe", "2": "insert", "3": "tap"}[how], expiry)

    async def _scan(self, head: str) -> Presented:
        options = [(str(i), _(label)) for i, (_c, label) in enumerate(WALLET_CODES, 1)]
        options.append(("5", _("Type or scan another code")))
        choice = await self.choose(head, options, _("The customer's payment code"))
        if choice == "5":
            code = await self.digits(head, _("Payment code:"), fewest=16, most=32)
            return Presented(code, "scan")
        return Presented(WALLET_CODES[int(choice) - 1][0], "scan")

    async def pin(self, head: str, card: Presented, amount: Money | None) -> str | None:
        """The cardholder's PIN: none for a code, none for a small tap; may be skipped
        (Enter) where the card allows it."""
        if card.entry == "scan" or (
            card.entry == "tap" and amount is not None and amount <= NO_PIN_LIMIT
        ):
            return None
        pin = await self.digits(
            head, _("Cardholder, enter the PIN:"), fewest=0, most=12, secret=True
        )
        return pin or None

    # --- talking to the host ----------------------------------------------------------

    async def talk(self, title: str, work: Coroutine[Any, Any, Result]) -> Result | None:
        self.lcd(title, [_("Processing, please wait…")])
        try:
            return await work
        except (OSError, TimeoutError, TerminalError, asyncio.IncompleteReadError) as e:
            await self.notice(
                title,
                [
                    _("No valid answer from the host."),
                    _("An unanswered payment is reversed before the next one."),
                    Text(explain(e), style="dim"),
                ],
            )
        except TillpointError as e:
            await self.notice(title, [e.localized()])
        return None

    async def outcome(self, title: str, result: Result | None, *, slip: bool = True) -> None:
        if result is None:
            return
        if not result.approved:
            await self.notice(
                title,
                [Text(_("DECLINED"), style="bold"), f"{result.response_code} "
                 f"{describe(result.response_code)}"],
            )  # fmt: skip
            return
        lines: list[str | Text] = [Text(_("APPROVED"), style="bold")]
        if result.amount_minor is not None:
            lines.append(f"RMB {Money(result.amount_minor).plain()}")
        for label, value in (
            (_("Card"), result.card),
            (_("Auth. code"), result.auth_code),
            ("RRN", result.rrn),
            (_("Voucher"), result.stan),
        ):
            if value:
                lines.append(f"{label}: {value}")
        receipt = self.device.last_receipt()
        if slip and receipt is not None:
            self.print_slip(render(receipt))
            lines.append(_("Slip printed: ask for the signature."))
        await self.notice(title, lines)

    # --- the terminal's functions -------------------------------------------------------

    async def _run(self) -> None:
        await self.sign_on_at_start()
        while True:
            await self.operator_sign_in()
            await self.serve_operator()

    async def sign_on_at_start(self) -> None:
        """签到 by itself at power-on, until the host answers."""
        title = action_label("sign_on")
        while True:
            with contextlib.suppress(Cancelled):
                result = await self.talk(title, self.device.sign_on())
                if result is not None and result.approved:
                    return
                if result is not None:
                    refusal = f"{result.response_code} {describe(result.response_code)}"
                    await self.notice(title, [refusal, _("Enter to try again")])

    async def operator_sign_in(self) -> None:
        title = action_label("sign_in")
        while True:
            try:
                code = await self.digits(
                    title, _("Operator no.:"), fewest=2, most=3, default=self.device.state.operator
                )
                length = 6 if code == "00" else 4
                password = await self.digits(
                    title, _("Password:"), fewest=length, most=length, secret=True
                )
                result = await self.talk(title, self.device.sign_in(code, password))
                if result is not None and result.approved:
                    return
                if result is not None:
                    code_text = f"{result.response_code} {describe(result.response_code)}"
                    await self.notice(title, [code_text])
            except Cancelled:
                continue

    async def serve_operator(self) -> None:
        """The main menu, until the operator signs out."""
        menu = [
            ("1", _("Sale")),
            ("2", _("Void")),
            ("3", _("Refund")),
            ("4", _("Balance inquiry")),
            ("5", _("Pre-authorisation")),
            ("6", _("Settlement")),
            ("7", _("Reprint")),
            ("8", _("Sign out / switch operator")),
            ("9", _("Sign on again")),
        ]
        functions = {
            "1": self.sale,
            "2": self.void,
            "3": self.refund,
            "4": self.balance,
            "5": self.preauth_menu,
            "6": self.settle,
            "7": self.reprint,
            "9": self.sign_on_again,
        }
        while True:
            try:
                choice = await self.choose(_("Menu"), menu)
                if choice == "8":
                    return
                await functions[choice]()
            except Cancelled:
                continue

    async def sale(self) -> None:
        title = _("Sale")
        amount = await self.amount(title)
        card = await self.present(title, amount)
        pin = await self.pin(title, card, amount)
        work = self.device.sale(amount, card.pan, entry=card.entry, pin=pin, expiry=card.expiry)
        await self.outcome(title, await self.talk(title, work))

    async def _original(self, title: str, kind: str) -> JournalEntry:
        """The transaction of the open batch a void names, by its voucher number."""
        last = self.device.last(kind)
        while True:
            stan = await self.digits(
                title,
                _("Original voucher no.:"),
                fewest=1,
                most=6,
                default=last.stan if last else "",
            )
            original = self.device.find(f"{int(stan):06d}", kind)
            if original is not None:
                return original
            await self.notice(title, [describe("25")])

    async def _void(self, title: str, kind: str, of_kind: str) -> None:
        original = await self._original(title, of_kind)
        amount = Money(original.amount_minor)
        await self.notice(
            title,
            [f"RMB {amount.plain()}", original.pan_masked, f"RRN {original.rrn}"],
        )
        card = await self.present(title, amount)
        voids = {
            "void": self.device.void,
            "preauth_void": self.device.preauth_void,
            "completion_void": self.device.completion_void,
        }
        work = voids[kind](original.rrn, card.pan, entry=card.entry, expiry=card.expiry)
        await self.outcome(title, await self.talk(title, work))

    async def void(self) -> None:
        await self._void(_("Void"), "void", "sale")

    async def refund(self) -> None:
        title = _("Refund")
        rrn = await self.digits(title, _("Original reference no. (RRN):"), fewest=12, most=12)
        amount = await self.amount(title, _("Amount to give back:"))
        card = await self.present(title, amount)
        work = self.device.refund(rrn, amount, card.pan, entry=card.entry, expiry=card.expiry)
        await self.outcome(title, await self.talk(title, work))

    async def balance(self) -> None:
        title = _("Balance inquiry")
        card = await self.present(title, None, scan=False)
        pin = await self.digits(
            title, _("Cardholder, enter the PIN:"), fewest=4, most=12, secret=True
        )
        result = await self.talk(
            title, self.device.balance(card.pan, pin, entry=card.entry, expiry=card.expiry)
        )
        if result is not None and result.approved and result.balance_minor is not None:
            await self.notice(
                title,
                [result.card or "", Text(f"RMB {Money(result.balance_minor).plain()}", "bold")],
            )
        else:
            await self.outcome(title, result)

    async def preauth_menu(self) -> None:
        choice = await self.choose(
            _("Pre-authorisation"),
            [
                ("1", _("Pre-authorisation")),
                ("2", _("Pre-authorisation void")),
                ("3", _("Pre-auth completion")),
                ("4", _("Completion void")),
            ],
        )
        if choice == "1":
            title = _("Pre-authorisation")
            amount = await self.amount(title)
            card = await self.present(title, amount, scan=False)
            pin = await self.pin(title, card, amount)
            work = self.device.preauth(
                amount, card.pan, entry=card.entry, pin=pin, expiry=card.expiry
            )
            await self.outcome(title, await self.talk(title, work))
        elif choice == "2":
            await self._void(_("Pre-authorisation void"), "preauth_void", "preauth")
        elif choice == "3":
            await self.completion()
        else:
            await self._void(_("Completion void"), "completion_void", "completion")

    async def completion(self) -> None:
        title = _("Pre-auth completion")
        held = self.device.last("preauth")
        auth_code = await self.digits(
            title,
            _("Authorization code of the hold:"),
            fewest=6,
            most=6,
            default=held.auth_code if held else "",
        )
        amount = await self.amount(title, _("Amount (at most 115% of the hold):"))
        card = await self.present(title, amount, scan=False)
        pin = await self.pin(title, card, amount)
        work = self.device.complete(
            auth_code, amount, card.pan, entry=card.entry, pin=pin, expiry=card.expiry
        )
        await self.outcome(title, await self.talk(title, work))

    async def settle(self) -> None:
        title = _("Settlement")
        totals = self.device.totals()
        lines: list[str | Text] = []
        for name, half in ((_("Domestic"), totals.domestic), (_("Foreign"), totals.foreign)):
            lines.append(name)
            for what, count, minor in (
                (_("sales"), half.debit_count, half.debit_minor),
                (_("refunds"), half.credit_count, half.credit_minor),
            ):
                lines.append(f"  {what:<10}{count:>4}  RMB {Money(minor).plain():>11}")
        await self.notice(title, [*lines, "", _("Settle this batch?")])
        result = await self.talk(title, self.device.settle())
        if result is None or not result.approved or result.settlement is None:
            await self.outcome(title, result, slip=False)
            return
        verdict = {"1": _("balanced"), "2": _("not balanced: batch uploaded"), "3": _("error")}
        flags = result.settlement
        c = self.device.client
        self.print_slip(render_settlement(c.tid, c.mid, result.batch or "", totals, flags))
        await self.notice(
            title,
            [
                Text(_("Batch {batch} settled").format(batch=result.batch), style="bold"),
                _("Domestic") + ": " + verdict.get(flags["domestic"], flags["domestic"]),
                _("Foreign") + ": " + verdict.get(flags["foreign"], flags["foreign"]),
            ],
        )

    async def reprint(self) -> None:
        receipt = self.device.last_receipt()
        if receipt is None:
            await self.notice(_("Reprint"), [_("There is no transaction to reprint")])
            return
        self.print_slip(render(receipt, reprint=True))
        await self.notice(_("Reprint"), [_("Slip printed again.")])

    async def sign_on_again(self) -> None:
        title = action_label("sign_on")
        result = await self.talk(title, self.device.sign_on())
        if result is not None:
            await self.notice(title, [f"{result.response_code} {describe(result.response_code)}"])
