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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tillpoint.core.money import Money
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.connector import NetworkAnswer


class WalletOrg(StrEnum):
    """Wallets as field 63 names them."""

    ALIPAY = "ALP"
    WECHAT = "WXP"
    UNIONPAY_QR = "UPQ"


_PREFIXES = (
    (re.compile(r"(2[5-9]|30)\d{16}"), WalletOrg.ALIPAY),
    (re.compile(r"1[0-5]\d{16}"), WalletOrg.WECHAT),
    (re.compile(r"62\d{17}"), WalletOrg.UNIONPAY_QR),
)
WALLET_ISSUERS = {
    WalletOrg.ALIPAY: "25000000   ",
    WalletOrg.WECHAT: "10000000   ",
    WalletOrg.UNIONPAY_QR: "62000000   ",
}


def wallet_for(code: str) -> WalletOrg | None:
    """Which wallet a scanned code belongs to, or None for anything else."""
    for pattern, org in _PREFIXES:
        if pattern.fullmatch(code):
            return org
    return None


@dataclass(frozen=True)
class WalletRequest:
    network_ref: str
    code: str = field(repr=False)
    amount: Money
    mid: str


Notify = Callable[[str, "WalletOrg", NetworkAnswer], Awaitable[None]]


class WalletNetwork(Protocol):
    async def pay(self, request: WalletRequest) -> NetworkAnswer: ...

    async def precreate(
        self, network_ref: str, amount: Money, merchant_name: str, expires_at: datetime
    ) -> str:
        """Open a merchant-presented order; returns the QR code's content."""
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


# Section 6: these approve, this one has too little money; other well-formed codes approve.
DECLINED_CODES = {"280000000000000002": "51"}


@dataclass
class _Paid:
    org: WalletOrg
    amount: Money
    answer: NetworkAnswer
    reversed: bool = False
    cancels: str | None = None
    refunded: Money = field(default_factory=Money.zero)


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


class WalletSimulator:
    def __init__(
        self, journal: ClearingJournal | None = None, *, qr_base_url: str = "/simulator/qr/"
    ) -> None:
        self._journal = journal
        self._payments: dict[str, _Paid] = {}
        self._codes = itertools.count(200001)
        self.qr_base_url = qr_base_url
        self._orders: dict[str, QrOrder] = {}  # by token
        self._order_refs: dict[str, str] = {}  # network reference -> token
        self._listeners: list[Notify] = []

    # --- merchant-presented orders (主扫) ------------------------------------------------

    async def precreate(
        self, network_ref: str, amount: Money, merchant_name: str, expires_at: datetime
    ) -> str:
        token = self._order_refs.get(network_ref)
        if token is None:
            token = secrets.token_urlsafe(16)
            self._orders[token] = QrOrder(token, network_ref, amount, merchant_name, expires_at)
            self._order_refs[network_ref] = token
        return self.qr_base_url + token

    def order(self, token: str, now: datetime) -> QrOrder | None:
        """The order a scanned code opens (the simulator's customer page); an open
        order past its time is closed first."""
        order = self._orders.get(token)
        if order is not None and order.state is OrderState.OPEN and now >= order.expires_at:
            order.state = OrderState.CLOSED
        return order

    def listen(self, notify: Notify) -> None:
        self._listeners.append(notify)

    async def answer_order(
        self, token: str, org: WalletOrg, approve: bool, now: datetime
    ) -> QrOrder | None:
        """The customer pays (``approve``) or refuses in the wallet app. An order that
        is no longer open, or past its time, changes nothing."""
        order = self._orders.get(token)
        if order is None:
            return None
        if order.state is not OrderState.OPEN:
            return order
        if now >= order.expires_at:
            order.state = OrderState.CLOSED
            return order
        order.org = org
        if approve:
            order.state = OrderState.PAID
            answer = NetworkAnswer(
                "00", None, WALLET_ISSUERS[org], auth_code=f"{next(self._codes) % 10**6:06d}"
            )
            self._payments[order.network_ref] = _Paid(org, order.amount, answer)
            self._clear(org, order.network_ref, order.amount)
        else:
            order.state = OrderState.REFUSED
            answer = NetworkAnswer("05", None, WALLET_ISSUERS[org])
        for notify in self._listeners:
            await notify(order.network_ref, org, answer)
        return order

    async def close(self, network_ref: str) -> NetworkAnswer:
        await asyncio.sleep(0)
        order = self._orders.get(self._order_refs.get(network_ref, ""))
        if order is None:
            return NetworkAnswer("25", None)
        if order.state in (OrderState.OPEN, OrderState.CLOSED):
            order.state = OrderState.CLOSED
            return NetworkAnswer("00", None)
        return NetworkAnswer("94", None)

    # --- customer-presented codes (被扫) and what follows any payment ---------------------

    async def pay(self, request: WalletRequest) -> NetworkAnswer:
        await asyncio.sleep(0)
        org = wallet_for(request.code)
        if org is None:
            return NetworkAnswer("14", None)
        if request.network_ref in self._payments:
            return self._payments[request.network_ref].answer
        declined = DECLINED_CODES.get(request.code)
        if declined is not None:
            return NetworkAnswer(declined, None, WALLET_ISSUERS[org])
        answer = NetworkAnswer(
            "00", None, WALLET_ISSUERS[org], auth_code=f"{next(self._codes) % 10**6:06d}"
        )
        self._payments[request.network_ref] = _Paid(org, request.amount, answer)
        self._clear(org, request.network_ref, request.amount)
        return answer

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        paid = self._payments.get(network_ref)
        if paid is not None and not paid.reversed:
            paid.reversed = True
            if paid.cancels is not None:  # reversing a void: the payment stands again
                original = self._payments[paid.cancels]
                original.reversed = False
                self._clear(original.org, paid.cancels, original.amount)
            else:
                self._clear(paid.org, network_ref, -paid.amount)
        return NetworkAnswer("00", None)

    def _clear(self, org: WalletOrg, ref: str, amount: Money) -> None:
        if self._journal is not None:
            self._journal.record(org.value, ref, amount.amount_minor, amount.currency)

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        paid = self._payments.get(original_ref)
        if paid is None or paid.reversed:
            return NetworkAnswer("25" if paid is None else "22", None)
        if network_ref in self._payments:
            return self._payments[network_ref].answer
        paid.reversed = True
        self._clear(paid.org, original_ref, -paid.amount)
        answer = NetworkAnswer("00", None, WALLET_ISSUERS[paid.org])
        self._payments[network_ref] = _Paid(paid.org, Money.zero(), answer, cancels=original_ref)
        return answer

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        paid = self._payments.get(original_ref)
        if paid is None or paid.reversed:
            return NetworkAnswer("25", None)
        if network_ref in self._payments:
            return self._payments[network_ref].answer
        if paid.refunded + amount > paid.amount:
            return NetworkAnswer("13", None)
        paid.refunded += amount
        self._clear(paid.org, network_ref, -amount)
        answer = NetworkAnswer("00", None, WALLET_ISSUERS[paid.org])
        self._payments[network_ref] = _Paid(paid.org, Money.zero(amount.currency), answer)
        return answer
