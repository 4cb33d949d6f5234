"""The interface between the host and a card network.

A real network link (UnionPay, Visa...) would implement ``CardNetwork`` over its own
protocol; the simulator implements it in process. The host never talks to an issuer any
other way. Clear card numbers cross this interface in memory only, never to storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from tillpoint.core.money import Money


class CardOrg(StrEnum):
    """Card organisations as field 63 names them."""

    UNIONPAY = "CUP"
    VISA = "VIS"
    MASTERCARD = "MCC"
    JCB = "JCB"
    AMEX = "AMX"


class AuthKind(StrEnum):
    SALE = "sale"
    PREAUTH = "preauth"
    BALANCE = "balance"
    REFUND = "refund"  # as an issuer records a refund it took (never in a CardRequest)


@dataclass(frozen=True)
class ChipData:
    """What a card read from its chip sends its issuer: the PAN sequence number (two
    digits) and field 55 as the terminal sent it (BER-TLV: the ARQC and what it covers).
    The issuer verifies the ARQC and answers with its own 55 (``NetworkAnswer.icc``)."""

    psn: str
    icc: bytes = field(repr=False)


@dataclass(frozen=True)
class CardRequest:
    """What an issuer needs to decide. ``pin_block`` is ISO 9564 format 0, encrypted
    under the zone PIN key shared with the network (never under a terminal's PIK);
    ``chip``: the chip's data when the card was read from its chip. ``mid``, ``mcc``
    and ``fee_class`` are the merchant's as the acquirer registered it, and the class
    the acquirer prices the payment in: the network clears the payment under them."""

    network_ref: str  # the host's RRN: unique, names this authorisation from now on
    pan: str = field(repr=False)
    expiry: str  # YYMM
    amount: Money
    kind: AuthKind
    entry_mode: str  # field 22's first two digits
    mcc: str
    mid: str
    pin_block: bytes | None = field(default=None, repr=False)
    chip: ChipData | None = None
    fee_class: str = ""


@dataclass(frozen=True)
class NetworkAnswer:
    response_code: str  # field 39: 00 approved, 51, 54, 41, 55, 75, 14, 05...
    card_org: CardOrg | None
    issuer_id: str = ""  # an11 for field 44
    auth_code: str | None = None
    balance: Money | None = None
    icc: bytes | None = None  # the issuer's field 55 to a chip request: tag 91, ARPC + CSU

    @property
    def approved(self) -> bool:
        return self.response_code == "00"


class NetworkTimeout(TimeoutError):
    """The issuer did not answer in time, or the link to the network broke while the
    call was on its way: the host answers 98, charges nothing and reverses the call (a
    ``TimeoutError``, as the host's own time-out around every call raises)."""


class CardNetwork(Protocol):
    """One card network. Every call is idempotent on its reference."""

    async def authorise(self, request: CardRequest) -> NetworkAnswer:
        """A sale, a pre-authorisation hold, or a balance inquiry."""
        ...

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        """Undo a transaction named by its reference (a reversal): an authorisation is
        released, a cancellation, capture or refund is itself undone. Any number of
        times, always 00. An unknown reference is remembered: a request arriving later
        under it is refused (a reversal may overtake its original)."""
        ...

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        """A void: undo an authorisation in full, as a transaction of its own (which a
        reversal can undo in turn)."""
        ...

    async def capture(
        self,
        preauth_ref: str,
        network_ref: str,
        amount: Money,
        chip: ChipData | None = None,
        fee_class: str = "",
    ) -> NetworkAnswer:
        """Complete a pre-authorisation for at most 115% of the held amount (``chip``:
        the card was read from its chip for it; ``fee_class``: the class the acquirer
        prices the completion in). It is cleared for the hold's merchant."""
        ...

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        """Give money back on an earlier sale or completion."""
        ...
