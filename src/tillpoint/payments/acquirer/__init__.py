"""The acquiring flows the terminal host runs: every financial message of the profile.

``Acquirer`` is the host's one entry point; the flows live by concern beside it:

- ``cards``: sale, pre-authorisation, completion, balance inquiry;
- ``wallets``: a customer's wallet code scanned by the terminal;
- ``voids``: voids and reversals;
- ``refunds``: refunds;
- ``batches``: batch settlement and upload;
- ``signatures``: the e-signature upload's packets (4.11);
- ``desk``: what they share (connectors, group committer, RRNs, notes of calls, what
  is kept in memory, and the steps around the rules).

Each flow reads what its rules need (``payments/reads.py``), decides with the rules
(``payments/rules.py``: plain functions over plain data) and records what was decided
through the one payment writer (``payments/writer.py``). A call whose answer does not
reach our books is reversed at the network (``payments/intents.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tillpoint.core.groupcommit import GroupCommitter
from tillpoint.core.money import Money
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.connector import CardNetwork, NetworkAnswer
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.networks.wallets import WalletNetwork, WalletSimulator
from tillpoint.payments.acquirer.batches import Batches
from tillpoint.payments.acquirer.cards import Cards
from tillpoint.payments.acquirer.desk import (
    DEFAULT_NETWORK_TIMEOUT_S,
    AcquirerServices,
    Calendar,
    Desk,
)
from tillpoint.payments.acquirer.refunds import Refunds
from tillpoint.payments.acquirer.signatures import Signatures
from tillpoint.payments.acquirer.voids import Voids
from tillpoint.payments.acquirer.wallets import Wallets
from tillpoint.payments.checkouts import Claim
from tillpoint.payments.intents import Intent, Intents
from tillpoint.payments.models import PaymentKind
from tillpoint.payments.reads import DayTotals
from tillpoint.payments.rrn import RrnAllocator
from tillpoint.payments.rules import (
    REFUND_WINDOW_DAYS,
    BatchTotals,
    Card,
    Instrument,
    Outcome,
    RequestKey,
)
from tillpoint.security import tdes
from tillpoint.terminals.signon import Admitted

__all__ = [
    "DEFAULT_NETWORK_TIMEOUT_S", "REFUND_WINDOW_DAYS", "Acquirer", "AcquirerServices",
    "BatchTotals", "Calendar", "Card", "Instrument", "Outcome", "RequestKey", "simulated",
]  # fmt: skip


class Acquirer:
    """The host's entry point: one method per message of the profile, each handed to
    the flow of its concern."""

    def __init__(
        self,
        app: AcquirerServices,
        network: CardNetwork,
        committer: GroupCommitter,
        zpk: bytes,
        *,
        wallets: WalletNetwork | None = None,
        network_timeout_s: float = DEFAULT_NETWORK_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.desk = Desk(
            app, network, committer, zpk, wallets or WalletSimulator(), network_timeout_s
        )
        self.cards = Cards(self.desk)
        self.wallet_codes = Wallets(self.desk)
        self.voids = Voids(self.desk)
        self.refunds = Refunds(self.desk)
        self.batches = Batches(self.desk)
        self.signatures = Signatures(self.desk)
        self.on_close: list[Callable[[], None]] = []  # what close() releases besides

    def close(self) -> None:
        self.desk.committer.stop()
        for release in self.on_close:
            release()

    # --- the messages --------------------------------------------------------------

    async def sale(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        card: Card,
        kind: PaymentKind = PaymentKind.SALE,
        *,
        checkout: Claim | None = None,
    ) -> Outcome:
        return await self.cards.sale(t, key, amount, card, kind, checkout=checkout)

    async def balance(self, t: Admitted, card: Card) -> Outcome:
        return await self.cards.balance(t, card)

    async def complete(
        self, t: Admitted, key: RequestKey, amount: Money, auth_code: str, card: Card
    ) -> Outcome:
        return await self.cards.complete(t, key, amount, auth_code, card)

    async def wallet_sale(
        self, t: Admitted, key: RequestKey, amount: Money, code: str, checkout: Claim | None = None
    ) -> Outcome:
        return await self.wallet_codes.sale(t, key, amount, code, checkout)

    async def void(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        rrn: str,
        kind: PaymentKind = PaymentKind.SALE,
    ) -> Outcome:
        return await self.voids.void(t, key, amount, rrn, kind)

    async def reverse(self, t: Admitted, key: RequestKey, original_mti: str) -> Outcome:
        return await self.voids.reverse(t, key, original_mti)

    async def refund(
        self, t: Admitted, key: RequestKey, amount: Money, rrn: str, card: Card
    ) -> Outcome:
        return await self.refunds.refund(t, key, amount, rrn, card)

    def batch_totals(self, terminal_id: int, batch_no: str) -> tuple[BatchTotals, BatchTotals]:
        return self.batches.totals(terminal_id, batch_no)

    async def settle_batch(
        self, t: Admitted, key: RequestKey, domestic: BatchTotals, foreign: BatchTotals
    ) -> Outcome:
        return await self.batches.settle(t, key, domestic, foreign)

    async def upload(
        self, t: Admitted, key: RequestKey, rrn: str, processing_code: str, amount: Money
    ) -> Outcome:
        return await self.batches.upload(t, key, rrn, processing_code, amount)

    async def end_upload(self, t: Admitted, key: RequestKey, count: int) -> Outcome:
        return await self.batches.end_upload(t, key, count)

    async def signature(
        self, t: Admitted, key: RequestKey, rrn: str, amount_minor: int, field62: bytes
    ) -> Outcome:
        return await self.signatures.upload(t, key, rrn, amount_minor, field62)

    # --- what the REST API's payments share with the host ------------------------------

    async def ask(
        self, intent: Intent, call: Callable[[], Awaitable[NetworkAnswer]], timed_out: NetworkAnswer
    ) -> NetworkAnswer | None:
        return await self.desk.ask(intent, call, timed_out)

    def reverse_in_background(self, rrn: str) -> None:
        self.desk.reverse_in_background(rrn)

    def network_of(self, card_org: str | None) -> CardNetwork | WalletNetwork:
        return self.desk.network_of(card_org)

    @property
    def network(self) -> CardNetwork:
        return self.desk.network

    @network.setter
    def network(self, network: CardNetwork) -> None:
        self.desk.network = network

    @property
    def network_timeout_s(self) -> float:
        return self.desk.network_timeout_s

    @network_timeout_s.setter
    def network_timeout_s(self, seconds: float) -> None:
        self.desk.network_timeout_s = seconds

    @property
    def wallets(self) -> WalletNetwork:
        return self.desk.wallets

    @property
    def committer(self) -> GroupCommitter:
        return self.desk.committer

    @property
    def zpk(self) -> bytes:
        return self.desk.zpk

    @property
    def rrns(self) -> RrnAllocator:
        return self.desk.rrns

    @property
    def intents(self) -> Intents:
        return self.desk.intents

    @property
    def day_totals(self) -> DayTotals:
        return self.desk.day_totals

    @day_totals.setter
    def day_totals(self, totals: DayTotals) -> None:  # a host process re-reads sooner
        self.desk.day_totals = totals

    @property
    def _background(self) -> set[asyncio.Future[None]]:  # tests wait for these
        return self.desk.background


def simulated(app: AcquirerServices, public_url: str = "http://127.0.0.1:8000") -> Acquirer:
    """An acquirer on the in-process card network simulator, with its own zone PIN key
    and a group committer (``close()`` stops it). The wallet simulator's QR
    codes open its customer page under ``public_url``."""
    zpk = tdes.generate_key()
    # The simulated networks share the acquirer's business days, as a real network and
    # its acquirers agree on settlement dates.
    journal = ClearingJournal(app.ctx.settings.network_directory(), app.days.open_date)
    acquirer = Acquirer(
        app,
        CardNetworkSimulator(zpk, app.ctx.clock, journal, path=journal.directory / "cards.sqlite3"),
        GroupCommitter(app.ctx.db),
        zpk,
        wallets=WalletSimulator(
            journal,
            qr_base_url=f"{public_url.rstrip('/')}/simulator/qr/",
            path=journal.directory / "wallets.sqlite3",
        ),
        network_timeout_s=app.ctx.settings.network_timeout_ms / 1000,
    )
    acquirer.on_close.append(journal.close)
    return acquirer
