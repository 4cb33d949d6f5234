"""``tillpoint terminal``: a countertop POS in a text window.

An LCD screen, a keypad and a slip printer, driven by the keyboard (digits, Enter,
Backspace to clear, Escape to cancel) or by clicking the keys. Underneath is the same
``Device`` the scriptable commands use, so keys, STAN, batch, journal and the pending
reversal live in the same state file.

Each function of the terminal is one coroutine that reads like the cashier's dialogue:
it asks for an amount, then a card, then a PIN, then talks to the host. A question
waits for keys from a queue; CANCEL raises ``Cancelled`` back to the menu.

While the menu waits, a timer asks the host every few seconds whether the till handed
the terminal an amount (收银联动, ``Device.poll_checkout``) in a worker of its own, never
while the terminal talks to the host (one line to the host, one exchange at a time); a
checkout found comes to the menu as a key would, and is paid as a sale is.
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
from tillpoint.receipts.slip import (
    ENTRIES,
    Receipt,
    issuer_name,
    org_name,
    pair,
    render,
    render_settlement,
)
from tillpoint.terminal.client import TerminalError, explain
from tillpoint.terminal.device import (
    SUPERVISOR_PASSWORD_DIGITS,
    CheckoutOffer,
    Device,
    JournalEntry,
    Result,
    action_label,
)

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
CHECKOUT_EVERY_S = 3.0  # the idle menu asks the host for a checkout this often
CHECKOUT_POLL_TIMEOUT_S = 5.0  # a poll unanswered by then is dropped (with its line)
SET_ASIDE_S = 60.0  # a checkout the cashier left is not put on the screen again before
CHECKOUT = "checkout"  # what the poll puts in the key queue when the till sent an amount
FROM_THE_TILL = ("收银台金额", "Amount from the till")  # shown in both languages


class Cancelled(Exception):
    """The cashier pressed CANCEL (or MENU): back to the menu."""


@dataclass(frozen=True)
class Presented:
    """A card (or payment code) as the terminal read it."""

    pan: str
    entry: str  # swipe, insert, tap, manual or scan
    expiry: str = "3012"


class Key(Button, can_focus=False):
    """A keypad key: never takes the focus, so Enter on the keyboard stays Enter, and
    takes every press however quick (a Button ignores one during its 0.2 s flash, which
    would lose the second 0 of a quickly clicked 100)."""

    async def _on_click(self, event: events.Click) -> None:
        event.stop()
        self.press()


class PosTerminal(App[None]):
    TITLE = "Tillpoint POS"
    # Two layouts. From 37 rows and 90 columns (a 120 x 40 window has room to spare): the
    # device with its brand, a 15-line screen and a keypad of full-size keys, the printer
    # beside it. Below that (80 x 24 is the smallest it is made for): the compact device,
    # the same screen and a keypad of one-line keys, 23 rows in all, and the printer in
    # what width is left (a slip is 32 columns).
    CSS = """
    Screen { layout: horizontal; background: #24262b; }
    #device { width: 46; height: auto; padding: 0 2; margin: 1 1;
              background: #3a3d44; border: round #6b7079; }
    #brand { color: #c9ccd2; text-style: bold; content-align: center middle; width: 100%; }
    #lcd { height: 17; width: 100%; padding: 0 1; margin: 0 0 1 0;
           background: #b9cf9e; color: #17240f; border: tall #20231f; }
    #keypad { grid-size: 4 4; grid-gutter: 1 1; height: 15; width: 100%; }
    #keypad Key { width: 100%; height: 100%; min-width: 5; }
    #key-enter { row-span: 2; }
    #paper { width: 40; margin: 1 1; background: #f4f1e8; color: #111111;
             border: round #9a968c; scrollbar-size-vertical: 1;
             scrollbar-background: #e2ddd0; scrollbar-color: #9a968c; }
    #paper-title { color: #6b675e; padding: 0 1; }
    #roll { padding: 0 1; }
    Screen.-compact #brand { display: none; }
    Screen.-compact #device { width: 42; padding: 0; margin: 0; }
    Screen.-compact #lcd { margin: 0; }
    Screen.-compact #keypad { height: 4; grid-gutter: 0 1; padding: 0 1; }
    Screen.-compact #keypad Key { height: 100%; min-width: 3; border: none; }
    Screen.-compact #paper { width: 1fr; min-width: 20; margin: 0; }
    """
    # The layout follows the window: below either of these, the compact one.
    FULL_SIZE = (90, 37)  # columns, rows

    def _layout(self, width: int, height: int) -> None:
        columns, rows = self.FULL_SIZE
        self.screen.set_class(width < columns or height < rows, "-compact")

    def on_resize(self, event: events.Resize) -> None:
        self._layout(event.size.width, event.size.height)

    @property
    def compact(self) -> bool:
        return self.screen.has_class("-compact")

    BINDINGS: ClassVar = [("ctrl+q", "quit", N_("Quit"))]

    def __init__(self, device: Device, *, checkout_every_s: float = CHECKOUT_EVERY_S) -> None:
        super().__init__()
        self.device = device
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self.slips: list[str] = []  # the paper roll
        self.shown = ""  # what the screen says now
        self._supervisor_password = ""  # of the function under way, checked
        # The cashier link: asked only while the menu waits (``_idle``), never while the
        # terminal talks to the host (``_line``); 0 seconds: never asked.
        self.checkout_every_s = checkout_every_s
        self._line = asyncio.Lock()
        self._idle = False
        self._polling = False
        self._offer: CheckoutOffer | None = None
        self._set_aside: dict[str, float] = {}  # reference -> when the cashier left it

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
        self._layout(self.size.width, self.size.height)
        self.run_worker(self._run(), exclusive=True, name="pos")
        if self.checkout_every_s > 0:
            self.set_interval(self.checkout_every_s, self._checkout_tick)

    async def on_unmount(self) -> None:
        await self.device.close()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("key-"):
            self._press(event.button.id.removeprefix("key-"))

    def on_key(self, event: events.Key) -> None:
        if len(self.screen_stack) > 1:
            return  # the signature pad is up: its keys are the cardholder's
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
        while (key := await self._keys.get()) == CHECKOUT and not self._idle:
            pass  # a checkout found as the menu closed: it is offered again later
        if key in ("cancel", "menu"):
            raise Cancelled
        return key

    async def choose(self, title: str, options: list[tuple[str, str]], hint: str = "") -> str:
        self.lcd(title, [f"{k} {label}" for k, label in options], hint or _("Press a number"))
        keys = {k for k, _label in options} | {CHECKOUT}
        while (key := await self.key()) not in keys:
            pass
        return key

    async def amount(self, title: str, prompt: str | None = None) -> Money:
        """Digits fill from the right, as on every POS: 1, 2, 3, 4 → 12.34."""
        digits = ""
        while True:
            value = Money(int(digits or "0"))
            figure = Text(f"{value.display():>24}", style="bold")
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
        head = f"{title}  {amount.display()}" if amount else title
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

    async def supervisor(self, title: str) -> bool:
        """主管密码: asked before a void or refund and checked by the terminal itself;
        a wrong one ends the function with nothing sent."""
        password = await self.digits(
            title,
            _("Supervisor password:"),
            fewest=SUPERVISOR_PASSWORD_DIGITS,
            most=SUPERVISOR_PASSWORD_DIGITS,
            secret=True,
        )
        try:
            self.device.check_supervisor(password)
        except TillpointError as e:
            await self.notice(title, [e.localized()])
            return False
        self._supervisor_password = password
        return True

    # --- talking to the host ----------------------------------------------------------

    async def talk(self, title: str, work: Coroutine[Any, Any, Result]) -> Result | None:
        self.lcd(title, [_("Processing, please wait…")])
        try:
            async with self._line:  # after a checkout poll under way, if any
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
        except Exception as e:
            # A fault of the terminal's own: said by its kind only, and the terminal goes
            # on. Left to Textual, it would end the app with a traceback that shows the
            # locals of every frame: the card number and PIN being sent among them.
            await self.notice(
                title,
                [
                    _("The terminal met a fault of its own."),
                    _("Query the last transaction before trying again."),
                    Text(type(e).__name__, style="dim"),
                ],
            )
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
            lines.append(Money(result.amount_minor).display())
        for label, value in (
            (_("Card"), result.card),
            (_("Auth. code"), result.auth_code),
            ("RRN", result.rrn),
            (_("Voucher"), result.stan),
        ):
            if value:
                lines.append(f"{label}: {value}")
        receipt = self.device.last_receipt()
        if not slip or receipt is None or receipt.stan != result.stan:
            await self.notice(title, lines)
            return
        if result.action in ("sale", "completion") and receipt.needs_signature:
            receipt = await self.e_signature(title, result, lines) or receipt
        await self.print_copies(title, lines, receipt)

    async def e_signature(
        self, title: str, result: Result, lines: list[str | Text]
    ) -> Receipt | None:
        """电子签名: the pad for the cardholder, then the upload (4.11); the slip as it
        stands after (signed on the screen or not). Skipped: the paper slip is signed."""
        from tillpoint.terminal.pad import SignatureScreen

        amount = Money(result.amount_minor or 0).display()
        heading = _("Cardholder signature · {amount}").format(amount=amount)
        self.lcd(title, [*lines, "", _("Cardholder, please sign on the pad.")])
        png = await self.push_screen_wait(SignatureScreen(heading))
        if png is None or not result.rrn:
            return None
        entry = self.device.query(rrn=result.rrn)
        uploaded = await self.talk(title, self.device.upload_signature(entry, png))
        if uploaded is not None and uploaded.approved:
            lines.append(_("Signature sent: it shows on the e-receipt."))
        elif uploaded is not None:
            lines.append(
                _("Signature not kept ({code}): sign the slip.").format(code=uploaded.response_code)
            )
        return self.device.last_receipt()

    async def print_copies(
        self, title: str, lines: list[str | Text], receipt: Receipt, *, reprint: bool = False
    ) -> None:
        """The merchant's copy (商户存根), then on Enter the cardholder's (持卡人存根),
        as a countertop POS prints them; Cancel keeps the second one back."""
        self.print_slip(render(receipt, copy="merchant", reprint=reprint))
        if receipt.needs_signature and not receipt.signed:
            lines.append(_("Slip printed: ask for the signature."))
        elif not receipt.scanned:
            lines.append(_("No signature required (small contactless)."))
        self.lcd(title, lines, _("Tear off; Enter prints the cardholder copy"))
        while await self.key() != "enter":
            pass
        self.print_slip(render(receipt, copy="cardholder", reprint=reprint))

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
            ("7", _("Print")),
            ("8", _("Transaction query")),
            ("9", _("Management")),
        ]
        functions = {
            "1": self.sale,
            "2": self.void,
            "3": self.refund,
            "4": self.balance,
            "5": self.preauth_menu,
            "6": self.settle,
            "7": self.print_menu,
            "8": self.transaction_query,
        }
        while True:
            try:
                self._idle = True
                try:
                    choice = await self.choose(_("Menu"), menu)
                finally:
                    self._idle = False
                if choice == CHECKOUT:
                    await self.checkout()
                    continue
                if choice == "9":
                    if await self.management():
                        return  # signed out
                    continue
                await functions[choice]()
            except Cancelled:
                continue
            finally:
                self._supervisor_password = ""

    async def management(self) -> bool:
        """管理: True when the operator signs out."""
        choice = await self.choose(
            _("Management"),
            [
                ("1", _("Sign out / switch operator")),
                ("2", _("Sign on again")),
                ("3", _("Change the supervisor password")),
            ],
        )
        if choice == "1":
            return True
        if choice == "2":
            await self.sign_on_again()
        else:
            await self.change_supervisor_password()
        return False

    async def sale(self) -> None:
        title = _("Sale")
        amount = await self.amount(title)
        card = await self.present(title, amount)
        pin = await self.pin(title, card, amount)
        work = self.device.sale(amount, card.pan, entry=card.entry, pin=pin, expiry=card.expiry)
        await self.outcome(title, await self.talk(title, work))

    # --- the cashier link (收银联动) ------------------------------------------------------

    def _checkout_tick(self) -> None:
        """The timer: while the menu waits, ask the host in a worker of its own."""
        if self._idle and not self._polling and self.device.client.keys is not None:
            self._polling = True
            self.run_worker(self._poll_checkout(), group="checkout")

    async def _poll_checkout(self) -> None:
        """One poll, if the line is free and the menu still waits. An amount found goes
        to the menu as a key would; one the cashier left is not shown again for a while.
        A poll that fails says nothing: the next one tries again."""
        try:
            if self._line.locked():
                return
            async with self._line:
                if not self._idle:
                    return
                try:
                    async with asyncio.timeout(CHECKOUT_POLL_TIMEOUT_S):
                        offer = await self.device.poll_checkout()
                except (OSError, TimeoutError, TerminalError, asyncio.IncompleteReadError,
                        TillpointError):  # fmt: skip
                    await self.device.client.close()  # no answer may come late on the line
                    return
            now = asyncio.get_running_loop().time()
            left = self._set_aside.get(offer.reference, -SET_ASIDE_S) if offer else 0.0
            if offer is not None and now - left >= SET_ASIDE_S and self._idle:
                self._offer = offer
                self._keys.put_nowait(CHECKOUT)
        finally:
            self._polling = False

    async def checkout(self) -> None:
        """收银联动: the amount the till handed over, shown in both languages; Enter takes
        the card and pays it as a sale naming the checkout, Cancel leaves it."""
        offer, self._offer = self._offer, None
        if offer is None:
            return
        title = pair(FROM_THE_TILL)
        figure = Text(f"{offer.amount.display():>24}", style="bold")
        ref = _("Ref. {reference}").format(reference=offer.reference)
        hint = _("Enter to take the card; Cancel to leave it")
        self.lcd(title, [_("Amount:"), "", figure, "", ref], hint)
        try:
            while await self.key() != "enter":
                pass
        except Cancelled:
            self._set_aside[offer.reference] = asyncio.get_running_loop().time()
            raise
        title = _("Sale")  # from here on, a sale like any other (its amount in the title)
        card = await self.present(title, offer.amount)
        pin = await self.pin(title, card, offer.amount)
        work = self.device.sale(offer.amount, card.pan, entry=card.entry, pin=pin,
                                expiry=card.expiry, checkout=offer.reference)  # fmt: skip
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
        if not await self.supervisor(title):
            return
        original = await self._original(title, of_kind)
        amount = Money(original.amount_minor)
        await self.notice(
            title,
            [amount.display(), original.pan_masked, f"RRN {original.rrn}"],
        )
        card = await self.present(title, amount)
        voids = {
            "void": self.device.void,
            "preauth_void": self.device.preauth_void,
            "completion_void": self.device.completion_void,
        }
        work = voids[kind](
            original.rrn,
            card.pan,
            supervisor_password=self._supervisor_password,
            entry=card.entry,
            expiry=card.expiry,
        )
        await self.outcome(title, await self.talk(title, work))

    async def void(self) -> None:
        await self._void(_("Void"), "void", "sale")

    async def refund(self) -> None:
        title = _("Refund")
        if not await self.supervisor(title):
            return
        rrn = await self.digits(title, _("Original reference no. (RRN):"), fewest=12, most=12)
        amount = await self.amount(title, _("Amount to give back:"))
        card = await self.present(title, amount)
        work = self.device.refund(
            rrn,
            amount,
            card.pan,
            supervisor_password=self._supervisor_password,
            entry=card.entry,
            expiry=card.expiry,
        )
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
                [result.card or "", Text(Money(result.balance_minor).display(), "bold")],
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
                lines.append(f"  {what:<10}{count:>4}  {Money(minor).display():>16}")
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

    async def print_menu(self) -> None:
        """打印: reprint the last slip or any of the open batch; the batch's detail and
        summary, as a cashier prints them before settlement."""
        choice = await self.choose(
            _("Print"),
            [
                ("1", _("Reprint the last slip")),
                ("2", _("Reprint any slip")),
                ("3", _("Print the detail")),
                ("4", _("Print the summary")),
            ],
        )
        if choice == "1":
            await self.reprint(None)
        elif choice == "2":
            last = self.device.state.journal[-1] if self.device.state.journal else None
            voucher = await self.digits(
                _("Reprint"),
                _("Voucher no.:"),
                fewest=1,
                most=6,
                default=last.stan if last else "",
            )
            await self.reprint(voucher)
        elif choice == "3":
            self.print_slip(self.device.detail_slip())
            await self.notice(_("Print"), [_("Detail printed.")])
        else:
            self.print_slip(self.device.summary_slip())
            await self.notice(_("Print"), [_("Summary printed.")])

    async def reprint(self, voucher: str | None) -> None:
        title = _("Reprint")
        try:
            receipt = self.device.receipt_of(voucher)
        except TillpointError as e:
            await self.notice(title, [e.localized()])
            return
        lines: list[str | Text] = [
            _("Voucher no.: {voucher}").format(voucher=receipt.stan),
            receipt.signed_amount.display(),
        ]
        await self.print_copies(title, lines, receipt, reprint=True)
        await self.notice(title, [_("Slip printed again.")])

    async def transaction_query(self) -> None:
        """交易查询: a transaction of the open batch by voucher number or RRN."""
        title = _("Transaction query")
        how = await self.choose(title, [("1", _("By voucher no.")), ("2", _("By RRN"))])
        try:
            if how == "1":
                voucher = await self.digits(title, _("Voucher no.:"), fewest=1, most=6)
                found = self.device.query(voucher=voucher)
            else:
                rrn = await self.digits(title, _("Reference no. (RRN):"), fewest=12, most=12)
                found = self.device.query(rrn=rrn)
        except TillpointError as e:
            await self.notice(title, [e.localized()])
            return
        await self.notice(title, self.describe_entry(found))

    def describe_entry(self, e: JournalEntry) -> list[str | Text]:
        receipt = self.device.receipt(e)
        lines: list[str | Text] = [
            Text(f"{action_label(e.kind)}  {receipt.signed_amount.display()}", style="bold")
        ]
        for label, value in (
            (_("Voucher"), e.stan),
            (_("Card"), e.pan_masked),
            (_("Org."), org_name(e.card_org)),
            (_("Issuer"), issuer_name(e.issuer)),
            (_("Entry"), pair(ENTRIES[e.entry]) if e.entry in ENTRIES else ""),
            (_("Auth. code"), e.auth_code),
            ("RRN", e.rrn),
            (_("Orig. voucher"), e.original_stan),
            (_("Time"), receipt.when),
            (_("Operator"), receipt.operator),
        ):
            if value:
                lines.append(f"{label}: {value}")
        if e.voided:
            lines.append(Text(_("Voided"), style="bold"))
        return lines

    async def change_supervisor_password(self) -> None:
        title = _("Change the supervisor password")
        digits = SUPERVISOR_PASSWORD_DIGITS
        current = await self.digits(
            title, _("Current supervisor password:"), fewest=digits, most=digits, secret=True
        )
        try:
            right = self.device.is_supervisor_password(current)
        except TillpointError as e:  # locked after too many wrong ones
            await self.notice(title, [e.localized()])
            return
        if not right:
            await self.notice(title, [_("Wrong supervisor password: nothing changed")])
            return
        new = await self.digits(title, _("New password:"), fewest=digits, most=digits, secret=True)
        again = await self.digits(
            title, _("The new password again:"), fewest=digits, most=digits, secret=True
        )
        if new != again:
            await self.notice(title, [_("The two passwords differ: nothing changed.")])
            return
        self.device.set_supervisor_password(current, new)
        await self.notice(title, [_("The supervisor password is changed.")])

    async def sign_on_again(self) -> None:
        title = action_label("sign_on")
        result = await self.talk(title, self.device.sign_on())
        if result is not None:
            await self.notice(title, [f"{result.response_code} {describe(result.response_code)}"])
