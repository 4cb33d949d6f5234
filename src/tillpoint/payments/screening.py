"""Risk screening as the payment path sees it (docs/risk.md).

A card or wallet payment that passed the payment rules (``rules.screen``) is shown to
the screener before any network is asked: what it is (``Attempt``), and the screener
answers with a ``Verdict``: go on, or decline with 59. What the screener keeps of its
decision is written with the payment, in the payment's own unit of work
(``Verdict.keep``, by the one writer), and what it does besides (a payout hold, a
frozen terminal) follows the write (``Verdict.act``).

The screener itself (``tillpoint.risk``) sits above payments: it reads payments (its
features are rebuilt from them, and kept up from what other processes record: ``catch_up``,
called in the sale's one read before the decision), so payments only knows this
protocol, and the composition root hands the acquirer the screener. Without one (a
test of the payment path alone), nothing is screened beyond the payment rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection

from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.payments.models import Channel, PaymentKind
from tillpoint.payments.rules import Limits


@dataclass(slots=True)
class Attempt:
    """A payment about to be decided, as screening sees it: no card number, only its
    keyed-hash token, its first six and last four digits. Never changed once made: not
    frozen only because a frozen dataclass takes ten times as long to make (every sale
    makes one)."""

    at: datetime
    rrn: str
    kind: PaymentKind
    channel: Channel
    merchant_id: int
    merchant_kind: MerchantKind
    mcc: str
    terminal_id: int | None
    amount_minor: int
    method: PaymentMethod | None
    card: str | None  # the card's keyed-hash token; None for a wallet code
    bin6: str | None
    last4: int | None
    credit: bool
    limits: Limits


@dataclass(frozen=True, slots=True)
class Verdict:
    """``decline``: answer 59 without asking the network. ``keep``: write the decision
    under the payment's id, in the payment's unit of work (only when a rule fired).
    ``act``: what follows the payment's record (a hold, a freeze)."""

    decline: bool
    keep: Callable[[Connection, int | None], None] | None = None
    act: Callable[[], Awaitable[None]] | None = None


ALLOW = Verdict(False)


def card_digits(masked: str | None) -> tuple[str | None, int | None]:
    """A card's first six and last four digits, from its masked number (none: a wallet
    code or no number)."""
    if not masked or not (masked[:6].isdigit() and masked[-4:].isdigit()):
        return None, None
    return masked[:6], int(masked[-4:])


class Screener(Protocol):
    def catch_up(self, conn: Connection, terminal_id: int | None) -> None:
        """Learn what was recorded since the last call (other processes' payments too)
        and what the decision will need of the terminal; runs in the sale's read, just
        before ``screen``."""

    def screen(self, attempt: Attempt) -> Verdict:
        """The decision; CPU only (no I/O): the features are in memory."""
