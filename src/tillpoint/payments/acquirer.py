"""The acquiring flows the terminal host runs: every financial message of the profile.

A sale, in order: the duplicate rule; screening (amount, card number, the merchant
kind's limits, the PIN rule); an RRN; the PIN block translated from the terminal's PIK
to the network's zone key; the call noted durably (``payments/intents.py``); the
network's decision, or 98 when it does not come in time; then the payment, its first
event, the terminal request with its answer and the note's removal are written in one
unit of work through group commit, and only then does the answer go back. A call whose
answer does not reach our books is reversed at the network. Declined attempts are
recorded too: they are history and, later, risk signals.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.cache import ReadCache
from tillpoint.core.errors import InvalidInput, invariant
from tillpoint.core.groupcommit import GroupCommitter
from tillpoint.core.money import Money
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.fees import PLAN_ID_IN_FORCE, fee, plan_in_force, plan_rate
from tillpoint.merchants.limits import limits_for
from tillpoint.merchants.models import FeePlan, KindLimits, MerchantKind, PaymentMethod
from tillpoint.networks.bins import CardInfo, Funding, classify
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.connector import AuthKind, CardNetwork, CardRequest, NetworkAnswer
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.networks.wallets import (
    WALLET_ISSUERS,
    WalletNetwork,
    WalletOrg,
    WalletRequest,
    WalletSimulator,
    wallet_for,
)
from tillpoint.payments.intents import (
    CARD,
    RECOVERY_GRACE_S,
    WALLET,
    Intent,
    Intents,
    claim,
    intent_for,
    reversed_before_original,
    take,
    to_reverse,
)
from tillpoint.payments.models import (
    BatchDiscrepancy,
    BatchUpload,
    Payment,
    PaymentEvent,
    PaymentKind,
    PaymentStatus,
    TerminalRequest,
)
from tillpoint.payments.rrn import RrnAllocator
from tillpoint.security import tdes
from tillpoint.security.keystore import mask_pan
from tillpoint.terminals.models import TerminalBatch
from tillpoint.terminals.signon import Admitted, SignOnService

DAY_TOTAL_RESEED_S = 60.0
CONTACTLESS_NO_PIN_LIMIT = Money(100_000)  # 1,000.00 CNY: 小额免密
DEFAULT_NETWORK_TIMEOUT_S = 10.0
REFUND_WINDOW_DAYS = 30
PREAUTH_DAYS = 30  # a pre-authorisation holds the funds this long
COMPLETION_LIMIT = Decimal("1.15")
# Risk: a card refused this often within the window is being tested (59).
CARD_TESTING_REFUSALS = 3
CARD_TESTING_WINDOW = timedelta(minutes=10)
CARD_TESTING_CODES = ("05", "14", "51", "54", "59")
CAPTURES = (PaymentKind.SALE, PaymentKind.COMPLETION)  # what moves money to a merchant
_ENTRY_OF = {
    PaymentKind.SALE: EntryKind.CAPTURE,
    PaymentKind.COMPLETION: EntryKind.CAPTURE,
    PaymentKind.REFUND: EntryKind.REFUND,
}
COUNTED = (
    PaymentStatus.APPROVED,
    PaymentStatus.PARTLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.COMPLETED,
)

# The hot path's reads, built once with bind parameters: building a statement costs
# more than running it.
_REQUEST_AND_REVERSAL = select(
    TerminalRequest.mti, TerminalRequest.fingerprint, TerminalRequest.answer
).where(
    TerminalRequest.terminal_id == bindparam("terminal_id"),
    TerminalRequest.batch_no == bindparam("batch_no"),
    TerminalRequest.stan == bindparam("stan"),
    (TerminalRequest.mti == bindparam("mti")) | (TerminalRequest.mti == "0400"),
)
_CARD_REFUSALS = select(func.count()).where(
    Payment.pan_token == bindparam("token"),
    Payment.status == PaymentStatus.DECLINED,
    # ORed equalities, not IN: an IN list is re-rendered for every execution
    or_(*(Payment.response_code == code for code in CARD_TESTING_CODES)),
    Payment.created_at >= bindparam("since"),
)
_INSERT_PAYMENTS = insert(Payment).returning(Payment.id, sort_by_parameter_order=True)
_INSERT_EVENT = insert(PaymentEvent)
_INSERT_REQUEST = insert(TerminalRequest)
_COUNT_IN_BATCH = (
    update(TerminalBatch)
    .where(TerminalBatch.id == bindparam("batch_id"), TerminalBatch.settled_at.is_(None))
    .values(txn_count=TerminalBatch.txn_count + bindparam("count"))
)
_TAKEN_ON_DAY = select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(
    Payment.merchant_id == bindparam("merchant_id"),
    Payment.business_date == bindparam("day"),
    Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION)),
    Payment.status.in_(COUNTED),
)


class DayTotals:
    """Each merchant's takings on the open day, for its daily limit (61).

    Summing the day's payments for every sale would cost more with every sale; the sum
    is read once, then kept up by this process's own captures, and read again after
    ``reseed_s`` (for what other processes took meanwhile) or at once after a void or
    reversal moved one of the merchant's captures."""

    def __init__(self, reseed_s: float = DAY_TOTAL_RESEED_S) -> None:
        self.reseed_s = reseed_s
        self._day: date | None = None
        self._totals: dict[int, tuple[int, float]] = {}  # merchant id: (minor, read at)

    def taken(self, conn: Connection, merchant_id: int, day: date) -> int:
        if day != self._day:
            self._day, self._totals = day, {}
        hit = self._totals.get(merchant_id)
        if hit is not None and time.monotonic() - hit[1] < self.reseed_s:
            return hit[0]
        read_at = time.monotonic()
        taken = int(conn.scalar(_TAKEN_ON_DAY, {"merchant_id": merchant_id, "day": day}) or 0)
        self._totals[merchant_id] = (taken, read_at)
        return taken

    def add(self, merchant_id: int, day: date, minor: int) -> None:
        hit = self._totals.get(merchant_id)
        if day == self._day and hit is not None:
            self._totals[merchant_id] = (hit[0] + minor, hit[1])

    def forget(self, merchant_id: int) -> None:
        self._totals.pop(merchant_id, None)


@dataclass(frozen=True)
class RequestKey:
    """What the duplicate rule keys on, and a keyed fingerprint of everything else."""

    mti: str
    stan: str
    batch_no: str
    fingerprint: str


@dataclass(frozen=True)
class Card:
    pan: str = field(repr=False)
    expiry: str | None
    entry_mode: str  # two digits of field 22
    pin_block: bytes | None = field(default=None, repr=False)  # under the terminal's PIK


@dataclass(frozen=True)
class Outcome:
    """The host's decision, as the answer message will carry it. No card data."""

    response_code: str
    rrn: str | None = None
    auth_code: str | None = None
    card_org: str | None = None
    issuer_id: str = ""
    balance_minor: int | None = None
    business_date: str | None = None  # ISO date
    balanced: tuple[str, str] | None = None  # batch settlement flags: domestic, foreign

    def to_json(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies, and every answer is kept.
        return {
            "response_code": self.response_code,
            "rrn": self.rrn,
            "auth_code": self.auth_code,
            "card_org": self.card_org,
            "issuer_id": self.issuer_id,
            "balance_minor": self.balance_minor,
            "business_date": self.business_date,
            "balanced": None if self.balanced is None else list(self.balanced),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        balanced = data.get("balanced")
        return cls(**{**data, "balanced": tuple(balanced) if balanced else None})


@dataclass(frozen=True)
class BatchTotals:
    """One half of a batch's totals: debits (sales, completions) and credits (refunds)."""

    debit_minor: int = 0
    debit_count: int = 0
    credit_minor: int = 0
    credit_count: int = 0


@dataclass(frozen=True)
class Instrument:
    """How a payment was paid, as the record keeps it: never the number itself."""

    method: PaymentMethod | None
    domestic: bool | None
    masked: str
    token: str
    entry_mode: str


WALLET_METHODS = {
    WalletOrg.ALIPAY: PaymentMethod.ALIPAY,
    WalletOrg.WECHAT: PaymentMethod.WECHAT,
    WalletOrg.UNIONPAY_QR: PaymentMethod.UNIONPAY_QR,
}


def payment_method(info: CardInfo, entry_mode: str, amount: Money) -> PaymentMethod:
    if not info.domestic:
        return PaymentMethod.FOREIGN
    if entry_mode == "07" and amount <= CONTACTLESS_NO_PIN_LIMIT:
        return PaymentMethod.CONTACTLESS
    return PaymentMethod.DEBIT if info.funding is Funding.DEBIT else PaymentMethod.CREDIT


class Calendar(Protocol):
    """The business days, as a payment needs them: which one a payment belongs to."""

    def open_date(self, at: datetime | None = None) -> date: ...


class AcquirerServices(Protocol):
    """What the acquirer needs of the application (the composition root hands it): its
    context, the business days and the terminals' sign-on state."""

    @property
    def ctx(self) -> Context: ...
    @property
    def days(self) -> Calendar: ...
    @property
    def signon(self) -> SignOnService: ...


class Acquirer:
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
        self.network = network
        self.wallets = wallets or WalletSimulator()
        self.committer = committer
        self.zpk = zpk
        self.network_timeout_s = network_timeout_s
        self.rrns = RrnAllocator(app.ctx.db)
        self._limits: ReadCache[MerchantKind, KindLimits] = ReadCache(app.ctx.db)
        self._plans: ReadCache[tuple[int, date], FeePlan] = ReadCache(app.ctx.db)
        self.day_totals = DayTotals()
        self.on_close: list[Callable[[], None]] = []  # what close() releases besides
        self.intents = Intents(
            app.ctx.db,
            committer,
            {CARD: network.reverse, WALLET: self.wallets.reverse},
            app.ctx.now,
            stale_after_s=network_timeout_s + RECOVERY_GRACE_S,
            timeout_s=network_timeout_s,
        )
        self._background: set[asyncio.Future[None]] = set()

    def close(self) -> None:
        self.committer.stop()
        for release in self.on_close:
            release()

    # --- the duplicate rule -----------------------------------------------------------

    async def _answered_before(self, t: Admitted, key: RequestKey) -> Outcome | None:
        """What every money-moving request checks first (``_answered_or_reversed``)."""
        return await self.app.ctx.db.read_now(self._answered_or_reversed, t, key)

    def _prior(self, terminal_id: int, key: RequestKey) -> Outcome | None:
        with self.app.ctx.db.read() as s:
            return self._prior_in(s, terminal_id, key)

    @staticmethod
    def _prior_in(s: Session, terminal_id: int, key: RequestKey) -> Outcome | None:
        row = s.execute(
            select(TerminalRequest).where(
                TerminalRequest.terminal_id == terminal_id,
                TerminalRequest.batch_no == key.batch_no,
                TerminalRequest.stan == key.stan,
                TerminalRequest.mti == key.mti,
            )
        ).scalar_one_or_none()
        if row is None:
            return None
        if row.fingerprint != key.fingerprint:
            return Outcome("94")
        return Outcome.from_json(row.answer)

    # --- sale -------------------------------------------------------------------------

    async def sale(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        card: Card,
        kind: PaymentKind = PaymentKind.SALE,
    ) -> Outcome:
        """A sale, or (``kind=PREAUTH``) a pre-authorisation that only holds the funds."""
        now = self.app.ctx.now()
        day = self.app.days.open_date(now)
        info = classify(card.pan)
        instrument = self._card_instrument(card, info, amount)  # the card's token, once
        early, refusal = await self.app.ctx.db.read_now(
            self._sale_checks, t, key, amount, card, info, day, instrument.token
        )
        if early is not None:
            return early
        rrn = await self.rrns.next()
        if refusal is not None or info is None:
            outcome = Outcome(refusal or "14", rrn, card_org=info.org.value if info else None)
            return await self._record(t, key, amount, instrument, outcome, now, day, kind)
        request = CardRequest(
            network_ref=rrn,
            pan=card.pan,
            expiry=card.expiry or "",
            amount=amount,
            kind=AuthKind.PREAUTH if kind is PaymentKind.PREAUTH else AuthKind.SALE,
            entry_mode=card.entry_mode,
            mcc=t.mcc,
            mid="",
            pin_block=self._pin_for_network(t, card),
        )
        answer = await self.ask(
            self._intent(t, key, rrn, CARD, kind.value, amount, now),
            lambda: self.network.authorise(request),
            NetworkAnswer("98", info.org, info.issuer_id),
        )
        if answer is None:
            return await self._taken(t, key)
        outcome = Outcome(
            answer.response_code,
            rrn,
            answer.auth_code,
            (answer.card_org or info.org).value,
            answer.issuer_id or info.issuer_id,
            business_date=day.isoformat(),
        )
        return await self._record(t, key, amount, instrument, outcome, now, day, kind, asked=True)

    async def balance(self, t: Admitted, card: Card) -> Outcome:
        """查余额: not a payment; nothing is recorded but the log line."""
        info = classify(card.pan)
        if info is None:
            return Outcome("14")
        if card.pin_block is None:
            return Outcome("55", card_org=info.org.value)
        rrn = await self.rrns.next()
        answer = await self._authorise(
            CardRequest(
                network_ref=rrn,
                pan=card.pan,
                expiry=card.expiry or "",
                amount=Money(0),
                kind=AuthKind.BALANCE,
                entry_mode=card.entry_mode,
                mcc="",
                mid="",
                pin_block=self._pin_for_network(t, card),
            ),
            info,
        )
        return Outcome(
            answer.response_code,
            rrn,
            card_org=info.org.value,
            issuer_id=answer.issuer_id or info.issuer_id,
            balance_minor=answer.balance.amount_minor if answer.balance else None,
        )

    # --- wallets ------------------------------------------------------------------------

    async def wallet_sale(self, t: Admitted, key: RequestKey, amount: Money, code: str) -> Outcome:
        """被扫: the terminal scanned the customer's payment code (field 57)."""
        now = self.app.ctx.now()
        day = self.app.days.open_date(now)
        org = wallet_for(code)
        instrument = Instrument(
            method=WALLET_METHODS[org] if org else None,
            domestic=True,
            masked=mask_pan(code),
            token=self.app.ctx.keystore.token(code, kind="wallet"),
            entry_mode="03",
        )
        early, refusal = await self.app.ctx.db.read_now(
            self._sale_checks, t, key, amount, None, org, day, None
        )
        if early is not None:
            return early
        rrn = await self.rrns.next()
        if refusal is not None or org is None:
            outcome = Outcome(refusal or "14", rrn, card_org=org.value if org else None)
            return await self._record(t, key, amount, instrument, outcome, now, day)
        answer = await self.ask(
            self._intent(t, key, rrn, WALLET, "pay", amount, now),
            lambda: self.wallets.pay(WalletRequest(rrn, code, amount, "")),
            NetworkAnswer("98", None, WALLET_ISSUERS[org]),
        )
        if answer is None:
            return await self._taken(t, key)
        outcome = Outcome(
            answer.response_code,
            rrn,
            answer.auth_code,
            org.value,
            answer.issuer_id,
            business_date=day.isoformat(),
        )
        return await self._record(t, key, amount, instrument, outcome, now, day, asked=True)

    def network_of(self, payment: Payment) -> CardNetwork | WalletNetwork:
        """Voids, refunds and reversals go where the payment went."""
        return self.wallets if network_name(payment) == WALLET else self.network

    # --- void and reversal --------------------------------------------------------------

    async def void(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        rrn: str,
        kind: PaymentKind = PaymentKind.SALE,
    ) -> Outcome:
        """消费撤销 (and 预授权撤销, 完成撤销): a sale or completion of this terminal's open
        batch, or a pre-authorisation of this terminal, in full, undone at the network."""
        if (early := await self._answered_before(t, key)) is not None:
            return early
        original = await self.app.ctx.db.read_now(self._original_in_batch, t, rrn, kind)
        if original is None:
            return await self._record_answer(t, key, Outcome("25"), None, None)
        if original.status is not PaymentStatus.APPROVED:
            return await self._record_answer(t, key, Outcome("22"), None, None)
        if original.amount_minor != amount.amount_minor:
            return await self._record_answer(t, key, Outcome("64"), None, None)
        new_rrn = await self.rrns.next()
        network = self.network_of(original)
        answer = await self.ask(
            self._intent(t, key, new_rrn, network_name(original), "void", amount),
            lambda: network.cancel(original.rrn, new_rrn),
            NetworkAnswer("98", None),
        )
        if answer is None:
            return await self._taken(t, key)
        outcome = Outcome(
            answer.response_code,
            new_rrn,
            original.auth_code,
            original.card_org,
            business_date=self.app.days.open_date().isoformat(),
        )
        to = PaymentStatus.VOIDED if answer.approved else None
        # 完成撤销 puts the hold back, so that it can be completed again.
        hold_to = PaymentStatus.APPROVED if kind is PaymentKind.COMPLETION and to else None
        return await self._record_answer(t, key, outcome, original.id, to, hold_to, asked=True)

    async def complete(
        self, t: Admitted, key: RequestKey, amount: Money, auth_code: str, card: Card
    ) -> Outcome:
        """预授权完成: capture a pre-authorisation of this merchant (named by its
        authorization code and card) within 30 days, for at most 115% of the hold."""
        if (early := await self._answered_before(t, key)) is not None:
            return early
        now = self.app.ctx.now()
        day = self.app.days.open_date(now)
        info = classify(card.pan)
        hold = await self.app.ctx.db.read_now(
            self._hold, t, auth_code, self.app.ctx.keystore.token(card.pan)
        )
        if hold is None or info is None:
            return await self._record_answer(t, key, Outcome("25"), None, None)
        if hold.status is not PaymentStatus.APPROVED:
            return await self._record_answer(t, key, Outcome("22"), None, None)
        if (day - hold.business_date).days > PREAUTH_DAYS:
            return await self._record_answer(t, key, Outcome("12"), None, None)
        if (
            amount.amount_minor <= 0
            or Decimal(amount.amount_minor) > Decimal(hold.amount_minor) * COMPLETION_LIMIT
        ):
            return await self._record_answer(t, key, Outcome("13"), None, None)
        rrn = await self.rrns.next()
        answer = await self.ask(
            self._intent(t, key, rrn, CARD, "capture", amount, now),
            lambda: self.network.capture(hold.rrn, rrn, amount),
            NetworkAnswer("98", info.org, info.issuer_id),
        )
        if answer is None:
            return await self._taken(t, key)
        outcome = Outcome(
            answer.response_code,
            rrn,
            answer.auth_code or auth_code,
            hold.card_org,
            answer.issuer_id or info.issuer_id,
            business_date=day.isoformat(),
        )
        return await self._record(
            t,
            key,
            amount,
            self._card_instrument(card, info, amount),
            outcome,
            now,
            day,
            PaymentKind.COMPLETION,
            original_id=hold.id,
            after=lambda s, held: _move(
                s, held, PaymentStatus.COMPLETED, f"completion {outcome.rrn}", now
            ),
            asked=True,
        )

    def _hold(self, t: Admitted, auth_code: str, pan_token: str) -> Payment | None:
        with self.app.ctx.db.read() as s:
            return s.execute(
                select(Payment)
                .where(
                    Payment.merchant_id == t.merchant_id,
                    Payment.kind == PaymentKind.PREAUTH,
                    Payment.auth_code == auth_code,
                    Payment.pan_token == pan_token,
                )
                .order_by(Payment.id.desc())
                .limit(1)
            ).scalar_one_or_none()

    async def reverse(self, t: Admitted, key: RequestKey, original_mti: str) -> Outcome:
        """冲正: undo whatever the request with this STAN did; always answered 00, the
        same every time, and an original that arrives later is refused.

        What to undo is decided and written first, in one unit of work with the answer:
        the payment moved, or the call the original made (whose answer is not on our
        books) taken for reversal, or, when no call was made yet, a note that refuses the
        original. The network hears of it afterwards, and again from ``Intents.recover``
        if the host stops in between."""
        repeat = await asyncio.to_thread(self._prior_reversal, t.terminal_id, key)
        if repeat is not None:
            return repeat
        now = self.app.ctx.now()
        day = self.app.days.open_date(now)
        original_key = (t.terminal_id, key.batch_no, key.stan, original_mti)
        cause = f"{key.mti} stan {key.stan} rc 00"

        def write(s: Session) -> tuple[Outcome, list[int]]:
            # The original's call first, locked: its own write removes it with the
            # payment, so either the call is still ours to take, or the payment is found.
            call = intent_for(s, original_key)
            if call is not None:
                outcome = Outcome("00", call.rrn)
                _keep_answer(s, t, key, outcome, None, now)
                return outcome, take(call, cause)
            found = _answered_in(s, t.terminal_id, key, original_mti)
            if found is None:
                reversed_before_original(s, original_key, self.app.ctx.settings.currency, now)
                _keep_answer(s, t, key, Outcome("00"), None, now)
                return Outcome("00"), []
            original, answered_rrn = found
            to, undo = None, None
            if original.status is PaymentStatus.APPROVED:
                to, undo = PaymentStatus.REVERSED, original.rrn
            elif original.status is PaymentStatus.VOIDED and answered_rrn not in (
                None,
                original.rrn,
            ):
                # The request reversed was the void itself: undo the void, the sale stands.
                to, undo = PaymentStatus.APPROVED, answered_rrn
            ids = []
            if to is not None and undo is not None:
                # A completion undone puts its hold back; a completion void undone
                # captures it again.
                hold_to = None
                if original.kind is PaymentKind.COMPLETION:
                    hold_to = (
                        PaymentStatus.APPROVED
                        if to is PaymentStatus.REVERSED
                        else PaymentStatus.COMPLETED
                    )
                _apply_move(s, t, original, to, hold_to, cause, now, day)
                amount = Money(original.amount_minor, original.currency)
                ids.append(to_reverse(s, undo, network_name(original), "reversal", amount, now))
            outcome = Outcome("00", original.rrn)
            _keep_answer(s, t, key, outcome, original.id, now)
            return outcome, ids

        try:
            outcome, ids = await self.committer.submit(write)
        except IntegrityError:  # the same reversal raced itself: the first answer stands
            prior = await self.app.ctx.db.read_now(self._prior, t.terminal_id, key)
            return prior or Outcome("96")
        self.day_totals.forget(t.merchant_id)
        await self.intents.undo(ids)
        return outcome

    def _original_in_batch(self, t: Admitted, rrn: str, kind: PaymentKind) -> Payment | None:
        """The payment a void names. A pre-authorisation spans days (a hotel stay), so
        any of this terminal's may be voided; sales and completions only in the open
        batch, as their totals are not yet settled."""
        query = (
            select(Payment)
            .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
            .where(Payment.rrn == rrn, Payment.terminal_id == t.terminal_id, Payment.kind == kind)
        )
        if kind is not PaymentKind.PREAUTH:
            query = query.where(
                TerminalBatch.batch_no == t.batch_no, TerminalBatch.settled_at.is_(None)
            )
        with self.app.ctx.db.read() as s:
            return s.execute(query).scalar_one_or_none()

    def _prior_reversal(self, terminal_id: int, key: RequestKey) -> Outcome | None:
        """A reversal repeated for whatever reason (even another reason code) gets the
        first one's answer."""
        prior = self._prior(terminal_id, key)
        if prior is not None and prior.response_code == "94":
            with self.app.ctx.db.transaction() as s:
                row = s.execute(
                    select(TerminalRequest.answer).where(
                        TerminalRequest.terminal_id == terminal_id,
                        TerminalRequest.batch_no == key.batch_no,
                        TerminalRequest.stan == key.stan,
                        TerminalRequest.mti == key.mti,
                    )
                ).scalar_one()
            return Outcome.from_json(row)
        return prior

    async def _record_answer(
        self,
        t: Admitted,
        key: RequestKey,
        outcome: Outcome,
        payment_id: int | None,
        to: PaymentStatus | None,
        hold_to: PaymentStatus | None = None,
        *,
        asked: bool = False,
    ) -> Outcome:
        """Keep the answer (for the duplicate rule) and move the payment it concerns and,
        when that is a completion, its pre-authorisation to ``hold_to``. ``asked``: the
        network was asked (a void) under ``outcome.rrn``, whose note this write removes."""
        now = self.app.ctx.now()
        day = self.app.days.open_date(now)

        def write(s: Session) -> Outcome:
            final, move = outcome, to
            if asked and outcome.rrn and outcome.response_code != "98":
                claimed = claim(s.connection(), [outcome.rrn])
                if not claimed and outcome.response_code == "00":  # taken for reversal
                    final, move = replace(outcome, response_code="98"), None
            if payment_id is not None and move is not None:
                cause = f"{key.mti} stan {key.stan} rc {final.response_code}"
                _apply_move(s, t, s.get_one(Payment, payment_id), move, hold_to, cause, now, day)
            _keep_answer(s, t, key, final, payment_id, now)
            return final

        try:
            written: Outcome = await self.committer.submit(write)
        except Exception as e:
            written = await self._write_failed(t, key, outcome if asked else None, e)
        finally:
            if to is not None:
                self.day_totals.forget(t.merchant_id)
        self._after_asked(written if asked else None)
        return written

    async def _write_failed(
        self, t: Admitted, key: RequestKey, asked: Outcome | None, error: Exception
    ) -> Outcome:
        """An answer that could not be written: a call the network approved is undone
        there (its note is still open: the write rolled back), then the same request
        racing itself gets the first one's answer; anything else is the host's fault
        (96)."""
        if asked is not None and asked.rrn and asked.response_code == "00":
            await self.intents.reverse_open(asked.rrn, "the host could not record it")
        if isinstance(error, IntegrityError):
            prior = await self.app.ctx.db.read_now(self._prior, t.terminal_id, key)
            return prior or Outcome("96")
        raise error

    def _after_asked(self, written: Outcome | None) -> None:
        if written is not None and written.response_code == "98" and written.rrn:
            self.reverse_in_background(written.rrn)

    def reverse_in_background(self, rrn: str) -> None:
        """A call the network did not answer in time is reversed there, in the
        background (``Intents.recover`` does it if this process stops first)."""
        task = asyncio.ensure_future(
            self.intents.reverse_open(rrn, "no answer from the network in time")
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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

    def _intent(
        self,
        t: Admitted,
        key: RequestKey,
        rrn: str,
        network: str,
        action: str,
        amount: Money,
        now: datetime | None = None,
    ) -> Intent:
        at = now or self.app.ctx.now()
        return Intent(
            rrn, network, action, amount, at, (t.terminal_id, key.batch_no, key.stan, key.mti)
        )

    async def _taken(self, t: Admitted, key: RequestKey) -> Outcome:
        """The answer for a request whose key already had a call: the first answer if
        there is one, 22 if its reversal came first, else 94 (it is on its way twice)."""
        return await self._answered_before(t, key) or Outcome("94")

    # --- refund -----------------------------------------------------------------------

    async def refund(
        self, t: Admitted, key: RequestKey, amount: Money, rrn: str, card: Card
    ) -> Outcome:
        """退货: money back on a sale or completion of this merchant, with the same card,
        within 30 days; all refunds together never exceed the original amount."""
        if (early := await self._answered_before(t, key)) is not None:
            return early
        if amount.amount_minor <= 0:
            return Outcome("13")
        now = self.app.ctx.now()
        original = await self.app.ctx.db.read_now(self._refundable, t, rrn)
        # A scanned code (entry 03, field 57) is tokenised as a wallet code; the digits
        # alone cannot tell (a UnionPay QR code looks like a 19-digit UnionPay card).
        token = self.app.ctx.keystore.token(
            card.pan, kind="wallet" if card.entry_mode == "03" else "pan"
        )
        if original is None or original.pan_token != token:
            return await self._record_answer(t, key, Outcome("25"), None, None)
        if original.status not in (PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED):
            return await self._record_answer(t, key, Outcome("22"), None, None)
        if (self.app.days.open_date(now) - original.business_date).days > REFUND_WINDOW_DAYS:
            return await self._record_answer(t, key, Outcome("12"), None, None)
        if original.refunded_minor + amount.amount_minor > original.amount_minor:
            return await self._record_answer(t, key, Outcome("13"), None, None)
        new_rrn = await self.rrns.next()
        network = self.network_of(original)
        answer = await self.ask(
            self._intent(t, key, new_rrn, network_name(original), "refund", amount, now),
            lambda: network.refund(original.rrn, new_rrn, amount),
            NetworkAnswer("98", None),
        )
        if answer is None:
            return await self._taken(t, key)
        day = self.app.days.open_date(now)
        outcome = Outcome(
            answer.response_code,
            new_rrn,
            answer.auth_code,
            original.card_org,
            answer.issuer_id,
            business_date=day.isoformat(),
        )
        instrument = Instrument(
            original.method,
            original.domestic,
            original.pan_masked or "",
            original.pan_token or "",
            card.entry_mode,
        )

        def credit(s: Session, sale: Payment) -> None:
            sale.refunded_minor += amount.amount_minor
            full = sale.refunded_minor == sale.amount_minor
            moved = PaymentStatus.REFUNDED if full else PaymentStatus.PARTLY_REFUNDED
            _move(s, sale, moved, f"refund {new_rrn}", now)

        return await self._record(
            t, key, amount, instrument, outcome, now, day, PaymentKind.REFUND, original.id, credit,
            asked=True,
        )  # fmt: skip

    def _refundable(self, t: Admitted, rrn: str) -> Payment | None:
        with self.app.ctx.db.read() as s:
            return s.execute(
                select(Payment).where(
                    Payment.rrn == rrn,
                    Payment.merchant_id == t.merchant_id,
                    Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION)),
                )
            ).scalar_one_or_none()

    # --- batch settlement -----------------------------------------------------------

    def batch_totals(self, terminal_id: int, batch_no: str) -> tuple[BatchTotals, BatchTotals]:
        """The host's totals of a terminal's open batch: (domestic, foreign)."""
        debits = (PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED, PaymentStatus.REFUNDED)
        with self.app.ctx.db.read() as s:
            rows = s.execute(
                select(
                    Payment.domestic,
                    Payment.kind,
                    func.count(),
                    func.coalesce(func.sum(Payment.amount_minor), 0),
                )
                .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
                .where(
                    Payment.terminal_id == terminal_id,
                    TerminalBatch.batch_no == batch_no,
                    TerminalBatch.settled_at.is_(None),
                    (
                        Payment.kind.in_((PaymentKind.SALE, PaymentKind.COMPLETION))
                        & Payment.status.in_(debits)
                    )
                    | (
                        (Payment.kind == PaymentKind.REFUND)
                        & (Payment.status == PaymentStatus.APPROVED)
                    ),
                )
                .group_by(Payment.domestic, Payment.kind)
            ).all()
        totals = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
        for domestic, kind, count, amount in rows:
            slot = totals[bool(domestic)]
            if kind is PaymentKind.REFUND:
                slot[2] += int(amount)
                slot[3] += int(count)
            else:
                slot[0] += int(amount)
                slot[1] += int(count)
        return BatchTotals(*totals[True]), BatchTotals(*totals[False])

    async def settle_batch(
        self, t: Admitted, key: RequestKey, domestic: BatchTotals, foreign: BatchTotals
    ) -> Outcome:
        """批结算: compare the terminal's totals with the host's, close the batch."""
        if (early := await self._answered_before(t, key)) is not None:
            return early
        host_domestic, host_foreign = await self.app.ctx.db.read_now(
            self.batch_totals, t.terminal_id, t.batch_no
        )
        flags = ("1" if domestic == host_domestic else "2", "1" if foreign == host_foreign else "2")
        now = self.app.ctx.now()
        outcome = Outcome("00", await self.rrns.next(), balanced=flags)

        def write(s: Session) -> Outcome:
            s.execute(
                update(TerminalBatch)
                .where(
                    TerminalBatch.terminal_id == t.terminal_id,
                    TerminalBatch.batch_no == t.batch_no,
                    TerminalBatch.settled_at.is_(None),
                )
                .values(settled_at=now)
            )
            _keep_answer(s, t, key, outcome, None, now)
            return outcome

        try:
            return await self.committer.submit(write)
        finally:
            self.app.signon.forget(t.tid)  # the next message opens the next batch

    # --- batch upload -----------------------------------------------------------------

    async def upload(
        self, t: Admitted, key: RequestKey, rrn: str, processing_code: str, amount: Money
    ) -> Outcome:
        """批上送: one transaction of a settled batch, as the terminal recorded it."""
        now = self.app.ctx.now()

        def write(s: Session) -> Outcome:
            s.add(
                BatchUpload(
                    terminal_id=t.terminal_id,
                    batch_no=key.batch_no,
                    stan=key.stan,
                    rrn=rrn,
                    processing_code=processing_code,
                    amount_minor=amount.amount_minor,
                    created_at=now,
                )
            )
            return Outcome("00")

        try:
            return await self.committer.submit(write)
        except IntegrityError:
            return Outcome("00")  # the same line again: already kept

    async def end_upload(self, t: Admitted, key: RequestKey, count: int) -> Outcome:
        """The last 0320: compare everything uploaded with the host's records of the
        batch and keep each difference for operations to look at."""
        now = self.app.ctx.now()

        def write(s: Session) -> Outcome:
            uploaded = {
                u.rrn: u
                for u in s.scalars(
                    select(BatchUpload).where(
                        BatchUpload.terminal_id == t.terminal_id,
                        BatchUpload.batch_no == key.batch_no,
                    )
                )
            }
            host = {
                p.rrn: p
                for p in s.scalars(
                    select(Payment)
                    .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
                    .where(
                        Payment.terminal_id == t.terminal_id,
                        TerminalBatch.batch_no == key.batch_no,
                        Payment.status.in_(
                            (
                                PaymentStatus.APPROVED,
                                PaymentStatus.PARTLY_REFUNDED,
                                PaymentStatus.REFUNDED,
                            )
                        ),
                        Payment.kind.in_(
                            (PaymentKind.SALE, PaymentKind.COMPLETION, PaymentKind.REFUND)
                        ),
                    )
                )
            }

            def note(rrn: str, problem: str, terminal: int | None, ours: int | None) -> None:
                s.add(
                    BatchDiscrepancy(
                        terminal_id=t.terminal_id,
                        batch_no=key.batch_no,
                        rrn=rrn,
                        problem=problem,
                        terminal_amount_minor=terminal,
                        host_amount_minor=ours,
                        created_at=now,
                    )
                )

            for rrn, line in uploaded.items():
                mine = host.get(rrn)
                if mine is None:
                    note(rrn, "missing_on_host", line.amount_minor, None)
                elif mine.amount_minor != line.amount_minor:
                    note(rrn, "amount", line.amount_minor, mine.amount_minor)
            for rrn, mine in host.items():
                if rrn not in uploaded:
                    note(rrn, "missing_on_terminal", None, mine.amount_minor)
            if count != len(uploaded):
                note("", "count", count, len(uploaded))
            return Outcome("00")

        return await self.committer.submit(write)

    # --- steps ------------------------------------------------------------------------

    def _screen(
        self,
        conn: Connection,
        t: Admitted,
        amount: Money,
        card: Card | None,
        info: CardInfo | WalletOrg | None,
        day: date,
        token: str | None,
    ) -> str | None:
        """The host's own refusals, before any network is asked (``card`` and ``token``
        are None for a wallet code, ``info`` the card's BIN entry or the code's wallet)."""
        if amount.amount_minor <= 0:
            return "13"
        if info is None:
            return "14"
        if (
            card is not None
            and card.entry_mode == "07"
            and amount > CONTACTLESS_NO_PIN_LIMIT
            and card.pin_block is None
        ):
            return "55"  # above the contactless no-PIN limit a PIN is required
        if token is not None and self._card_testing(conn, token):
            return "59"
        limits = self._limits.get(t.merchant_kind, lambda: self._load_limits(t.merchant_kind))
        if amount.amount_minor > limits.per_txn_limit_minor:
            return "61"
        taken = self.day_totals.taken(conn, t.merchant_id, day)
        if taken + amount.amount_minor > limits.daily_limit_minor:
            return "61"
        return None

    async def _fee(self, t: Admitted, method: PaymentMethod, amount: Money, day: date) -> Money:
        """The fee of the plan in force for the merchant that day, rounded once."""
        plan = self._plans.peek((t.merchant_id, day))
        if plan is None:

            def load() -> FeePlan:
                with self.app.ctx.db.read() as s:
                    return plan_in_force(s, t.merchant_id, day)

            def still(plan: FeePlan) -> bool:
                with self.app.ctx.db.quick_read() as conn:
                    params = {"merchant_id": t.merchant_id, "on": day}
                    in_force = self.app.ctx.db.hot(PLAN_ID_IN_FORCE).scalar(conn, params)
                    return bool(in_force == plan.id)

            plan = await self.app.ctx.db.read_now(
                self._plans.get, (t.merchant_id, day), load, still
            )
        return fee(amount, plan_rate(plan, method))

    def _load_limits(self, kind: MerchantKind) -> KindLimits:
        with self.app.ctx.db.read() as s:
            return limits_for(s, kind)

    def _card_testing(self, conn: Connection, token: str) -> bool:
        """Card testing (试卡): a card refused for a reason that probing produces (bad
        number, expiry, funds, do not honour) several times in a few minutes, at any
        merchant, is declined here with 59 for a while, without asking its issuer."""
        since = self.app.ctx.now() - CARD_TESTING_WINDOW
        params = {"token": token, "since": since}
        refusals = self.app.ctx.db.hot(_CARD_REFUSALS).scalar(conn, params)
        return int(refusals or 0) >= CARD_TESTING_REFUSALS

    def _sale_checks(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        card: Card | None,
        info: CardInfo | WalletOrg | None,
        day: date,
        token: str | None,
    ) -> tuple[Outcome | None, str | None]:
        """Everything a sale asks the database before the network, in one read: an
        answer already given (duplicate rule, wrong batch, reversed first), else the
        host's own refusal if any."""
        with self.app.ctx.db.quick_read() as conn:
            early = self._answered_or_reversed_in(conn, t, key)
            if early is not None:
                return early, None
            return None, self._screen(conn, t, amount, card, info, day, token)

    def _answered_or_reversed(self, t: Admitted, key: RequestKey) -> Outcome | None:
        with self.app.ctx.db.quick_read() as conn:
            return self._answered_or_reversed_in(conn, t, key)

    def _answered_or_reversed_in(
        self, conn: Connection, t: Admitted, key: RequestKey
    ) -> Outcome | None:
        """The answer a request already has: its first answer (or 94 if it changed), 12
        for a batch other than the open one, 22 when its reversal came first."""
        # The request itself (0200/0100) and a reversal of it (0400), in one look.
        params = {"terminal_id": t.terminal_id, "batch_no": key.batch_no}
        params.update(stan=key.stan, mti=key.mti)
        rows = self.app.ctx.db.hot(_REQUEST_AND_REVERSAL).rows(conn, params)
        for mti, fingerprint, answer in rows:
            if mti == key.mti:
                return (
                    Outcome.from_json(answer) if fingerprint == key.fingerprint else Outcome("94")
                )
        if key.batch_no != t.batch_no:
            return Outcome("12")  # not the batch the host gave at sign-on
        if rows:
            return Outcome("22")  # its reversal came first: refused
        return None

    def _pin_for_network(self, t: Admitted, card: Card) -> bytes | None:
        """The PIN block re-encrypted from the PIK to the zone PIN key; a block that does
        not decrypt to a valid format 0 block goes on as an all-zero block, which the
        issuer refuses as a wrong PIN."""
        if card.pin_block is None:
            return None
        try:
            return tdes.translate_pin_block(t.pik, self.zpk, card.pin_block, card.pan)
        except InvalidInput:
            return bytes(8)

    async def _authorise(self, request: CardRequest, info: CardInfo) -> NetworkAnswer:
        """A balance inquiry's question (nothing is held: nothing to note or undo)."""
        try:
            async with asyncio.timeout(self.network_timeout_s):  # no task, unlike wait_for
                return await self.network.authorise(request)
        except TimeoutError:
            return NetworkAnswer("98", info.org, info.issuer_id)

    def _card_instrument(self, card: Card, info: CardInfo | None, amount: Money) -> Instrument:
        return Instrument(
            method=payment_method(info, card.entry_mode, amount) if info else None,
            domestic=info.domestic if info else None,
            masked=mask_pan(card.pan),
            token=self.app.ctx.keystore.token(card.pan),
            entry_mode=card.entry_mode,
        )

    async def _record(
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
        after: Callable[[Session, Payment], None] | None = None,
        *,
        asked: bool = False,
    ) -> Outcome:
        """Write a payment, its first event and the answer in one unit of work; when it
        was approved, ``after`` moves the payment it refers to (same unit of work).
        ``asked``: the network was asked under ``outcome.rrn``; this write removes the
        call's note, or records the payment as not charged (98) if the call was taken
        for reversal meanwhile."""
        status = (
            PaymentStatus.APPROVED
            if outcome.response_code == "00"
            else PaymentStatus.TIMED_OUT
            if outcome.response_code == "98"
            else PaymentStatus.DECLINED
        )

        fee_minor = 0
        if status is PaymentStatus.APPROVED and kind in CAPTURES and instrument.method:
            fee_minor = (await self._fee(t, instrument.method, amount, day)).amount_minor

        record = _Record(t, key, amount, instrument, outcome, status, fee_minor, now, day, kind,
                         original_id, after, asked)  # fmt: skip
        try:
            written: Outcome = await self.committer.submit_bulk(_write_records, record)
        except Exception as e:
            return await self._write_failed(t, key, outcome if asked else None, e)
        if written.response_code == "00" and kind in CAPTURES:
            self.day_totals.add(t.merchant_id, day, amount.amount_minor)
        self._after_asked(written if asked else None)
        return written


@dataclass(frozen=True)
class _Record:
    """A payment to write with its first event, its journal entry and its answer."""

    t: Admitted
    key: RequestKey
    amount: Money
    instrument: Instrument
    outcome: Outcome
    status: PaymentStatus
    fee_minor: int
    now: datetime
    day: date
    kind: PaymentKind
    original_id: int | None
    after: Callable[[Session, Payment], None] | None  # moves the original, if approved
    asked: bool  # the network was asked under outcome.rrn: its call's note is claimed

    def taken(self) -> _Record:
        """This record, when its call was taken for reversal before it could be
        written: not charged (98), as the network will have been told."""
        outcome = replace(self.outcome, response_code="98", auth_code=None)
        return replace(self, outcome=outcome, status=PaymentStatus.TIMED_OUT, fee_minor=0)

    @property
    def cause(self) -> str:
        key = self.key
        return f"{key.mti} {self.kind.value} stan {key.stan} rc {self.outcome.response_code}"


def _write_records(s: Session, records: Sequence[_Record]) -> list[Outcome]:
    """A batch of payments in one statement per table: the writer is the host's
    narrowest point, and a statement's cost is mostly its own, not its rows'. Core
    inserts of prebuilt statements: ORM units of work cost several times more."""
    conn = s.connection()
    # The calls the network answered are ours to record, unless taken for reversal
    # meanwhile; a call unanswered (98) stays noted until it is reversed.
    asked = [r.outcome.rrn for r in records if r.asked and r.outcome.rrn
             and r.outcome.response_code != "98"]  # fmt: skip
    if asked:
        claimed = claim(conn, asked)
        records = [
            r.taken() if r.asked and r.status is PaymentStatus.APPROVED
            and r.outcome.rrn not in claimed else r
            for r in records
        ]  # fmt: skip
    ids = list(
        conn.execute(
            _INSERT_PAYMENTS,
            [
                {"kind": r.kind, "status": r.status, "response_code": r.outcome.response_code,
                 "merchant_id": r.t.merchant_id, "shop_id": r.t.shop_id,
                 "terminal_id": r.t.terminal_id,
                 "batch_id": r.t.batch_id,  # _count_in_batches refuses it if closed since
                 "stan": r.key.stan, "rrn": r.outcome.rrn, "auth_code": r.outcome.auth_code,
                 "amount_minor": r.amount.amount_minor, "currency": r.amount.currency,
                 "method": r.instrument.method, "card_org": r.outcome.card_org,
                 "domestic": r.instrument.domestic, "pan_masked": r.instrument.masked,
                 "pan_token": r.instrument.token, "entry_mode": r.instrument.entry_mode,
                 "business_date": r.day, "original_id": r.original_id, "refunded_minor": 0,
                 "fee_minor": r.fee_minor, "created_at": r.now, "updated_at": r.now}
                for r in records
            ],
        ).scalars()
    )  # fmt: skip
    conn.execute(
        _INSERT_EVENT,
        [{"payment_id": i, "from_status": None, "to_status": r.status, "cause": r.cause,
          "at": r.now} for i, r in zip(ids, records, strict=True)],
    )  # fmt: skip
    postings = []
    for payment_id, r in zip(ids, records, strict=True):
        entry = _ENTRY_OF.get(r.kind)  # a hold moves no money: no entry
        if r.status is PaymentStatus.APPROVED and r.outcome.card_org and entry is not None:
            org, minor = r.outcome.card_org, r.amount.amount_minor
            lines = (
                ledger.capture_lines(org, r.t.mid, minor, r.fee_minor)
                if entry is EntryKind.CAPTURE
                else ledger.refund_lines(org, r.t.mid, minor)
            )
            postings.append(ledger.Posting(entry, lines, r.day, r.now, r.cause, payment_id,
                                           r.amount.currency))  # fmt: skip
    ledger.post_many(s, postings)
    for r in records:
        if r.after is not None and r.status is PaymentStatus.APPROVED and r.original_id is not None:
            r.after(s, s.get_one(Payment, r.original_id))
    _keep_answers(s, [(r.t, r.key, r.outcome, i, r.now) for i, r in zip(ids, records, strict=True)])
    approved = Counter(r.t.batch_id for r in records if r.status is PaymentStatus.APPROVED)
    _count_in_batches(s, approved)
    return [r.outcome for r in records]


def _keep_answer(
    s: Session, t: Admitted, key: RequestKey, outcome: Outcome, payment_id: int | None, at: datetime
) -> None:
    """Remember the answer under the duplicate rule's key."""
    _keep_answers(s, [(t, key, outcome, payment_id, at)])


def _keep_answers(
    s: Session, answers: Sequence[tuple[Admitted, RequestKey, Outcome, int | None, datetime]]
) -> None:
    s.connection().execute(
        _INSERT_REQUEST,
        [
            {"terminal_id": t.terminal_id, "batch_no": key.batch_no, "stan": key.stan,
             "mti": key.mti, "fingerprint": key.fingerprint, "answer": outcome.to_json(),
             "payment_id": payment_id, "created_at": at}
            for t, key, outcome, payment_id, at in answers
        ],
    )  # fmt: skip


def _count_in_batches(s: Session, counts: Mapping[int, int]) -> None:
    """More transactions in batches (a batch that holds any cannot be left unsettled).
    A batch settled since the request was admitted is refused: the job fails (96) rather
    than slip a payment into totals already agreed with the terminal."""
    if not counts:
        return
    conn = s.connection()
    params = [{"batch_id": batch_id, "count": n} for batch_id, n in counts.items()]
    if conn.dialect.supports_sane_multi_rowcount:
        counted = conn.execute(_COUNT_IN_BATCH, params).rowcount
    else:  # pragma: no cover - both supported dialects count an executemany's rows
        counted = sum(conn.execute(_COUNT_IN_BATCH, p).rowcount for p in params)
    invariant(counted == len(params), "a batch was settled while a payment was in flight")


def network_name(payment: Payment) -> str:
    """Which connector a payment went through: its voids, refunds and reversals too."""
    return WALLET if payment.card_org in _WALLET_ORGS else CARD


_WALLET_ORGS = frozenset(o.value for o in WalletOrg)


def _answered_in(
    s: Session, terminal_id: int, key: RequestKey, mti: str
) -> tuple[Payment, str | None] | None:
    """The payment an earlier request with this batch and STAN concerned, if any, and
    the RRN that request was answered with (a void's differs from its sale's)."""
    row = s.execute(
        select(Payment, TerminalRequest.answer)
        .join(TerminalRequest, TerminalRequest.payment_id == Payment.id)
        .join(TerminalBatch, TerminalBatch.id == Payment.batch_id)
        .where(
            TerminalBatch.settled_at.is_(None),  # a settled batch is final
            TerminalRequest.terminal_id == terminal_id,
            TerminalRequest.batch_no == key.batch_no,
            TerminalRequest.stan == key.stan,
            TerminalRequest.mti == mti,
        )
    ).first()
    if row is None:
        return None
    payment, answer = row
    return payment, answer.get("rrn")


def _apply_move(
    s: Session,
    t: Admitted,
    payment: Payment,
    to: PaymentStatus,
    hold_to: PaymentStatus | None,
    cause: str,
    at: datetime,
    day: date,
) -> None:
    """A void or reversal on our books: the payment's transition, its ledger side, the
    batch's count and, for a completion, its pre-authorisation's transition."""
    was = payment.status
    _move(s, payment, to, cause, at)
    _post_move(s, payment, was, t.mid, cause, at, day)
    _count_in_batches(s, {t.batch_id: 1})  # voids stay in the payment's batch
    if hold_to is not None and payment.original_id is not None:
        _move(s, s.get_one(Payment, payment.original_id), hold_to, cause, at)


def _post_move(
    s: Session, p: Payment, was: PaymentStatus, mid: str, cause: str, at: datetime, day: date
) -> None:
    """The ledger's side of a capture's void or reversal (the capture's entry, negated)
    and of a void's reversal (the capture again)."""
    if p.kind not in CAPTURES or p.card_org is None:
        return
    lines = ledger.capture_lines(p.card_org, mid, p.amount_minor, p.fee_minor)
    undone = was is PaymentStatus.APPROVED and p.status in (
        PaymentStatus.VOIDED,
        PaymentStatus.REVERSED,
    )
    redone = was is PaymentStatus.VOIDED and p.status is PaymentStatus.APPROVED
    if undone or redone:
        ledger.post(
            s,
            EntryKind.CAPTURE_UNDONE if undone else EntryKind.CAPTURE,
            ledger.negated(lines) if undone else lines,
            business_date=day,
            at=at,
            memo=cause,
            payment_id=p.id,
            currency=p.currency,
        )


def _move(s: Session, payment: Payment, to: PaymentStatus, cause: str, at: datetime) -> None:
    """One transition of a payment, with its event."""
    s.add(
        PaymentEvent(
            payment_id=payment.id, from_status=payment.status, to_status=to, cause=cause, at=at
        )
    )
    payment.status, payment.updated_at = to, at


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
