"""QR wallets (Alipay, WeChat Pay, UnionPay QR) behind one connector interface, and a
simulator. Customer-presented codes (被扫) arrive from terminals in field 57 or over the
API; merchant-presented codes (主扫) are orders the wallet opens (``precreate``) and the
customer pays or refuses in the wallet app, which tells the acquirer (``listen``).

A code's prefix names its wallet: 25-30 + 16 digits Alipay, 10-15 + 16 digits WeChat
Pay, 62 + 17 digits UnionPay QR (section 4.9 of the terminal profile).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

from tillpoint.core.files import create_private
from tillpoint.core.money import Money
from tillpoint.networks.clearing import Acceptor, ClearingJournal
from tillpoint.networks.connector import NetworkAnswer
from tillpoint.networks.held import EarlyReversals, add_text_columns


class WalletOrg(StrEnum):
    """Wallets as field 63 names them."""

    ALIPAY = "ALP"
    WECHAT = "WXP"
    UNIONPAY_QR = "UPQ"


_PREFIXES = (
    (re.compile(r"(2[5-9]|30)[0-9]{16}"), WalletOrg.ALIPAY),
    (re.compile(r"1[0-5][0-9]{16}"), WalletOrg.WECHAT),
    (re.compile(r"62[0-9]{17}"), WalletOrg.UNIONPAY_QR),
)
WALLET_ISSUERS = {
    WalletOrg.ALIPAY: "25000000   ",
    WalletOrg.WECHAT: "10000000   ",
    WalletOrg.UNIONPAY_QR: "62000000   ",
}
#: The class a wallet's payments are priced in (the acquirer's fee plans price each
#: wallet on its own): what the clearing file says of each.
FEE_CLASSES = {
    WalletOrg.ALIPAY: "alipay",
    WalletOrg.WECHAT: "wechat",
    WalletOrg.UNIONPAY_QR: "unionpay_qr",
}


def wallet_for(code: str) -> WalletOrg | None:
    """Which wallet a scanned code belongs to, or None for anything else."""
    for pattern, org in _PREFIXES:
        if pattern.fullmatch(code):
            return org
    return None


@dataclass(frozen=True)
class WalletRequest:
    """A customer-presented code to charge, for the merchant (MID, MCC) the acquirer
    registered: the wallet clears the payment under them."""

    network_ref: str
    code: str = field(repr=False)
    amount: Money
    mid: str
    mcc: str = ""


Notify = Callable[[str, "WalletOrg", NetworkAnswer], Awaitable[None]]


class WalletNetwork(Protocol):
    async def pay(self, request: WalletRequest) -> NetworkAnswer: ...

    async def precreate(
        self,
        network_ref: str,
        amount: Money,
        merchant_name: str,
        expires_at: datetime,
        mid: str = "",
        mcc: str = "",
    ) -> str:
        """Open a merchant-presented order for the merchant (MID, MCC) the acquirer
        registered; returns the QR code's content."""
        ...

    async def close(self, network_ref: str) -> NetworkAnswer:
        """Close an unpaid order: 00 closed; 94 already answered (the answer was or will
        be notified); 25 unknown."""
        ...

    def listen(self, notify: Notify) -> None:
        """Be told (reference, wallet, answer) when a customer pays or refuses an order."""
        ...

    async def reverse(self, network_ref: str) -> NetworkAnswer: ...

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer: ...

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer: ...


@runtime_checkable
class WalletApp(Protocol):
    """The customer's side of a simulated wallet: what its phone app does with a
    merchant-presented order (the simulator's customer page). Only simulators have it,
    in this process or across the network link."""

    async def find_order(self, token: str, now: datetime) -> QrOrder | None: ...

    async def answer_order(
        self, token: str, org: WalletOrg, approve: bool, now: datetime
    ) -> QrOrder | None: ...


# Section 6: these approve, this one has too little money; other well-formed codes approve.
DECLINED_CODES = {"280000000000000002": "51"}


@dataclass
class _Paid:
    org: WalletOrg
    amount: Money
    answer: NetworkAnswer
    reversed: bool = False
    cancels: str | None = None  # a void (amount zero): the payment it undid; a refund: its payment
    refunded: Money = field(default_factory=Money.zero)
    mid: str = ""  # whom it is cleared for (a void or refund: as its payment)
    mcc: str = ""

    @property
    def acceptor(self) -> Acceptor:
        return Acceptor(self.mid, self.mcc, FEE_CLASSES[self.org])


class OrderState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    REFUSED = "refused"
    CLOSED = "closed"


@dataclass
class QrOrder:
    """A merchant-presented order, as the customer's wallet app sees it."""

    token: str
    network_ref: str
    amount: Money
    merchant_name: str
    expires_at: datetime
    state: OrderState = OrderState.OPEN
    org: WalletOrg | None = None
    mid: str = ""  # the merchant it is for, as the acquirer registered it
    mcc: str = ""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    ref TEXT PRIMARY KEY, org TEXT NOT NULL, amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL, response_code TEXT NOT NULL, auth_code TEXT,
    reversed INTEGER NOT NULL, cancels TEXT, refunded_minor INTEGER NOT NULL,
    mid TEXT NOT NULL DEFAULT '', mcc TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS orders (
    token TEXT PRIMARY KEY, ref TEXT NOT NULL UNIQUE, amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL, merchant_name TEXT NOT NULL, expires_at TEXT NOT NULL,
    state TEXT NOT NULL, org TEXT, mid TEXT NOT NULL DEFAULT '', mcc TEXT NOT NULL DEFAULT ''
);
"""


class _WalletBook:
    """The wallets' own records (payments by network reference, QR orders), kept apart
    from the acquirer's as a real wallet's are: in ``wallets.sqlite3`` in the networks'
    directory, so that a payment can be refunded after a restart, or in memory. The
    event loop is the only caller; the lock guards the connection all the same."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            create_private(path)
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA busy_timeout=10000")  # another process may be writing
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            for table in ("payments", "orders"):  # books written before they named merchants
                add_text_columns(self._db, table, ("mid", "mcc"))
        self.early = EarlyReversals(self._db, self._lock)

    def paid(self, ref: str) -> _Paid | None:
        with self._lock:
            row = self._db.execute(
                "SELECT org, amount_minor, currency, response_code, auth_code, reversed, cancels,"
                " refunded_minor, mid, mcc FROM payments WHERE ref = ?",
                (ref,),
            ).fetchone()
        if row is None:
            return None
        org, amount, currency, rc, auth, reversed_, cancels, refunded, mid, mcc = row
        wallet = WalletOrg(org)
        answer = NetworkAnswer(rc, None, WALLET_ISSUERS[wallet], auth_code=auth)
        return _Paid(wallet, Money(amount, currency), answer, bool(reversed_), cancels,
                     Money(refunded, currency), mid, mcc)  # fmt: skip

    def keep(self, ref: str, p: _Paid) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO payments (ref, org, amount_minor, currency,"
                " response_code, auth_code, reversed, cancels, refunded_minor, mid, mcc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ref, p.org.value, p.amount.amount_minor, p.amount.currency,
                 p.answer.response_code, p.answer.auth_code, int(p.reversed), p.cancels,
                 p.refunded.amount_minor, p.mid, p.mcc),
            )  # fmt: skip

    def payments(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM payments").fetchone()[0])

    def order(self, *, token: str | None = None, ref: str | None = None) -> QrOrder | None:
        with self._lock:
            row = self._db.execute(
                "SELECT token, ref, amount_minor, currency, merchant_name, expires_at, state, org,"
                " mid, mcc FROM orders WHERE token = ? OR ref = ?",
                (token, ref),
            ).fetchone()
        if row is None:
            return None
        token_, ref_, amount, currency, name, expires_at, state, org, mid, mcc = row
        return QrOrder(token_, ref_, Money(amount, currency), name,
                       datetime.fromisoformat(expires_at), OrderState(state),
                       None if org is None else WalletOrg(org), mid, mcc)  # fmt: skip

    def keep_order(self, o: QrOrder) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO orders (token, ref, amount_minor, currency,"
                " merchant_name, expires_at, state, org, mid, mcc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (o.token, o.network_ref, o.amount.amount_minor, o.amount.currency,
                 o.merchant_name, o.expires_at.isoformat(), o.state.value,
                 None if o.org is None else o.org.value, o.mid, o.mcc),
            )  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._db.close()


class WalletSimulator:
    def __init__(
        self,
        journal: ClearingJournal | None = None,
        *,
        qr_base_url: str = "/simulator/qr/",
        path: Path | None = None,
    ) -> None:
        """``path``: where the wallets keep their records (none: in memory only)."""
        self._journal = journal
        self._book = _WalletBook(path)
        self._codes = itertools.count(200001 + self._book.payments())
        self.qr_base_url = qr_base_url
        self._listeners: list[Notify] = []

    def close_books(self) -> None:
        self._book.close()

    # --- merchant-presented orders (主扫) ------------------------------------------------

    async def precreate(
        self,
        network_ref: str,
        amount: Money,
        merchant_name: str,
        expires_at: datetime,
        mid: str = "",
        mcc: str = "",
    ) -> str:
        order = self._book.order(ref=network_ref)
        if order is None:
            order = QrOrder(secrets.token_urlsafe(16), network_ref, amount, merchant_name,
                            expires_at, mid=mid, mcc=mcc)  # fmt: skip
            if network_ref in self._book.early:
                order.state = OrderState.CLOSED  # reversed before it was opened
            self._book.keep_order(order)
        return self.qr_base_url + order.token

    def order(self, token: str, now: datetime) -> QrOrder | None:
        """The order a scanned code opens (the simulator's customer page); an open
        order past its time is closed first."""
        order = self._book.order(token=token)
        if order is not None and order.state is OrderState.OPEN and now >= order.expires_at:
            order.state = OrderState.CLOSED
            self._book.keep_order(order)
        return order

    async def find_order(self, token: str, now: datetime) -> QrOrder | None:
        return self.order(token, now)

    def listen(self, notify: Notify) -> None:
        self._listeners.append(notify)

    async def answer_order(
        self, token: str, org: WalletOrg, approve: bool, now: datetime
    ) -> QrOrder | None:
        """The customer pays (``approve``) or refuses in the wallet app. An order that
        is no longer open, or past its time, changes nothing."""
        order = self.order(token, now)
        if order is None or order.state is not OrderState.OPEN:
            return order
        order.org = org
        if approve:
            order.state = OrderState.PAID
            answer = NetworkAnswer(
                "00", None, WALLET_ISSUERS[org], auth_code=f"{next(self._codes) % 10**6:06d}"
            )
            paid = _Paid(org, order.amount, answer, mid=order.mid, mcc=order.mcc)
            self._book.keep(order.network_ref, paid)
            self._clear(paid, order.network_ref, order.amount)
        else:
            order.state = OrderState.REFUSED
            answer = NetworkAnswer("05", None, WALLET_ISSUERS[org])
        self._book.keep_order(order)
        for notify in self._listeners:
            await notify(order.network_ref, org, answer)
        return order

    async def close(self, network_ref: str) -> NetworkAnswer:
        await asyncio.sleep(0)
        order = self._book.order(ref=network_ref)
        if order is None:
            return NetworkAnswer("25", None)
        if order.state in (OrderState.OPEN, OrderState.CLOSED):
            order.state = OrderState.CLOSED
            self._book.keep_order(order)
            return NetworkAnswer("00", None)
        return NetworkAnswer("94", None)

    # --- customer-presented codes (被扫) and what follows any payment ---------------------

    async def pay(self, request: WalletRequest) -> NetworkAnswer:
        await asyncio.sleep(0)
        org = wallet_for(request.code)
        if org is None:
            return NetworkAnswer("14", None)
        known = self._book.paid(request.network_ref)
        if known is not None:
            return known.answer
        if request.network_ref in self._book.early:
            return NetworkAnswer("22", None, WALLET_ISSUERS[org])
        declined = DECLINED_CODES.get(request.code)
        if declined is not None:
            return NetworkAnswer(declined, None, WALLET_ISSUERS[org])
        answer = NetworkAnswer(
            "00", None, WALLET_ISSUERS[org], auth_code=f"{next(self._codes) % 10**6:06d}"
        )
        paid = _Paid(org, request.amount, answer, mid=request.mid, mcc=request.mcc)
        self._book.keep(request.network_ref, paid)
        self._clear(paid, request.network_ref, request.amount)
        return answer

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        """Undo a payment, void or refund; an open order is closed. Any number of times;
        an unknown reference is remembered, and a request arriving later under it is
        refused."""
        order = self._book.order(ref=network_ref)
        if order is not None and order.state is OrderState.OPEN:
            order.state = OrderState.CLOSED
            self._book.keep_order(order)
        paid = self._book.paid(network_ref)
        if paid is None and order is None:
            self._book.early.add(network_ref)
        if paid is not None and not paid.reversed:
            paid.reversed = True
            self._book.keep(network_ref, paid)
            original = None if paid.cancels is None else self._book.paid(paid.cancels)
            if original is not None and paid.amount.amount_minor:
                # reversing a refund: the money goes back to the merchant's side
                original.refunded -= paid.amount
                self._book.keep(paid.cancels or "", original)
                self._clear(paid, network_ref, paid.amount)
            elif paid.cancels is not None and original is not None:
                # reversing a void: the payment stands again
                original.reversed = False
                self._book.keep(paid.cancels, original)
                self._clear(original, paid.cancels, original.amount)
            else:
                self._clear(paid, network_ref, -paid.amount)
        return NetworkAnswer("00", None)

    def _clear(self, paid: _Paid, ref: str, amount: Money) -> None:
        """``amount`` of ``ref`` moves, cleared as ``paid`` (the wallet's record of it,
        or of the payment it undoes) names the merchant."""
        if self._journal is not None:
            self._journal.record(paid.org.value, ref, amount.amount_minor, amount.currency,
                                 paid.acceptor)  # fmt: skip

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        paid = self._book.paid(original_ref)
        if paid is None or paid.reversed:
            return NetworkAnswer("25" if paid is None else "22", None)
        known = self._book.paid(network_ref)
        if known is not None:
            return known.answer
        if network_ref in self._book.early:
            return NetworkAnswer("22", None, WALLET_ISSUERS[paid.org])
        paid.reversed = True
        self._book.keep(original_ref, paid)
        self._clear(paid, original_ref, -paid.amount)
        answer = NetworkAnswer("00", None, WALLET_ISSUERS[paid.org])
        void = _Paid(paid.org, Money.zero(), answer, cancels=original_ref, mid=paid.mid,
                     mcc=paid.mcc)  # fmt: skip
        self._book.keep(network_ref, void)
        return answer

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        paid = self._book.paid(original_ref)
        if paid is None or paid.reversed:
            return NetworkAnswer("25", None)
        known = self._book.paid(network_ref)
        if known is not None:
            return known.answer
        if network_ref in self._book.early:
            return NetworkAnswer("22", None, WALLET_ISSUERS[paid.org])
        if paid.refunded + amount > paid.amount:
            return NetworkAnswer("13", None)
        paid.refunded += amount
        self._book.keep(original_ref, paid)
        self._clear(paid, network_ref, -amount)
        answer = NetworkAnswer("00", None, WALLET_ISSUERS[paid.org])
        refund = _Paid(paid.org, amount, answer, cancels=original_ref, mid=paid.mid,
                       mcc=paid.mcc)  # fmt: skip
        self._book.keep(network_ref, refund)
        return answer
