"""What every acquiring flow shares: the connectors, the group committer, the RRNs, the
notes of calls (``payments/intents.py``), what is kept in memory (kind limits, fee
rates, each merchant's takings of the day), and the steps around the rules: the reads
before a decision, asking a network, recording the decision through the one writer
(``payments/writer.py``) and what follows a failed write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.cache import ReadCache
from tillpoint.core.errors import invariant
from tillpoint.core.groupcommit import GroupCommitter
from tillpoint.core.money import Money
from tillpoint.merchants.fees import PLAN_ID_IN_FORCE, Rate
from tillpoint.merchants.limits import limits_for
from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.networks.connector import CardNetwork, NetworkAnswer
from tillpoint.networks.wallets import WalletNetwork
from tillpoint.payments import reads, rules, writer
from tillpoint.payments.checkouts import Claim, write_checkout_payments
from tillpoint.payments.intents import (
    CARD,
    RECOVERY_GRACE_S,
    WALLET,
    Intent,
    Intents,
    claim,
)
from tillpoint.payments.models import Channel, PaymentKind, PaymentStatus
from tillpoint.payments.rrn import RrnAllocator
from tillpoint.payments.rules import Instrument, Limits, Outcome, RequestKey
from tillpoint.payments.screening import Attempt, Screener, Verdict, card_digits
from tillpoint.payments.writer import Book, NewPayment, PaymentRow, TerminalAnswer
from tillpoint.terminals.signon import Admitted, SignOnService

DEFAULT_NETWORK_TIMEOUT_S = 10.0
Rates = Mapping[PaymentMethod, Rate]


class Calendar(Protocol):
    """The business days, as a payment needs them: which one a payment belongs to."""

    def open_date(self, at: datetime | None = None) -> date: ...


class AcquirerServices(Protocol):
    """What the acquirer needs of the application (the composition root hands it): its
    context, the business days, the terminals' sign-on state and risk screening (None:
    none beyond the payment rules)."""

    @property
    def ctx(self) -> Context: ...
    @property
    def days(self) -> Calendar: ...
    @property
    def signon(self) -> SignOnService: ...
    @property
    def screener(self) -> Screener | None: ...


@dataclass(frozen=True, slots=True)
class SaleFacts:
    """What a sale's screening reads (``early``: an answer the request already has)."""

    early: Outcome | None
    limits: Limits | None = None
    taken_minor: int = 0
    recent_refusals: int = 0


class Desk:
    def __init__(
        self,
        app: AcquirerServices,
        network: CardNetwork,
        committer: GroupCommitter,
        zpk: bytes,
        wallets: WalletNetwork,
        network_timeout_s: float,
    ) -> None:
        self.app = app
        self.ctx = app.ctx
        self.db = app.ctx.db
        self.network = network
        self.wallets = wallets
        self.committer = committer
        self.zpk = zpk
        self.network_timeout_s = network_timeout_s
        self.rrns = RrnAllocator(self.db)
        self._limits: ReadCache[MerchantKind, Limits] = ReadCache(self.db)
        self._rates: ReadCache[tuple[int, date], tuple[int, Rates]] = ReadCache(self.db)
        self.day_totals = reads.DayTotals()
        self.intents = Intents(
            self.db,
            committer,
            {CARD: self._reverse_card, WALLET: self._reverse_wallet},
            app.ctx.now,
            stale_after_s=network_timeout_s + RECOVERY_GRACE_S,
            timeout_s=network_timeout_s,
        )
        self.background: set[asyncio.Future[None]] = set()
        self.screener = app.screener

    # The network may be replaced (tests put a gate in front of it): looked up per call.
    async def _reverse_card(self, rrn: str) -> NetworkAnswer:
        return await self.network.reverse(rrn)

    async def _reverse_wallet(self, rrn: str) -> NetworkAnswer:
        return await self.wallets.reverse(rrn)

    def network_of(self, card_org: str | None) -> CardNetwork | WalletNetwork:
        """Voids, refunds and reversals go where the payment went."""
        return self.wallets if rules.network_name(card_org) == WALLET else self.network

    # --- reads -----------------------------------------------------------------------

    async def answered_before(self, t: Admitted, key: RequestKey) -> Outcome | None:
        """What every money-moving request checks first: the duplicate rule."""
        return await self.db.read_now(self._answered, t, key)

    def _answered(self, t: Admitted, key: RequestKey) -> Outcome | None:
        with self.db.quick_read() as conn:
            rows = reads.stored_rows(self.db, conn, t.terminal_id, key)
        return rules.answered(rows, key, t.batch_no)

    def sale_facts(
        self, t: Admitted, key: RequestKey, token: str | None, now: datetime, day: date
    ) -> SaleFacts:
        """Everything a sale reads before the network, in one go: an answer already
        given, else what screening needs."""
        with self.db.quick_read() as conn:
            rows = reads.stored_rows(self.db, conn, t.terminal_id, key)
            early = rules.answered(rows, key, t.batch_no)
            if early is not None:
                return SaleFacts(early)
            if self.screener is not None:
                self.screener.catch_up(conn, t.terminal_id)
            refusals = 0 if token is None else reads.recent_refusals(self.db, conn, token, now)
            limits = self.limits(t.merchant_kind)
            taken = self.day_totals.taken(conn, t.merchant_id, day)
        return SaleFacts(None, limits, taken, refusals)

    def prior(self, terminal_id: int, key: RequestKey) -> Outcome | None:
        """The answer stored under this request's key (94 if the request changed)."""
        with self.db.read() as s:
            found = reads.stored_answer(s, terminal_id, key)
        if found is None:
            return None
        fingerprint, answer = found
        if fingerprint != key.fingerprint:
            return Outcome(rules.Refusal.CHANGED_REQUEST.value)
        return Outcome.from_json(answer)

    def limits(self, kind: MerchantKind) -> Limits:
        return self._limits.get(kind, lambda: self._load_limits(kind))

    def _load_limits(self, kind: MerchantKind) -> Limits:
        with self.db.read() as s:
            row = limits_for(s, kind)
            return Limits(row.per_txn_limit_minor, row.daily_limit_minor)

    async def rates(self, merchant_id: int, day: date) -> Rates:
        """The rates of the fee plan in force for the merchant that day."""
        key = (merchant_id, day)
        hit = self._rates.peek(key)
        if hit is None:

            def load() -> tuple[int, Rates]:
                with self.db.read() as s:
                    return reads.rates_in_force(s, merchant_id, day)

            def still(plan: tuple[int, Rates]) -> bool:
                with self.db.quick_read() as conn:
                    params = {"merchant_id": merchant_id, "on": day}
                    return bool(self.db.hot(PLAN_ID_IN_FORCE).scalar(conn, params) == plan[0])

            hit = await self.db.read_now(self._rates.get, key, load, still)
        return hit[1]

    def screen(
        self,
        t: Admitted,
        rrn: str,
        kind: PaymentKind,
        amount: Money,
        instrument: Instrument,
        limits: Limits,
        now: datetime,
        *,
        card: bool,
        credit: bool = False,
    ) -> Verdict | None:
        """Risk screening of a terminal's payment that passed the payment rules (None:
        no screener). ``card``: a card (else a wallet code, which has no card to count)."""
        if self.screener is None:
            return None
        masked = instrument.masked
        return self.screener.screen(
            Attempt(
                now, rrn, kind, Channel.TERMINAL, t.merchant_id, t.merchant_kind, t.mcc,
                t.terminal_id, amount.amount_minor, instrument.method,
                instrument.token if card else None,
                *(card_digits(masked) if card else (None, None)),
                credit, limits,
            )
        )  # fmt: skip

    def acted(self, verdict: Verdict | None) -> None:
        """What a decision does besides the answer, in the background once recorded."""
        if verdict is None or verdict.act is None:
            return
        task = asyncio.ensure_future(verdict.act())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    # --- the network -----------------------------------------------------------------

    async def ask(
        self,
        intent: Intent,
        call: Callable[[], Awaitable[NetworkAnswer]],
        timed_out: NetworkAnswer,
    ) -> NetworkAnswer | None:
        """Note the call durably, then make it, within the network's time (else
        ``timed_out``). None: the request's key already has a call (its reversal came
        first, or the same request is on its way twice): nothing was asked."""
        if not await self.intents.open(intent):
            return None
        try:
            async with asyncio.timeout(self.network_timeout_s):  # no task, unlike wait_for
                return await call()
        except TimeoutError:
            return timed_out

    @staticmethod
    def intent(
        t: Admitted,
        key: RequestKey,
        rrn: str,
        network: str,
        action: str,
        amount: Money,
        now: datetime,
    ) -> Intent:
        return Intent(
            rrn, network, action, amount, now, (t.terminal_id, key.batch_no, key.stan, key.mti)
        )

    async def taken(self, t: Admitted, key: RequestKey) -> Outcome:
        """The answer for a request whose key already had a call: the first answer if
        there is one, 22 if its reversal came first, else 94 (it is on its way twice)."""
        return await self.answered_before(t, key) or Outcome(rules.Refusal.CHANGED_REQUEST.value)

    def reverse_in_background(self, rrn: str) -> None:
        """A call the network did not answer in time is reversed there, in the
        background (``Intents.recover`` does it if this process stops first)."""
        task = asyncio.ensure_future(
            self.intents.reverse_open(rrn, "no answer from the network in time")
        )
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def after_asked(self, written: Outcome | None) -> None:
        if written is not None and written.response_code == "98" and written.rrn:
            self.reverse_in_background(written.rrn)

    # --- recording -------------------------------------------------------------------

    async def record(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        instrument: Instrument,
        outcome: Outcome,
        now: datetime,
        day: date,
        kind: PaymentKind = PaymentKind.SALE,
        original_id: int | None = None,
        after: writer.After | None = None,
        *,
        asked: bool = False,
        checkout: Claim | None = None,
        verdict: Verdict | None = None,
    ) -> Outcome:
        """Write a payment, its first event, its entry and the answer in one unit of
        work; when approved, ``after`` says what it does to the payment it names.
        ``asked``: the network was asked under ``outcome.rrn``; the write removes the
        call's note, or records the payment as not charged (98) if the call was taken
        for reversal meanwhile. ``checkout``: the sale's claim on the checkout it pays
        (4.13), settled in the same unit of work (``payments/checkouts.py``).
        ``verdict``: risk screening's, kept with the payment when a rule fired."""
        invariant(outcome.rrn is not None, "a payment has a reference")
        assert outcome.rrn is not None  # for mypy
        status = rules.status_of(outcome.response_code)
        fee_minor = 0
        if status is PaymentStatus.APPROVED and kind in rules.CAPTURES and instrument.method:
            rates = await self.rates(t.merchant_id, day)
            fee_minor = rules.fee_minor(kind, status, instrument.method, amount, rates)
        row = PaymentRow(
            0, kind, status, outcome.response_code, t.merchant_id, t.shop_id, t.terminal_id,
            t.batch_id, key.stan, outcome.rrn, outcome.auth_code, amount.amount_minor,
            amount.currency, instrument.method, outcome.card_org, instrument.domestic,
            instrument.masked, instrument.token, instrument.entry_mode, day, original_id, 0,
            fee_minor, Channel.TERMINAL, None, None, None, None, now, now,
        )  # fmt: skip
        new = NewPayment(
            row, f"{key.mti} {kind.value} stan {key.stan}", t.mid, asked,
            TerminalAnswer(t.terminal_id, key, outcome), after, verdict=verdict,
        )  # fmt: skip
        try:
            recorded: writer.Recorded = (
                await self.committer.submit_bulk(writer.write_payments, new)
                if checkout is None
                else await self.committer.submit_bulk(write_checkout_payments, (new, checkout))
            )
        except Exception as e:
            return await self.write_failed(t, key, outcome if asked else None, e)
        written = recorded.outcome
        assert written is not None  # for mypy: a terminal's payment keeps its answer
        if written.response_code == "00" and kind in rules.CAPTURES:
            self.day_totals.add(t.merchant_id, day, amount.amount_minor)
        self.after_asked(written if asked else None)
        self.acted(verdict)
        return written

    async def record_answer(
        self,
        t: Admitted,
        key: RequestKey,
        outcome: Outcome,
        payment_id: int | None = None,
        to: PaymentStatus | None = None,
        hold_to: PaymentStatus | None = None,
        *,
        asked: bool = False,
    ) -> Outcome:
        """Keep the answer (for the duplicate rule) and move the payment it concerns and,
        when that is a completion, its pre-authorisation to ``hold_to``. ``asked``: the
        network was asked (a void) under ``outcome.rrn``, whose note this write removes."""
        now = self.ctx.now()
        day = self.app.days.open_date(now)

        def write(s: Session) -> Outcome:
            book = Book.of(s)
            final, move = outcome, to
            if asked and outcome.rrn and outcome.response_code != "98":
                claimed = claim(book.conn, [outcome.rrn])
                if not claimed and outcome.response_code == "00":  # taken for reversal
                    final, move = replace(outcome, response_code="98"), None
            if payment_id is not None and move is not None:
                cause = f"{key.mti} stan {key.stan} rc {final.response_code}"
                payment = book.load([payment_id])[payment_id]
                book.undo(payment, move, hold_to, cause, now, day, t.mid, t.batch_id)
            book.keep_answer(t.terminal_id, key, final, payment_id, now)
            book.flush()
            return final

        try:
            written: Outcome = await self.committer.submit(write)
        except Exception as e:
            written = await self.write_failed(t, key, outcome if asked else None, e)
        finally:
            if to is not None:
                self.day_totals.forget(t.merchant_id)
        self.after_asked(written if asked else None)
        return written

    async def write_failed(
        self, t: Admitted, key: RequestKey, asked: Outcome | None, error: Exception
    ) -> Outcome:
        """An answer that could not be written: a call the network approved is undone
        there (its note is still open: the write rolled back), then the same request
        racing itself gets the first one's answer; anything else is the host's fault
        (96)."""
        if asked is not None and asked.rrn and asked.response_code == "00":
            await self.intents.reverse_open(asked.rrn, "the host could not record it")
        if isinstance(error, IntegrityError):
            prior = await self.db.read_now(self.prior, t.terminal_id, key)
            return prior or Outcome(rules.Refusal.HOST_ERROR.value)
        raise error
