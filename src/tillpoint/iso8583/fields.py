"""Typed views of the profile's composite fields (sections 2 and 4)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tillpoint.iso8583.errors import FormatError

# 60.3 network management codes
SIGN_ON_KEYS = "004"  # double-length keys with a TDK
SIGN_OFF = "002"
ECHO = "301"
SETTLE = "201"
UPLOAD_END = "202"
FINANCIAL = "000"


def _digits(value: str, n: int, number: int, what: str) -> str:
    if len(value) != n or not value.isdigit():
        raise FormatError(f"{what} is not {n} digits", field=number)
    return value


@dataclass(frozen=True)
class Field60:
    """60.1 transaction type n2, 60.2 batch n6, 60.3 network code n3, optional 60.4 and
    60.5 (terminal read capability and IC condition, n1 each)."""

    txn_type: str
    batch: str
    network_code: str
    read_capability: str = ""
    ic_condition: str = ""

    @classmethod
    def parse(cls, value: str) -> Field60:
        if not re.fullmatch(r"\d{11}(\d{1,2})?", value):
            raise FormatError("60 is not 11 to 13 digits", field=60)
        return cls(value[:2], value[2:8], value[8:11], value[11:12], value[12:13])

    def build(self) -> str:
        _digits(self.txn_type, 2, 60, "60.1")
        _digits(self.batch, 6, 60, "60.2")
        _digits(self.network_code, 3, 60, "60.3")
        return (
            self.txn_type
            + self.batch
            + self.network_code
            + self.read_capability
            + self.ic_condition
        )


@dataclass(frozen=True)
class Field61:
    """61.1 original batch n6, 61.2 original STAN n6, 61.3 original date MMDD n4."""

    batch: str
    stan: str
    date: str = ""

    @classmethod
    def parse(cls, value: str) -> Field61:
        if not re.fullmatch(r"\d{12}(\d{4})?", value):
            raise FormatError("61 is not 12 or 16 digits", field=61)
        return cls(value[:6], value[6:12], value[12:16])

    def build(self) -> str:
        _digits(self.batch, 6, 61, "61.1")
        _digits(self.stan, 6, 61, "61.2")
        if self.date:
            _digits(self.date, 4, 61, "61.3")
        return self.batch + self.stan + self.date


@dataclass(frozen=True)
class Totals:
    """One half of field 48: debits (sales, completions) and credits (refunds)."""

    debit_minor: int = 0
    debit_count: int = 0
    credit_minor: int = 0
    credit_count: int = 0
    flag: str = "0"  # request 0; reply 1 balanced, 2 not balanced, 3 error

    def build(self) -> str:
        if not (
            0 <= self.debit_minor < 10**12
            and 0 <= self.credit_minor < 10**12
            and 0 <= self.debit_count < 1000
            and 0 <= self.credit_count < 1000
            and self.flag in "0123"
            and len(self.flag) == 1
        ):
            raise FormatError("48 totals out of range", field=48)
        return (
            f"{self.debit_minor:012d}{self.debit_count:03d}"
            f"{self.credit_minor:012d}{self.credit_count:03d}{self.flag}"
        )

    @classmethod
    def parse(cls, value: str) -> Totals:
        return cls(
            int(value[:12]), int(value[12:15]), int(value[15:27]), int(value[27:30]), value[30]
        )


@dataclass(frozen=True)
class SettlementTotals:
    domestic: Totals
    foreign: Totals

    @classmethod
    def parse(cls, value: str) -> SettlementTotals:
        if not re.fullmatch(r"\d{62}", value):
            raise FormatError("48 is not 62 digits", field=48)
        return cls(Totals.parse(value[:31]), Totals.parse(value[31:]))

    def build(self) -> str:
        return self.domestic.build() + self.foreign.build()


def upload_count(value: str) -> int:
    """The end-of-upload 0320's field 48: how many transactions were uploaded (n4)."""
    if not re.fullmatch(r"\d{4}", value):
        raise FormatError("48 is not a 4-digit count", field=48)
    return int(value)


@dataclass(frozen=True)
class Balance:
    """Field 54: account type an2, amount type an2, currency an3, sign C/D, amount n12."""

    amount_minor: int
    currency_code: str = "156"
    account_type: str = "10"
    amount_type: str = "02"

    def build(self) -> str:
        sign = "C" if self.amount_minor >= 0 else "D"
        if abs(self.amount_minor) >= 10**12:
            raise FormatError("54 amount out of range", field=54)
        kinds = f"{self.account_type}{self.amount_type}{self.currency_code}"
        return f"{kinds}{sign}{abs(self.amount_minor):012d}"

    @classmethod
    def parse(cls, value: str) -> Balance:
        if not re.fullmatch(r".{2}.{2}\d{3}[CD]\d{12}", value):
            raise FormatError("54 is not a balance", field=54)
        amount = int(value[8:20])
        return cls(amount if value[7] == "C" else -amount, value[4:7], value[:2], value[2:4])


def field44(issuer_id: str, acquirer_id: str) -> str:
    """Issuer ID an11 + acquirer ID an11."""
    return f"{issuer_id[:11]:<11}{acquirer_id[:11]:<11}"


@dataclass(frozen=True)
class EntryMode:
    """Field 22: two digits of how the card was read, one of PIN capability."""

    mode: str  # 01 manual, 02 magstripe, 03 scanned code, 05 chip, 07 contactless
    pin_capable: bool

    @classmethod
    def parse(cls, value: str) -> EntryMode:
        if not re.fullmatch(r"(01|02|03|05|07)[12]", value):
            raise FormatError("22 is not a known entry mode", field=22)
        return cls(value[:2], value[2] == "1")

    def build(self) -> str:
        return self.mode + ("1" if self.pin_capable else "2")


KEY_BLOCK_BYTES = 60


def split_key_block(block: bytes) -> list[tuple[bytes, bytes]]:
    """Field 62 of a sign-on answer: (encrypted key, KCV) for PIK, MAK, TDK."""
    if len(block) != KEY_BLOCK_BYTES:
        raise FormatError("62 is not a 60-byte key block", field=62)
    return [(block[i : i + 16], block[i + 16 : i + 20]) for i in range(0, KEY_BLOCK_BYTES, 20)]
