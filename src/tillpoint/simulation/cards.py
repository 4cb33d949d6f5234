"""The simulated customers' cards and wallet codes, and what a terminal reads of them.

Card numbers are made of the BINs the card network simulator's table knows
(networks/bins.py), with their Luhn check digit; the simulated issuers hold them
(``CardNetworkSimulator(cards=...)``), with a balance or credit limit each, a few lost,
refused or expired. A chip read is what the card computes for the terminal (spec 4.10):
field 55 with an ARQC under the card's key, derived from the demo issuer's master key
as every test card's is; a PIN is a format 0 block under the terminal's PIK. Numbers
live only in this process's memory: what is stored is the acquirer's token and masked
number, as for any payment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import ClassVar

from tillpoint.core.money import Money
from tillpoint.iso8583 import icc
from tillpoint.networks.simulator import (
    DEMO_IMK_AC,
    TEST_PIN,
    TestCard,
    extra_cards,
    section6_cards,
)
from tillpoint.security import emv

#: Domestic debit BINs (UnionPay: 621234 is the demo issuer's, the others its table's
#: ``62`` range), domestic credit, and foreign (Visa, Mastercard) credit.
DEBIT_BINS = ("621234", "622202", "621700", "622848", "621661", "623668")
CREDIT_BINS = ("625094",)
FOREIGN_BINS = ("476134", "522222")
WRONG_PIN = "654321"
PSN = "01"  # the PAN sequence number the simulated chip cards carry (field 23: 001)
MAX_ATC = 0xFFFF


class Funding(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"
    FOREIGN = "foreign"


def luhn_digit(body: str) -> str:
    """The check digit that makes ``body`` + it pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def accounts(bin_: str) -> int:
    """How many account numbers a BIN has: 19-digit numbers for UnionPay, 16 for the
    others (six of BIN and one check digit)."""
    return 10**12 if bin_.startswith("62") else 10**9


def card_number(bin_: str, account: int) -> str:
    body = bin_ + f"{account % accounts(bin_):0{len(str(accounts(bin_))) - 1}d}"
    return body + luhn_digit(body)


@dataclass(eq=False)
class SimCard:
    """A customer's card: its number (memory only), what the issuer holds of it, and
    what the customer usually spends (a regular's usual order)."""

    pan: str = field(repr=False)
    expiry: str  # YYMM
    funding: Funding
    available_minor: int
    lost: bool = False
    refused: bool = False
    usual_minor: int = 0

    @property
    def bin(self) -> str:
        return self.pan[:6]

    def issued(self) -> TestCard:
        return TestCard(
            self.pan, self.expiry, Money(self.available_minor), lost=self.lost,
            refused=self.refused,
        )  # fmt: skip


class CardMaker:
    """Card numbers, never the same twice in one run."""

    def __init__(self, start: date) -> None:
        # The test deck's numbers are the issuers' already.
        self.taken: set[str] = {c.pan for c in (*section6_cards(), *extra_cards())}
        self.start = start

    def valid_expiry(self, rng: random.Random) -> str:
        return f"{(self.start.year + rng.randint(1, 5)) % 100:02d}{rng.randint(1, 12):02d}"

    def expired(self, rng: random.Random) -> str:
        return f"{(self.start.year - 1) % 100:02d}{rng.randint(1, 12):02d}"

    def number(self, rng: random.Random, bin_: str) -> str:
        while True:
            pan = card_number(bin_, rng.randrange(accounts(bin_)))
            if pan not in self.taken:
                self.taken.add(pan)
                return pan

    def claim(self, pan: str) -> bool:
        """Take a given number (a card tester's sequence): False if taken already."""
        if pan in self.taken:
            return False
        self.taken.add(pan)
        return True

    def customer(self, rng: random.Random, funding: Funding) -> SimCard:
        """A customer's card: a debit balance (a few nearly empty), a credit limit; one in
        a hundred or so expired, lost or refused by its issuer."""
        if funding is Funding.DEBIT:
            bin_ = rng.choice(DEBIT_BINS)
            if rng.random() < 0.02:
                available = rng.randrange(0, 30_00)
            else:
                available = min(int(rng.lognormvariate(0, 1.0) * 6_000_00), 300_000_00)
        elif funding is Funding.CREDIT:
            bin_ = rng.choice(CREDIT_BINS)
            available = rng.randrange(10_000, 80_000) * 100
        else:
            bin_ = rng.choice(FOREIGN_BINS)
            available = rng.randrange(20_000, 100_000) * 100
        trouble = rng.random()
        return SimCard(
            self.number(rng, bin_),
            self.expired(rng) if trouble < 0.008 else self.valid_expiry(rng),
            funding,
            available,
            lost=0.008 <= trouble < 0.010,
            refused=0.010 <= trouble < 0.013,
        )


class ChipCards:
    """The chips of the simulated cards: each card's key (derived once) and its
    transaction counter, which goes up with every read as a real card's does (the
    issuer refuses a cryptogram it has seen)."""

    IAD = bytes.fromhex("06011203A00000")  # 9F10: key index 01, CVN 18, the CVR
    AIP = bytes.fromhex("7C00")
    CNY = bytes.fromhex("0156")
    CAPABILITIES = bytes.fromhex("E0F8C8")
    CVM_ONLINE_PIN = bytes.fromhex("420300")
    CVM_NONE = bytes.fromhex("1F0302")
    AIDS: ClassVar[dict[str, bytes]] = {
        Funding.DEBIT: bytes.fromhex("A000000333010101"),  # UnionPay debit
        Funding.CREDIT: bytes.fromhex("A000000333010102"),  # UnionPay credit
        "4": bytes.fromhex("A0000000031010"),  # Visa
        "5": bytes.fromhex("A0000000041010"),  # Mastercard
    }

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}
        self._atc: dict[str, int] = {}

    def read(
        self,
        card: SimCard,
        amount_minor: int,
        *,
        pin: bool,
        tid: str,
        today: date,
        unpredictable: bytes,
    ) -> bytes:
        """Field 55 of a sale read from the card's chip (inserted or tapped), with the
        tags of spec 4.10 in its order and the ARQC over them."""
        key = self._keys.get(card.pan)
        if key is None:
            key = self._keys[card.pan] = emv.icc_master_key(DEMO_IMK_AC, card.pan, PSN)
        atc = self._atc.get(card.pan, 0) % MAX_ATC + 1
        self._atc[card.pan] = atc
        aid = self.AIDS[card.pan[0] if card.funding is Funding.FOREIGN else card.funding]
        tags = {
            "9F10": self.IAD,
            "9F37": unpredictable,
            "9F36": atc.to_bytes(2, "big"),
            "95": bytes(5),
            "9A": bytes.fromhex(today.strftime("%y%m%d")),
            "9C": b"\x00",
            "9F02": bytes.fromhex(f"{amount_minor:012d}"),
            "9F03": bytes(6),
            "5F2A": self.CNY,
            "82": self.AIP,
            "9F1A": self.CNY,
            "84": aid,
            "9F33": self.CAPABILITIES,
            "9F34": self.CVM_ONLINE_PIN if pin else self.CVM_NONE,
            "9F35": b"\x22",
            "9F1E": tid.encode("ascii")[:8].ljust(8),
        }
        cryptogram = emv.Session.of(key, tags["9F36"]).arqc(tags)
        return icc.build([("9F26", cryptogram), ("9F27", b"\x80"), *tags.items()])


def pin_of(wrong: bool) -> str:
    return WRONG_PIN if wrong else TEST_PIN


class WalletCodes:
    """Customers' payment codes (被扫): a fresh one for every payment, as the wallets
    make them; ``280000000000000002`` is the code whose wallet has too little money."""

    SHORT_OF_MONEY = "280000000000000002"

    @staticmethod
    def code(rng: random.Random) -> str:
        r = rng.random()
        if r < 0.46:
            return f"28{rng.randrange(10**15, 10**16):016d}"  # Alipay
        if r < 0.92:
            return f"13{rng.randrange(10**15, 10**16):016d}"  # WeChat Pay
        return f"62{rng.randrange(10**16, 10**17):017d}"  # UnionPay QR
