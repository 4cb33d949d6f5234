"""The virtual terminal as a device: what it remembers between runs and what each key
on its keypad does, independent of any screen.

Its state file holds what a terminal's own memory would: TID, MID, TMK and MAC method,
the merchant's name for its slips, the supervisor password (主管密码) as a hash, STAN
counter, batch, working keys and a journal of the open batch (masked card numbers
only) and its virtual chip cards' transaction counters. Before each transaction it
reverses the last one if that got no valid answer; when the host says the keys are
stale it signs on again and retries once.

A card inserted or tapped is read from its chip (``terminal/chip.py``): the sale,
pre-auth, completion or balance inquiry carries 23 and 55 with a fresh ARQC, and the
answer's ARPC (tag 91) is checked; an approval the card refuses is shown as failed
(``06``) and reversed at once with reason ``06``.

Voids, refunds, pre-auth voids and completion voids need the supervisor password,
checked here, on the terminal, before anything is sent: a wrong one sends nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.files import write_private
from tillpoint.core.geo import Position
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.demo import (
    DEMO_POSITION,
    DEMO_SUPERVISOR_PASSWORD,
    DEMO_TMK,
    demo_merchant_name,
    demo_mid,
    demo_position,
    demo_serial,
    demo_tid,
)
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583 import framing
from tillpoint.iso8583.codec import Message
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.mac import MacMethod
from tillpoint.iso8583.signature import TXN_TYPE as TXN_SIGNATURE
from tillpoint.networks.bins import classify
from tillpoint.receipts.slip import (
    WALLET_ORGS,
    BatchHeading,
    Line,
    Receipt,
    Tally,
    render_detail,
    render_summary,
    tally,
)
from tillpoint.security import tdes
from tillpoint.security.keystore import mask_pan
from tillpoint.terminal import chip, signature
from tillpoint.terminal.client import TerminalClient, TerminalError, WorkingKeys

ACTION_LABELS = {
    "sign_on": N_("Sign-on"),
    "sign_in": N_("Operator sign-in"),
    "sign_off": N_("Sign-off"),
    "echo": N_("Echo test"),
    "sale": N_("Sale"),
    "void": N_("Void"),
    "refund": N_("Refund"),
    "balance": N_("Balance inquiry"),
    "preauth": N_("Pre-authorisation"),
    "preauth_void": N_("Pre-authorisation void"),
    "completion": N_("Pre-auth completion"),
    "completion_void": N_("Completion void"),
    "settle": N_("Settlement"),
    "signature": N_("E-signature upload"),
}


def action_label(action: str) -> str:
    """A transaction's name in the current language."""
    return _(ACTION_LABELS[action])


ENTRY_MODES = {"swipe": "02", "insert": "05", "tap": "07", "manual": "01", "scan": "03"}
CHIP_ENTRIES = ("insert", "tap")  # read from the chip: 23 and 55 with an ARQC
CHIP_MODES = frozenset(ENTRY_MODES[e] for e in CHIP_ENTRIES)
CHIP_REFUSED = "06"  # the card refused the issuer's approval (its ARPC): reversed
MAX_JOURNAL = 999
SUPERVISOR_PASSWORD_DIGITS = 6
SUPERVISOR_TRIES = 5  # wrong supervisor passwords in a row before the lock
SUPERVISOR_LOCK_S = 600.0  # how long the lock lasts
# Argon2id at OWASP's smallest recommended cost (19 MiB, two passes): a check takes some
# 30 ms, which a scripted void can afford (docs/terminals.md); a copied state file still
# makes each guess of the six digits cost as much.
_ARGON2_TIME_COST, _ARGON2_MEMORY_KIB = 2, 19 * 1024
# kind: (MTI, processing code, 25, 60.1) of spec 4.4 and 4.7a
_CHARGES = {
    "sale": ("0200", "000000", "00", "22"),
    "preauth": ("0100", "030000", "06", "10"),
    "completion": ("0200", "000000", "06", "20"),
}
_DEBITS = ("sale", "completion")
_COUNTED = (*_DEBITS, "refund")
# kind: (MTI, kind it voids, 25, 60.1) of spec 4.5 and 4.7a
_VOIDS = {
    "void": ("0200", "sale", "00", "23"),
    "preauth_void": ("0100", "preauth", "06", "11"),
    "completion_void": ("0200", "completion", "06", "21"),
}


@dataclass
class JournalEntry:
    kind: str  # sale, void, refund
    stan: str
    rrn: str
    amount_minor: int
    pan_masked: str
    domestic: bool
    auth_code: str = ""
    voided: bool = False
    host_time: str = ""  # MMDDhhmmss
    # What the slip needs besides (entries saved before these existed load without them)
    card_org: str = ""  # field 63
    issuer: str = ""  # field 44.1
    entry: str = ""  # swipe, insert, tap, manual or scan
    operator: str = ""
    original_stan: str = ""  # a void: the voucher it voids
    original_rrn: str = ""  # a void or refund: the reference of what it undoes
    year: int = 0  # the terminal's clock when it was made (the host sends no year)
    signed: bool = False  # the cardholder's signature was uploaded and kept (4.11)


def _supervisor_hasher() -> Any:
    from argon2 import PasswordHasher  # only the guarded functions pay for loading it

    return PasswordHasher(
        time_cost=_ARGON2_TIME_COST, memory_cost=_ARGON2_MEMORY_KIB, parallelism=1
    )


def hash_supervisor_password(password: str) -> str:
    """The supervisor password as the state file keeps it: an Argon2id hash."""
    if not (password.isascii() and password.isdigit()) or len(password) != 6:
        raise InvalidInput(
            "terminal.supervisor_password_format",
            N_("The supervisor password is {digits} digits"),
            digits=SUPERVISOR_PASSWORD_DIGITS,
        )
    return str(_supervisor_hasher().hash(password))


def check_operator(operator: str) -> str:
    """``00`` (the supervisor) or a cashier ``001``-``999``."""
    if operator != "00" and not (
        len(operator) == 3 and operator.isascii() and operator.isdigit() and operator != "000"
    ):
        raise InvalidInput(
            "terminal.operator",
            N_("{operator!r} is not an operator number: 00 or 001-999"),
            operator=operator,
        )
    return operator


@dataclass
class DeviceState:
    tid: str
    mid: str
    tmk_hex: str = field(repr=False)  # keys and the supervisor's hash: never in a repr
    host: str = "127.0.0.1"
    port: int = 5800
    mac_method: str = MacMethod.ECB.value
    operator: str = "001"
    stan: int = 0
    batch: str = "000001"
    keys_hex: list[str] | None = field(default=None, repr=False)
    pending_reversal: dict[str, Any] | None = None
    journal: list[JournalEntry] = field(default_factory=list)
    last_receipt: dict[str, Any] | None = None
    merchant_name: str = ""  # as the slips print it
    supervisor_hash: str = field(default="", repr=False)  # Argon2id; empty: demo 123456
    supervisor_failures: int = 0  # wrong supervisor passwords in a row
    supervisor_locked_until: float = 0.0  # a Unix time; 0: not locked
    # Each virtual chip card's transaction counter (ATC), by chip.counter_name: only up.
    atc: dict[str, int] = field(default_factory=dict)
    # Where it says it is (field 59, spec 4.12): LAT/LON in degrees ("" reports no
    # position), and the serial number it reports ("" none). A countertop device.
    place: str = DEMO_POSITION.text()
    serial_no: str = ""

    @classmethod
    def demo(cls, n: int = 1) -> DeviceState:
        return cls(
            demo_tid(n),
            demo_mid(n),
            DEMO_TMK.hex().upper(),
            merchant_name=demo_merchant_name(n),
            place=demo_position(n).text(),
            serial_no=demo_serial(n),
        )

    @classmethod
    def load(cls, path: Path) -> DeviceState:
        if not path.exists():
            return cls.demo()
        try:
            data = json.loads(path.read_text())
            data["journal"] = [JournalEntry(**e) for e in data.get("journal", [])]
            state = cls(**data)
            texts = (state.supervisor_hash, state.place, state.serial_no)
            if not all(isinstance(text, str) for text in texts):
                raise TypeError("supervisor_hash, place, serial_no")
            if not isinstance(state.atc, dict) or not all(
                isinstance(n, int) for n in state.atc.values()
            ):
                raise TypeError("atc")
            return state
        except (OSError, ValueError, TypeError, KeyError):
            raise InvalidInput(
                "terminal.state_unreadable",
                N_(
                    "The terminal state file {path} is unreadable: "
                    "run 'tillpoint terminal setup' again"
                ),
                path=str(path),
            ) from None

    def save(self, path: Path) -> None:
        # It holds keys, as a terminal's secure memory would.
        write_private(path, json.dumps(asdict(self), indent=2))


@dataclass(frozen=True)
class CheckoutOffer:
    """A checkout the till handed to this terminal (收银联动, 4.13): the amount to take
    and the reference the sale names in field 62."""

    amount: Money
    reference: str


@dataclass(frozen=True)
class Result:
    """What the screen shows and the receipt prints."""

    action: str
    response_code: str
    approved: bool
    amount_minor: int | None = None
    rrn: str | None = None
    auth_code: str | None = None
    card: str | None = None
    card_org: str | None = None
    balance_minor: int | None = None
    batch: str | None = None
    settlement: dict[str, str] | None = None
    stan: str | None = None
    host_time: str | None = None  # MMDDhhmmss, from the answer's 13 and 12


def terminal_place(place: str, serial_no: str = "") -> f.Place | None:
    """What the terminal reports in field 59: a countertop device, its serial number
    and ``place`` (``LAT/LON`` in degrees, e.g. ``31.2304/121.4737``); None when it has
    neither. A malformed place or serial number is ``InvalidInput``."""
    try:
        position = Position.parse(place) if place else None
    except ValueError:
        raise InvalidInput(
            "terminal.place",
            N_("{place!r} is not a place: LATITUDE/LONGITUDE in degrees, e.g. 31.2304/121.4737"),
            place=place[:40],
        ) from None
    if position is None and not serial_no:
        return None
    built = f.Place(f.DEVICE_COUNTERTOP, serial_no or None, position)
    try:
        built.build()
    except FormatError:
        raise InvalidInput(
            "terminal.serial_no", N_("The serial number is 1-40 printable characters")
        ) from None
    return built


class Device:
    """The terminal. ``operator`` is who works it for scripted commands, each of which
    names its operator; without one (the screen) it is the operator last signed in.
    ``place`` (``LAT/LON``) stands for the state's place in what it reports, for this
    run only: a terminal moved elsewhere."""

    def __init__(
        self,
        state: DeviceState,
        path: Path | None = None,
        *,
        operator: str | None = None,
        clock: Callable[[], float] = time.time,
        place: str | None = None,
    ) -> None:
        self.state = state
        self.path = path
        self.clock = clock
        self._answered: dict[str, Any] | None = None  # the last reversible request sent
        keys = [bytes.fromhex(k) for k in state.keys_hex] if state.keys_hex else None
        self.client = TerminalClient(
            state.tid,
            state.mid,
            bytes.fromhex(state.tmk_hex),
            host=state.host,
            port=state.port,
            mac_method=MacMethod(state.mac_method),
            operator=state.operator if operator is None else check_operator(operator),
            stan=state.stan,
            batch=state.batch,
            keys=WorkingKeys(*keys) if keys else None,
            place=terminal_place(state.place if place is None else place, state.serial_no),
        )

    def _save(self) -> None:
        c = self.client
        self.state.stan, self.state.batch = c.stan, c.batch
        self.state.keys_hex = (
            [c.keys.pik.hex(), c.keys.mak.hex(), c.keys.tdk.hex()] if c.keys else None
        )
        if self.path is not None:
            self.state.save(self.path)

    async def close(self) -> None:
        await self.client.close()
        self._save()

    # --- the supervisor password (主管密码) -------------------------------------------

    def is_supervisor_password(self, password: str) -> bool:
        """Whether ``password`` is the supervisor password. After SUPERVISOR_TRIES wrong
        ones in a row the terminal takes none, right or wrong, for SUPERVISOR_LOCK_S (as
        a countertop POS locks its supervisor functions): refused, and nothing checked."""
        from argon2.exceptions import InvalidHashError, VerificationError

        st = self.state
        now = self.clock()
        if now < st.supervisor_locked_until:
            until = datetime.fromtimestamp(st.supervisor_locked_until, BUSINESS_TZ)
            raise Refused(
                "terminal.supervisor_locked",
                N_("Too many wrong supervisor passwords: locked until {time}"),
                time=until.strftime("%H:%M:%S"),
            )
        if not st.supervisor_hash:  # never set: the demo default, kept hashed
            st.supervisor_hash = hash_supervisor_password(DEMO_SUPERVISOR_PASSWORD)
        try:
            right = bool(_supervisor_hasher().verify(st.supervisor_hash, password))
        except (VerificationError, InvalidHashError):
            right = False
        st.supervisor_failures = 0 if right else st.supervisor_failures + 1
        if st.supervisor_failures >= SUPERVISOR_TRIES:
            st.supervisor_failures, st.supervisor_locked_until = 0, now + SUPERVISOR_LOCK_S
        self._save()
        return right

    def check_supervisor(self, password: str) -> None:
        """Refused unless ``password`` is the supervisor password; checked here, before
        anything goes to the host."""
        if not self.is_supervisor_password(password):
            raise Refused(
                "terminal.supervisor_password",
                N_("Wrong supervisor password: nothing was sent"),
            )

    def set_supervisor_password(self, current: str, new: str) -> None:
        """A new supervisor password, given the current one."""
        hashed = hash_supervisor_password(new)  # a malformed new one changes nothing
        if not self.is_supervisor_password(current):
            raise Refused(
                "terminal.supervisor_password",
                N_("Wrong supervisor password: nothing changed"),
            )
        self.state.supervisor_hash = hashed
        self._save()

    # --- keys -------------------------------------------------------------------------

    async def sign_on(self) -> Result:
        answer = await self.client.sign_on()
        self._save()
        return Result(
            "sign_on", answer.text(39) or "", answer.text(39) == "00", batch=self.client.batch
        )

    async def sign_in(self, operator: str, password: str) -> Result:
        """Operator sign-in: the host checks the password (``55`` wrong, ``75`` locked)
        and hands out fresh keys for the new operator."""
        if self.client.keys is None:
            await self.sign_on()
        previous, self.client.operator = self.client.operator, operator
        answer = await self.client.sign_on(password)
        if answer.text(39) == "A0":  # the host forgot our keys: sign on, then try again
            await self.sign_on()
            answer = await self.client.sign_on(password)
        code = answer.text(39) or ""
        if code == "00":
            self.state.operator = operator
        else:
            self.client.operator = previous
        self._save()
        return Result("sign_in", code, code == "00", batch=self.client.batch)

    async def echo(self) -> Result:
        answer = await self.client.echo()
        return Result("echo", answer.text(39) or "", answer.text(39) == "00")

    async def sign_off(self) -> Result:
        answer = await self.client.sign_off()
        self._save()
        return Result("sign_off", answer.text(39) or "", answer.text(39) == "00")

    async def _ready(self) -> None:
        if self.client.keys is None:
            result = await self.sign_on()
            if not result.approved:
                raise TerminalError(N_("Sign-on refused ({code})"), code=result.response_code)
        if self.state.pending_reversal is not None:
            await self._send_reversal()

    async def _send_reversal(self) -> None:
        pending = self.state.pending_reversal
        assert pending is not None
        fields = {
            int(k): (bytes.fromhex(v[2:]) if v.startswith("b:") else v) for k, v in pending.items()
        }
        fields.setdefault(39, "98")  # no answer; 06 when the card refused the answer
        answer = await self.client.exchange(Message("0400", fields), with_mac=True)
        if answer.text(39) == "00":
            self.state.pending_reversal = None
            self._save()

    async def _financial(self, message: Message, *, reversible: bool) -> Message:
        """Send with a MAC; remember it for reversal until a valid answer arrives; sign
        on again and retry once when the host says the keys are stale."""
        await self._ready()
        if reversible:
            self.state.pending_reversal = _reversal_of(message)
            self._save()
        answer = await self.client.exchange(message, with_mac=True)
        if (
            answer.text(39) == "A0"
            and framing.requirement(self.client.last_header) == framing.MUST_SIGN_ON
        ):
            await self.sign_on()
            f60 = f.Field60.parse(message.text(60) or "")
            f60 = f.Field60(f60.txn_type, self.client.batch, f60.network_code)
            message = Message(message.mti, {**message.fields, 60: f60.build()})
            if reversible:
                self.state.pending_reversal = _reversal_of(message)
            answer = await self.client.exchange(message, with_mac=True)
        self._answered = _reversal_of(message) if reversible else None
        self.state.pending_reversal = None
        self._save()
        return answer

    async def _chip_refused(self, result: Result) -> Result:
        """The card refused the issuer's approval: its ARPC did not verify, or was not
        there. The approval is reversed with reason 06 at once, or before the next
        transaction if the host cannot be reached now; the transaction failed."""
        if self._answered is not None:
            self.state.pending_reversal = {**self._answered, "39": CHIP_REFUSED}
            self._save()
            try:
                await self._send_reversal()
            except (OSError, TerminalError, TimeoutError, FormatError):
                await self.client.close()  # a late answer must not meet the next request
        return replace(result, response_code=CHIP_REFUSED, approved=False, auth_code=None)

    def _read_chip(
        self, fields: dict[int, str | bytes], pan: str, kind: str, amount_minor: int
    ) -> chip.ChipRead | None:
        """Read an inserted or tapped card's chip: its ATC goes up (kept before anything
        is sent), and the request gets 23 and 55."""
        mode = fields.get(22)
        if not isinstance(mode, str) or mode[:2] not in CHIP_MODES:
            return None
        name = chip.counter_name(bytes.fromhex(self.state.tmk_hex), pan)
        atc = self.state.atc.get(name, 0) + 1
        read = chip.read(
            pan, atc, kind=kind, amount_minor=amount_minor, pin=52 in fields,
            ifd_serial=self.client.tid, today=datetime.now(BUSINESS_TZ).date(),
        )  # fmt: skip
        self.state.atc[name] = atc
        self._save()
        fields[23], fields[55] = chip.FIELD_23, read.icc
        return read

    # --- transactions -----------------------------------------------------------------

    def _card_fields(
        self, pan: str, entry: str, pin: str | None, expiry: str
    ) -> dict[int, str | bytes]:
        # A UnionPay QR code (62 + 17 digits) looks exactly like a 19-digit UnionPay card
        # number, so a scanned code is never guessed from its digits: entry "scan" says so.
        if entry == "scan":  # a customer's payment code (被扫)
            return {22: "032", 25: "00", 57: pan}
        mode = ENTRY_MODES[entry]
        fields: dict[int, str | bytes] = {22: mode + "1", 25: "00"}
        if mode == "01":
            fields[2], fields[14] = pan, expiry
        else:
            fields[35] = f"{pan}D{expiry}2010000"
        if pin is not None:
            keys = self.client.keys
            assert keys is not None
            fields[52] = tdes.encrypt_pin_block(keys.pik, pin, pan)
            fields[53], fields[26] = "2600000000000000", "12"
        return fields

    async def sale(
        self,
        amount: Money,
        pan: str,
        *,
        entry: str = "insert",
        pin: str | None = None,
        expiry: str = "3012",
        checkout: str | None = None,
    ) -> Result:
        """消费; ``checkout``: the reference of the checkout it pays (4.13, field 62)."""
        extra: dict[int, str | bytes] = {}
        if checkout is not None:
            extra[62] = checkout.encode("ascii")
        return await self._charge("sale", amount, pan, entry, pin, expiry, extra)

    async def poll_checkout(self) -> CheckoutOffer | None:
        """收银联动: ask the host whether a checkout waits for this terminal (0820, 60.3 =
        360, with a MAC both ways); None when none does (25)."""
        await self._ready()
        c = self.client
        fields: dict[int, str | bytes] = {
            11: c.next_stan(),
            41: c.tid,
            42: c.mid,
            60: f.Field60("00", c.batch, f.CHECKOUT_POLL).build(),
        }
        answer = await self._financial(Message("0820", fields), reversible=False)
        code = answer.text(39)
        if code == "25":
            return None
        amount, reference = answer.text(4), answer.binary(62)
        if code != "00" or amount is None or not reference:
            raise TerminalError(N_("The host refused the checkout poll ({code})"), code=code)
        try:
            return CheckoutOffer(Money(int(amount)), reference.decode("ascii"))
        except (ValueError, InvalidInput):
            raise TerminalError(N_("The host's checkout is malformed")) from None

    async def preauth(
        self,
        amount: Money,
        pan: str,
        *,
        entry: str = "insert",
        pin: str | None = None,
        expiry: str = "3012",
    ) -> Result:
        """预授权: hold funds on the card; nothing reaches the merchant yet."""
        return await self._charge("preauth", amount, pan, entry, pin, expiry)

    async def complete(
        self,
        auth_code: str,
        amount: Money,
        pan: str,
        *,
        entry: str = "insert",
        pin: str | None = None,
        expiry: str = "3012",
    ) -> Result:
        """预授权完成: capture a pre-auth (named by its authorization code and card) for at
        most 115% of the hold. It may come from an earlier batch, even another terminal
        of the merchant, so 61 names the hold when this terminal still has it."""
        hold = next(
            (e for e in self.state.journal if e.kind == "preauth" and e.auth_code == auth_code),
            None,
        )  # the hold may be from an earlier batch: then this terminal no longer knows it
        original = f"{self.client.batch}{hold.stan}{hold.host_time[:4]}" if hold else "0" * 12
        extra: dict[int, str | bytes] = {38: auth_code, 61: original}
        return await self._charge("completion", amount, pan, entry, pin, expiry, extra)

    async def _charge(
        self,
        kind: str,
        amount: Money,
        pan: str,
        entry: str,
        pin: str | None,
        expiry: str,
        extra: dict[int, str | bytes] | None = None,
    ) -> Result:
        mti, processing, condition, txn_type = _CHARGES[kind]
        await self._ready()
        c = self.client
        fields = self._card_fields(pan, entry, pin, expiry)
        fields.update(
            {
                3: processing,
                4: f"{amount.amount_minor:012d}",
                11: c.next_stan(),
                25: condition,
                41: c.tid,
                42: c.mid,
                49: "156",
                60: f"{txn_type}{c.batch}000",
                **(extra or {}),
            }
        )
        read = self._read_chip(fields, pan, kind, amount.amount_minor)
        answer = await self._financial(Message(mti, fields), reversible=True)
        if read is not None and answer.text(39) == "00" and not read.accepts(answer.binary(55)):
            return await self._chip_refused(self._result(kind, answer, amount, pan))
        return self._journal(kind, answer, amount, pan, entry)

    async def upload_signature(self, entry: JournalEntry, png: bytes) -> Result:
        """电子签名上送 (4.11): the cardholder's signature of an approved sale or
        completion, cut into packets (field 62), each sent in an 0820 with a new STAN,
        the sale's RRN and amount, and a MAC. A packet that gets no answer is sent once
        more as it was: the host answers a repeat as it answered the first. Stops at
        the first packet refused; the sale stands whatever happens here."""
        parts = signature.packets(png)  # a bad image is refused before anything is sent
        await self._ready()
        c = self.client
        code, stan = "", ""
        for part in parts:
            stan = c.next_stan()
            message = Message(
                "0820",
                {
                    4: f"{entry.amount_minor:012d}",
                    11: stan,
                    37: entry.rrn,
                    41: c.tid,
                    42: c.mid,
                    60: f.Field60(TXN_SIGNATURE, c.batch, f.SIGNATURE).build(),
                    62: part,
                },
            )
            try:
                answer = await self._financial(message, reversible=False)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                await c.close()  # once more, on a new connection
                answer = await self._financial(message, reversible=False)
            code = answer.text(39) or ""
            if code != "00":
                break
        if code == "00":
            entry.signed = True
            if self.state.last_receipt and self.state.last_receipt.get("rrn") == entry.rrn:
                self.state.last_receipt = self.receipt(entry).to_dict()
            self._save()
        return Result(
            "signature", code, code == "00", entry.amount_minor, entry.rrn, stan=stan or None
        )

    def last(self, kind: str) -> JournalEntry | None:
        """The latest transaction of a kind in the open batch."""
        return next((e for e in reversed(self.state.journal) if e.kind == kind), None)

    def find(self, stan: str, kind: str) -> JournalEntry | None:
        """A transaction of the open batch by its voucher number (STAN)."""
        return next(
            (e for e in self.state.journal if e.stan == stan and e.kind == kind and not e.voided),
            None,
        )

    async def void(
        self,
        rrn: str,
        pan: str,
        *,
        supervisor_password: str,
        entry: str = "insert",
        expiry: str = "3012",
    ) -> Result:
        """消费撤销 of a sale of the open batch, by its RRN."""
        return await self._void("void", rrn, pan, supervisor_password, entry, expiry)

    async def preauth_void(
        self,
        rrn: str,
        pan: str,
        *,
        supervisor_password: str,
        entry: str = "insert",
        expiry: str = "3012",
    ) -> Result:
        """预授权撤销: release a hold of the open batch."""
        return await self._void("preauth_void", rrn, pan, supervisor_password, entry, expiry)

    async def completion_void(
        self,
        rrn: str,
        pan: str,
        *,
        supervisor_password: str,
        entry: str = "insert",
        expiry: str = "3012",
    ) -> Result:
        """预授权完成撤销: undo a completion of the open batch; the hold stands again."""
        return await self._void("completion_void", rrn, pan, supervisor_password, entry, expiry)

    async def _void(
        self, kind: str, rrn: str, pan: str, supervisor_password: str, entry: str, expiry: str
    ) -> Result:
        self.check_supervisor(supervisor_password)
        mti, of_kind, condition, txn_type = _VOIDS[kind]
        original = next((e for e in self.state.journal if e.rrn == rrn and e.kind == of_kind), None)
        if original is None:
            return Result(kind, "25", False, rrn=rrn)
        await self._ready()
        c = self.client
        fields = self._card_fields(pan, entry, None, expiry)
        fields.update(
            {
                3: "200000",
                4: f"{original.amount_minor:012d}",
                11: c.next_stan(),
                25: condition,
                37: rrn,
                41: c.tid,
                42: c.mid,
                49: "156",
                60: f"{txn_type}{c.batch}000",
                61: f"{c.batch}{original.stan}",
            }
        )
        if original.auth_code:
            fields[38] = original.auth_code
        answer = await self._financial(Message(mti, fields), reversible=True)
        result = self._journal(
            kind, answer, Money(original.amount_minor), pan, entry, original=original
        )
        if result.approved:
            original.voided = True
            self._save()
        return result

    async def refund(
        self,
        rrn: str,
        amount: Money,
        pan: str,
        *,
        supervisor_password: str,
        entry: str = "insert",
        expiry: str = "3012",
    ) -> Result:
        """退货 of part or all of a sale, of any batch, by its RRN."""
        self.check_supervisor(supervisor_password)
        await self._ready()
        c = self.client
        fields = self._card_fields(pan, entry, None, expiry)
        fields.update(
            {
                3: "200000",
                4: f"{amount.amount_minor:012d}",
                11: c.next_stan(),
                37: rrn,
                41: c.tid,
                42: c.mid,
                49: "156",
                60: f"25{c.batch}000",
                61: "0000000000000000",
            }
        )
        answer = await self._financial(Message("0220", fields), reversible=False)
        sale = next((e for e in self.state.journal if e.rrn == rrn and e.kind in _DEBITS), None)
        return self._journal("refund", answer, amount, pan, entry, original=sale, original_rrn=rrn)

    async def balance(
        self, pan: str, pin: str, *, entry: str = "insert", expiry: str = "3012"
    ) -> Result:
        await self._ready()
        c = self.client
        fields = self._card_fields(pan, entry, pin, expiry)
        fields.update(
            {3: "310000", 11: c.next_stan(), 41: c.tid, 42: c.mid, 49: "156", 60: f"01{c.batch}000"}
        )
        read = self._read_chip(fields, pan, "balance", 0)
        answer = await self._financial(Message("0200", fields), reversible=False)
        if read is not None and answer.text(39) == "00" and not read.accepts(answer.binary(55)):
            # The card does not trust the answer: no balance is shown. Nothing moved,
            # so there is nothing to reverse.
            return Result("balance", CHIP_REFUSED, False, card=mask_pan(pan),
                          card_org=answer.text(63))  # fmt: skip
        balance = f.Balance.parse(answer.text(54) or "").amount_minor if answer.text(54) else None
        return Result(
            "balance",
            answer.text(39) or "",
            answer.text(39) == "00",
            card=mask_pan(pan),
            card_org=answer.text(63),
            balance_minor=balance,
        )

    def totals(self) -> f.SettlementTotals:
        """The terminal's own count of its open batch, as field 48 carries it."""
        sums = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
        for e in self.state.journal:
            slot = sums[e.domestic]
            if e.kind in _DEBITS and not e.voided:
                slot[0] += e.amount_minor
                slot[1] += 1
            elif e.kind == "refund":
                slot[2] += e.amount_minor
                slot[3] += 1

        def half(v: list[int]) -> f.Totals:
            return f.Totals(
                debit_minor=v[0], debit_count=v[1], credit_minor=v[2], credit_count=v[3]
            )

        return f.SettlementTotals(half(sums[True]), half(sums[False]))

    async def settle(self) -> Result:
        """批结算: send the totals; whatever the flags, the next batch starts."""
        await self._ready()
        c = self.client
        totals = self.totals()
        message = Message(
            "0500",
            {
                11: c.next_stan(),
                41: c.tid,
                42: c.mid,
                48: totals.build(),
                49: "156",
                60: f"00{c.batch}201",
                63: c.operator,
            },
        )
        answer = await self._financial(message, reversible=False)
        result = Result("settle", answer.text(39) or "", answer.text(39) == "00", batch=c.batch)
        if result.approved:
            flags = f.SettlementTotals.parse(answer.text(48) or "")
            if f.FLAG_NOT_BALANCED in (flags.domestic.flag, flags.foreign.flag):
                await self._upload()
            result = Result(
                "settle",
                "00",
                True,
                batch=c.batch,
                settlement={"domestic": flags.domestic.flag, "foreign": flags.foreign.flag},
            )
            c.batch = f"{int(c.batch) % 999_999 + 1:06d}"
            self.state.journal = []
            self._save()
        return result

    async def _upload(self) -> None:
        """批上送: the host's totals differ, so send each transaction of the batch as
        this terminal recorded it, then the count. The journal keeps masked card numbers
        only, so field 2 is left out; the host matches by RRN."""
        c = self.client
        lines = [e for e in self.state.journal if e.kind in _COUNTED and not e.voided]
        for e in lines:
            fields: dict[int, str | bytes] = {
                3: "200000" if e.kind == "refund" else "000000",
                4: f"{e.amount_minor:012d}",
                11: e.stan,
                37: e.rrn,
                41: c.tid,
                42: c.mid,
                49: "156",
                60: f"00{c.batch}{f.SETTLE}",
            }
            if e.auth_code:
                fields[38] = e.auth_code
            await self._financial(Message("0320", fields), reversible=False)
        end: dict[int, str | bytes] = {
            11: c.next_stan(),
            41: c.tid,
            42: c.mid,
            48: f"{len(lines):04d}",
            49: "156",
            60: f"00{c.batch}{f.UPLOAD_END}",
        }
        await self._financial(Message("0320", end), reversible=False)

    def _journal(
        self,
        kind: str,
        answer: Message,
        amount: Money,
        pan: str,
        entry: str,
        *,
        original: JournalEntry | None = None,
        original_rrn: str = "",
    ) -> Result:
        """Record an approved transaction in the journal and as the last slip. A void
        names the voucher and reference it undoes, a refund the reference; where the
        answer does not say the card's organisation or issuer, the original does."""
        result = self._result(kind, answer, amount, pan)
        when = result.host_time or ""
        if result.approved and result.rrn:
            info = classify(pan) if entry != "scan" else None
            self.state.journal.append(
                JournalEntry(
                    kind,
                    answer.text(11) or "",
                    result.rrn,
                    amount.amount_minor,
                    mask_pan(pan),
                    info.domestic if info else True,
                    result.auth_code or "",
                    host_time=when,
                    card_org=result.card_org or (original.card_org if original else ""),
                    issuer=_issuer(answer) or (original.issuer if original else ""),
                    entry=entry,
                    operator=self.client.operator,
                    original_stan=original.stan if original and kind in _VOIDS else "",
                    original_rrn=original_rrn or (original.rrn if original else ""),
                    year=datetime.now(BUSINESS_TZ).year,
                )
            )
            self.state.journal = self.state.journal[-MAX_JOURNAL:]
            self.state.last_receipt = self.receipt(self.state.journal[-1]).to_dict()
            self._save()
        return result

    def _result(self, kind: str, answer: Message, amount: Money, pan: str) -> Result:
        code = answer.text(39) or ""
        when = (answer.text(13) or "") + (answer.text(12) or "")
        return Result(
            kind,
            code,
            code == "00",
            amount.amount_minor,
            answer.text(37),
            answer.text(38),
            mask_pan(pan),
            answer.text(63),
            batch=self.client.batch,
            stan=answer.text(11),
            host_time=when or None,
        )

    # --- the open batch: query, slips, detail and summary --------------------------------

    def receipt(self, e: JournalEntry) -> Receipt:
        """The sales slip of a transaction of the open batch."""
        return Receipt(
            e.kind,
            self.client.tid,
            self.client.mid,
            e.operator or self.client.operator,
            e.pan_masked,
            e.card_org,
            self.client.batch,
            e.stan,
            e.rrn,
            e.auth_code,
            e.host_time,
            e.year or datetime.now(BUSINESS_TZ).year,
            e.amount_minor,
            scanned=e.entry == "scan" or e.card_org in WALLET_ORGS,
            merchant_name=self.state.merchant_name,
            issuer=e.issuer,
            entry=e.entry,
            original_stan=e.original_stan,
            original_rrn=e.original_rrn,
            signed=e.signed,
        )

    def last_receipt(self) -> Receipt | None:
        """What 重打印 prints: the slip of the last approved transaction (kept after
        settlement too)."""
        data = self.state.last_receipt
        return Receipt.from_dict(data) if data else None

    def query(self, *, voucher: str | None = None, rrn: str | None = None) -> JournalEntry:
        """交易查询: a transaction of the open batch by its voucher number (1-6 digits)
        or its RRN."""
        if (voucher is None) == (rrn is None):
            raise InvalidInput(
                "terminal.query", N_("Name a transaction by its voucher number or its RRN")
            )
        if voucher is not None:
            stan = _voucher(voucher)
            found = [e for e in self.state.journal if e.stan == stan]
            what = stan
        else:
            assert rrn is not None
            found = [e for e in self.state.journal if e.rrn == rrn.strip()]
            what = rrn
        if not found:
            raise NotFound(
                "terminal.not_in_batch",
                N_("No transaction {what} in the open batch {batch}"),
                what=what,
                batch=self.client.batch,
            )
        return found[-1]

    def receipt_of(self, voucher: str | None = None) -> Receipt:
        """The slip to reprint: a voucher of the open batch, or without one the last."""
        if voucher is not None:
            return self.receipt(self.query(voucher=voucher))
        last = self.last_receipt()
        if last is None:
            raise Refused("terminal.no_receipt", N_("There is no transaction to reprint"))
        return last

    def heading(self) -> BatchHeading:
        now = datetime.now(BUSINESS_TZ).strftime("%Y/%m/%d %H:%M:%S")
        c = self.client
        return BatchHeading(
            merchant_name=self.state.merchant_name,
            mid=c.mid,
            tid=c.tid,
            operator=c.operator,
            batch=c.batch,
            printed_at=now,
        )

    def tallies(self) -> list[Tally]:
        """Counts and totals of the open batch per card organisation and type."""
        return tally(self.receipt(e) for e in self.state.journal)

    def detail_slip(self) -> list[str]:
        """交易明细: the open batch, transaction by transaction."""
        lines = [Line(self.receipt(e), e.voided) for e in self.state.journal]
        return render_detail(self.heading(), lines)

    def summary_slip(self) -> list[str]:
        """交易汇总: the open batch per card organisation and type, and its totals."""
        return render_summary(self.heading(), self.tallies(), self.totals())


#: Never in a reversal, nor in the state file that keeps it: track data, the PIN block and
#: its control (spec 4.7), the MAC, and a keyed-in card's number and expiry (the terminal
#: keeps no card numbers; the host finds what a reversal undoes by batch and STAN).
_NOT_KEPT = frozenset({2, 14, 35, 36, 52, 53, 64})


def _reversal_of(message: Message) -> dict[str, Any]:
    """The fields a reversal of ``message`` carries, as the state file keeps them."""
    return {
        str(n): ("b:" + v.hex() if isinstance(v, bytes) else v)
        for n, v in message.fields.items()
        if n not in _NOT_KEPT
    }


def _voucher(text: str) -> str:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 6):
        raise InvalidInput(
            "terminal.voucher", N_("{text!r} is not a voucher number (1-6 digits)"), text=text
        )
    return f"{int(value):06d}"


def _issuer(answer: Message) -> str:
    """The issuer's institution code from field 44, if the answer has a well-formed one."""
    value = answer.text(44)
    if not value:
        return ""
    try:
        return f.AdditionalResponse.parse(value).issuer_id
    except FormatError:
        return ""
