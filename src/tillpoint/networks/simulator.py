"""A card network simulator: issuers holding the test cards of the terminal profile
(shared/specs/pos8583.md, section 6), behind the ``CardNetwork`` interface.

Cardholder balances live here, apart from the acquirer's records, as they would at a
bank. The state is in memory: a restart gives every card its opening balance back.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tillpoint.core.clock import BUSINESS_TZ, Clock, SystemClock
from tillpoint.core.errors import InvalidInput
from tillpoint.core.money import Money
from tillpoint.networks.bins import CardInfo, classify
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.connector import AuthKind, CardRequest, NetworkAnswer
from tillpoint.security import tdes

TEST_PIN = "123456"
MAX_PIN_TRIES = 3
COMPLETION_LIMIT = Decimal("1.15")  # a completion takes at most 115% of the hold


@dataclass
class TestCard:
    pan: str
    expiry: str  # YYMM
    available: Money  # debit balance, or credit limit still open
    lost: bool = False
    silent: bool = False  # the issuer never answers
    refused: bool = False  # the issuer refuses everything: do not honour
    pin_failures: int = 0


def section6_cards() -> list[TestCard]:
    yuan = Money.parse
    return [
        TestCard("6212340000000000012", "3012", yuan("100000.00")),
        TestCard("6250940000000000016", "3012", yuan("50000.00")),
        TestCard("6212340000000000020", "3012", yuan("10.00")),
        TestCard("6212340000000000038", "2001", yuan("100000.00")),
        TestCard("6212340000000000046", "3012", yuan("100000.00"), lost=True),
        TestCard("6212340000000000053", "3012", yuan("100000.00"), silent=True),
        TestCard("4761340000000019", "3012", yuan("50000.00")),
        TestCard("5222220000000005", "3012", yuan("50000.00")),
    ]


def extra_cards() -> list[TestCard]:
    """Test cards beyond section 6, for the response codes it has no card for."""
    return [TestCard("6212340000000000061", "3012", Money.parse("100000.00"), refused=True)]


@dataclass
class _Auth:
    pan: str
    kind: AuthKind
    amount: Money
    answer: NetworkAnswer
    reversed: bool = False
    cancels: str | None = None  # a void: the reference it undid
    completes: str | None = None  # a completion: the hold it captured
    ref: str = ""
    captured: Money | None = None
    refunded: Money = field(default_factory=Money.zero)


class CardNetworkSimulator:
    """Issuers of the test cards. PINs are checked against the zone PIN key (ZPK) the
    host translates PIN blocks into."""

    def __init__(
        self, zpk: bytes, clock: Clock | None = None, journal: ClearingJournal | None = None
    ) -> None:
        self._zpk = zpk
        self._journal = journal
        self._clock = clock or SystemClock()
        self._cards = {c.pan: c for c in [*section6_cards(), *extra_cards()]}
        self._auths: dict[str, _Auth] = {}
        self._codes = itertools.count(100001)

    def card(self, pan: str) -> TestCard | None:
        return self._cards.get(pan)

    async def authorise(self, request: CardRequest) -> NetworkAnswer:
        info = classify(request.pan)
        card = self._cards.get(request.pan)
        if info is None or card is None:
            return NetworkAnswer("14", info.org if info else None)
        if card.silent:
            await asyncio.Event().wait()  # never answers; the host's time-out decides
        if request.network_ref in self._auths:  # the same request again: same answer
            return self._auths[request.network_ref].answer
        refusal = self._check(card, request)
        if refusal is not None:
            return NetworkAnswer(refusal, info.org, info.issuer_id)
        if request.kind is AuthKind.BALANCE:
            return NetworkAnswer("00", info.org, info.issuer_id, balance=card.available)
        if request.amount > card.available:
            return NetworkAnswer("51", info.org, info.issuer_id)
        card.available -= request.amount  # a sale debits, a pre-auth holds: same here
        answer = self._record(request.network_ref, request.pan, request.kind, request.amount, info)
        if request.kind is AuthKind.SALE:
            self._clear(self._auths[request.network_ref], +1)
        return answer

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        auth = self._auths.get(network_ref)
        if auth is None or auth.reversed:
            return NetworkAnswer("00", None)  # nothing to undo: done already
        auth.reversed = True
        if auth.cancels is not None:  # reversing a void: the original stands again
            original = self._auths[auth.cancels]
            self._charge(original, undo=False)
            original.reversed = False
        else:
            self._charge(auth, undo=True)
        info = classify(auth.pan)
        return NetworkAnswer("00", info.org if info else None)

    def _charge(self, auth: _Auth, *, undo: bool) -> None:
        """Take (or give back) what an authorisation took from the card. A completion
        took only what exceeded its hold, and undoing it puts the hold back."""
        card = self._cards[auth.pan]
        if auth.completes is not None:
            hold = self._auths[auth.completes]
            taken = auth.amount - hold.amount
            hold.captured = None if undo else auth.amount
        else:
            taken = auth.captured or auth.amount
        card.available = card.available + taken if undo else card.available - taken
        if auth.kind is AuthKind.SALE:  # a hold owes the acquirer nothing
            self._clear(auth, -1 if undo else +1)

    def _clear(self, auth: _Auth, sign: int) -> None:
        """What the acquirer is owed for this authorisation moves: into the clearing
        file of the day."""
        info = classify(auth.pan)
        if self._journal is not None and info is not None:
            amount = auth.amount
            self._journal.record(info.org.value, auth.ref, sign * amount.amount_minor,
                                 amount.currency)  # fmt: skip

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        original = self._auths.get(original_ref)
        if original is None or original.reversed:
            return NetworkAnswer("25" if original is None else "22", None)
        if network_ref in self._auths:
            return self._auths[network_ref].answer
        await self.reverse(original_ref)
        info = classify(original.pan)
        assert info is not None
        answer = self._record(network_ref, original.pan, original.kind, Money.zero(), info)
        self._auths[network_ref].cancels = original_ref
        return answer

    async def capture(self, preauth_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        hold = self._auths.get(preauth_ref)
        if hold is None or hold.kind is not AuthKind.PREAUTH or hold.reversed:
            return NetworkAnswer("25", None)
        info = classify(hold.pan)
        assert info is not None
        if hold.captured is not None:
            done = self._auths.get(network_ref)
            return done.answer if done is not None else NetworkAnswer("22", info.org)
        if amount.to_decimal() > hold.amount.to_decimal() * COMPLETION_LIMIT:
            return NetworkAnswer("13", info.org, info.issuer_id)
        card = self._cards[hold.pan]
        extra = amount - hold.amount
        if extra > Money.zero(amount.currency) and extra > card.available:
            return NetworkAnswer("51", info.org, info.issuer_id)
        card.available -= extra  # the hold becomes the charge; any excess is taken too
        hold.captured = amount
        answer = self._record(network_ref, hold.pan, AuthKind.SALE, amount, info)
        self._auths[network_ref].completes = preauth_ref
        self._clear(self._auths[network_ref], +1)
        return answer

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        sale = self._auths.get(original_ref)
        if sale is None or sale.reversed or sale.kind is not AuthKind.SALE:
            return NetworkAnswer("25", None)
        info = classify(sale.pan)
        assert info is not None
        if network_ref in self._auths:
            return self._auths[network_ref].answer
        if sale.refunded + amount > sale.amount:
            return NetworkAnswer("13", info.org, info.issuer_id)
        sale.refunded += amount
        self._cards[sale.pan].available += amount
        answer = self._record(
            network_ref, sale.pan, AuthKind.SALE, Money.zero(amount.currency), info
        )
        if self._journal is not None:
            self._journal.record(info.org.value, network_ref, -amount.amount_minor,
                                 amount.currency)  # fmt: skip
        return answer

    def _check(self, card: TestCard, request: CardRequest) -> str | None:
        if card.lost:
            return "41"
        if card.refused:
            return "05"
        today: date = self._clock.now().astimezone(BUSINESS_TZ).date()
        if (int(card.expiry[:2]), int(card.expiry[2:])) < (today.year % 100, today.month):
            return "54"
        if card.pin_failures >= MAX_PIN_TRIES:
            return "75"
        if request.pin_block is not None:
            try:
                pin = tdes.decrypt_pin(self._zpk, request.pin_block, card.pan)
            except InvalidInput:
                pin = None
            if pin != TEST_PIN:
                card.pin_failures += 1
                return "75" if card.pin_failures >= MAX_PIN_TRIES else "55"
            card.pin_failures = 0
        return None

    def _record(
        self, ref: str, pan: str, kind: AuthKind, amount: Money, info: CardInfo
    ) -> NetworkAnswer:
        code = f"{next(self._codes) % 10**6:06d}"
        answer = NetworkAnswer("00", info.org, info.issuer_id, auth_code=code)
        self._auths[ref] = _Auth(pan, kind, amount, answer, ref=ref)
        return answer
