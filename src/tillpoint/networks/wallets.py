"""QR wallets (Alipay, WeChat Pay, UnionPay QR) behind one connector interface, and a
simulator. Customer-presented codes (被扫) arrive from terminals in field 57.

A code's prefix names its wallet: 25-30 + 16 digits Alipay, 10-15 + 16 digits WeChat
Pay, 62 + 17 digits UnionPay QR (section 4.9 of the terminal profile).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import dataclass, field
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


class WalletNetwork(Protocol):
    async def pay(self, request: WalletRequest) -> NetworkAnswer: ...

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


class WalletSimulator:
    def __init__(self, journal: ClearingJournal | None = None) -> None:
        self._journal = journal
        self._payments: dict[str, _Paid] = {}
        self._codes = itertools.count(200001)

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
