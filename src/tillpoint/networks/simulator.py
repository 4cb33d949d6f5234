"""A card network simulator: issuers holding the test cards of the terminal profile
(docs/protocol.md), behind the ``CardNetwork`` interface.

Cardholder balances live here, apart from the acquirer's records, as they would at a
bank: in ``cards.sqlite3`` in the networks' directory (or in memory), so that balances,
PIN tries and authorisations outlive a restart and yesterday's sale can be refunded.
Those records name a card by its place in the test deck, never by its number.

Every test card is also a chip card of the demo issuer (spec 4.10, cryptogram version
18, ``security/emv.py``): its ICC master key derives from ``DEMO_IMK_AC``. A request
read from the chip (``CardRequest.chip``) is decided only if its ARQC verifies, covers
the amount asked, and was not used before; else ``88`` and nothing is charged. Every
answer to a chip request about a card of the deck carries the issuer's 55: tag 91, the
ARPC over the request's ARQC and the card status update (CSU), ``00000000`` for an
approval and ``00800000`` otherwise.

Replays: the issuer keeps every ARQC it verified, with the reference it came under, and
answers ``88`` to the same cryptogram under another reference. It does not refuse an ATC
lower than the last one it saw: the virtual cards live in the terminals' state files,
each of which counts its own copy of a test card's ATC up from 1, so two terminals
using one test card would refuse each other.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from tillpoint.core.clock import BUSINESS_TZ, Clock, SystemClock
from tillpoint.core.errors import InvalidInput
from tillpoint.core.files import create_private
from tillpoint.core.money import Money
from tillpoint.iso8583 import icc
from tillpoint.networks.bins import CardInfo, classify
from tillpoint.networks.clearing import NOBODY, Acceptor, ClearingJournal
from tillpoint.networks.connector import AuthKind, CardOrg, CardRequest, ChipData, NetworkAnswer
from tillpoint.networks.held import EarlyReversals, add_text_columns
from tillpoint.security import emv, tdes

TEST_PIN = "123456"
#: The demo issuer's master key for application cryptograms (IMK-AC), from which every
#: test chip card's own key derives: a test key of the profile, never for production.
DEMO_IMK_AC = bytes.fromhex("9E15204313F7318ACB79B90BD986AD29")
CHIP_REFUSED = "88"  # the ARQC did not verify (or covers another amount, or was used)
MALFORMED = "30"
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
    cancels: str | None = None  # a void: the reference it undid; a refund: its sale
    completes: str | None = None  # a completion: the hold it captured
    ref: str = ""
    captured: Money | None = None
    refunded: Money = field(default_factory=Money.zero)
    # Whom it is cleared for: as the request named the merchant (a completion, refund
    # or void: as its original did) and the class the acquirer priced it in.
    acceptor: Acceptor = NOBODY


@dataclass(frozen=True)
class _Chip:
    """A chip request as the issuer reads it: its tags and the transaction's session."""

    tags: dict[str, bytes]
    session: emv.Session

    def answered(self, answer: NetworkAnswer) -> NetworkAnswer:
        """The answer with the issuer's 55: tag 91, the ARPC over the request's ARQC and
        the CSU (approved or not), whatever the decision."""
        csu = emv.CSU_APPROVED if answer.approved else emv.CSU_DECLINED
        arpc = self.session.arpc(self.tags["9F26"], csu)
        return replace(answer, icc=icc.issuer_data(arpc, csu))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (
    card INTEGER PRIMARY KEY, available_minor INTEGER NOT NULL, currency TEXT NOT NULL,
    pin_failures INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cryptograms (
    card INTEGER NOT NULL, arqc TEXT NOT NULL, ref TEXT NOT NULL, PRIMARY KEY (card, arqc)
);
CREATE TABLE IF NOT EXISTS auths (
    ref TEXT PRIMARY KEY, card INTEGER NOT NULL, kind TEXT NOT NULL,
    amount_minor INTEGER NOT NULL, currency TEXT NOT NULL, response_code TEXT NOT NULL,
    org TEXT, issuer_id TEXT NOT NULL, auth_code TEXT, reversed INTEGER NOT NULL,
    cancels TEXT, completes TEXT, captured_minor INTEGER, refunded_minor INTEGER NOT NULL,
    mid TEXT NOT NULL DEFAULT '', mcc TEXT NOT NULL DEFAULT '',
    fee_class TEXT NOT NULL DEFAULT ''
);
"""
# Books written before authorisations kept their acceptor gain its columns (empty).
_ACCEPTOR_COLUMNS = ("mid", "mcc", "fee_class")
REVERSED_FIRST = "22"  # the answer to a request whose reversal arrived before it


_KEEP_AUTH = (
    "INSERT OR REPLACE INTO auths VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class _IssuerBook:
    """The issuers' records: each card's balance and PIN tries, each authorisation.
    Authorisations are cached in memory once read or written."""

    def __init__(self, path: Path | None, deck: list[TestCard]) -> None:
        if path is not None:
            create_private(path)
        self._db = sqlite3.connect(
            ":memory:" if path is None else path, check_same_thread=False, isolation_level=None
        )
        self._lock = threading.Lock()
        self._deck = deck
        self._place = {c.pan: n for n, c in enumerate(deck)}
        self._auths: dict[str, _Auth] = {}
        with self._lock:
            self._db.execute("PRAGMA busy_timeout=10000")  # another process may be writing
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            add_text_columns(self._db, "auths", _ACCEPTOR_COLUMNS)
            rows = self._db.execute(
                "SELECT card, available_minor, currency, pin_failures FROM cards"
            )
            for n, available, currency, failures in rows:
                if n < len(deck):
                    deck[n].available, deck[n].pin_failures = Money(available, currency), failures
        self.early = EarlyReversals(self._db, self._lock)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM auths").fetchone()[0])

    def auth(self, ref: str) -> _Auth | None:
        known = self._auths.get(ref)
        if known is not None:
            return known
        with self._lock:
            row = self._db.execute("SELECT * FROM auths WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            return None
        (ref, n, kind, amount, currency, rc, org, issuer, code, reversed_, cancels, completes,
         captured, refunded, mid, mcc, fee_class) = row  # fmt: skip
        answer = NetworkAnswer(rc, None if org is None else CardOrg(org), issuer, auth_code=code)
        auth = _Auth(self._deck[n].pan, AuthKind(kind), Money(amount, currency), answer,
                     bool(reversed_), cancels, completes, ref,
                     None if captured is None else Money(captured, currency),
                     Money(refunded, currency), Acceptor(mid, mcc, fee_class))  # fmt: skip
        self._auths[ref] = auth
        return auth

    def keep(self, *auths: _Auth) -> None:
        """Write authorisations and their cards' balances, as they are now."""
        with self._lock:
            self._db.execute("BEGIN")  # one commit for them all, or none on an error
            with self._db:
                for a in auths:
                    self._auths[a.ref] = a
                    card = self._deck[self._place[a.pan]]
                    self._db.execute(
                        _KEEP_AUTH,
                        (a.ref, self._place[a.pan], a.kind.value, a.amount.amount_minor,
                         a.amount.currency, a.answer.response_code,
                         None if a.answer.card_org is None else a.answer.card_org.value,
                         a.answer.issuer_id, a.answer.auth_code, int(a.reversed), a.cancels,
                         a.completes, None if a.captured is None else a.captured.amount_minor,
                         a.refunded.amount_minor, a.acceptor.mid, a.acceptor.mcc,
                         a.acceptor.fee_class),
                    )  # fmt: skip
                    self._keep_card(card)

    def replayed(self, pan: str, arqc: bytes, ref: str) -> bool:
        """Whether this card's cryptogram came before under another reference; the
        first time, it is kept with ``ref``."""
        place = self._place[pan]
        with self._lock:
            row = self._db.execute(
                "SELECT ref FROM cryptograms WHERE card = ? AND arqc = ?", (place, arqc.hex())
            ).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO cryptograms VALUES (?, ?, ?)", (place, arqc.hex(), ref)
                )
                return False
            return bool(row[0] != ref)

    def keep_card(self, card: TestCard) -> None:
        with self._lock:
            self._keep_card(card)

    def _keep_card(self, card: TestCard) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?)",
            (self._place[card.pan], card.available.amount_minor, card.available.currency,
             card.pin_failures),
        )  # fmt: skip

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CardNetworkSimulator:
    """Issuers of the test cards. PINs are checked against the zone PIN key (ZPK) the
    host translates PIN blocks into. ``path``: where the issuers keep their records
    (none: in memory only). ``cards``: more cards the issuers hold, after the test deck
    (the traffic simulator's customers); a record names a card by its place in the
    deck, so a file of records goes only with the deck that wrote it."""

    def __init__(
        self,
        zpk: bytes,
        clock: Clock | None = None,
        journal: ClearingJournal | None = None,
        *,
        path: Path | None = None,
        cards: Sequence[TestCard] = (),
    ) -> None:
        self._zpk = zpk
        self._journal = journal
        self._clock = clock or SystemClock()
        deck = [*section6_cards(), *extra_cards(), *cards]
        self._cards = {c.pan: c for c in deck}
        self._book = _IssuerBook(path, deck)
        self._codes = itertools.count(100001 + self._book.count())
        self._icc_keys: dict[tuple[str, str], bytes] = {}

    def card(self, pan: str) -> TestCard | None:
        return self._cards.get(pan)

    def close(self) -> None:
        self._book.close()

    async def authorise(self, request: CardRequest) -> NetworkAnswer:
        info = classify(request.pan)
        card = self._cards.get(request.pan)
        if info is None or card is None:
            return NetworkAnswer("14", info.org if info else None)
        if card.silent:
            await asyncio.Event().wait()  # never answers; the host's time-out decides
        if request.chip is None:
            return self._authorise(card, info, request, None)
        chip = self._chip(card.pan, request.chip)
        if chip is None:
            return NetworkAnswer(MALFORMED, info.org, info.issuer_id)
        return chip.answered(self._authorise(card, info, request, chip))

    def _authorise(
        self, card: TestCard, info: CardInfo, request: CardRequest, chip: _Chip | None
    ) -> NetworkAnswer:
        known = self._answered(request.network_ref)
        if known is not None:  # the same request again: same answer
            return known
        if chip is not None:
            refused = self._chip_refusal(card.pan, chip, request.amount, request.network_ref)
            if refused is not None:
                return NetworkAnswer(refused, info.org, info.issuer_id)
        refusal = self._check(card, request)
        if refusal is not None:
            return NetworkAnswer(refusal, info.org, info.issuer_id)
        if request.kind is AuthKind.BALANCE:
            return NetworkAnswer("00", info.org, info.issuer_id, balance=card.available)
        if request.amount > card.available:
            return NetworkAnswer("51", info.org, info.issuer_id)
        card.available -= request.amount  # a sale debits, a pre-auth holds: same here
        auth = self._record(
            request.network_ref,
            request.pan,
            request.kind,
            request.amount,
            info,
            Acceptor(request.mid, request.mcc, request.fee_class),
        )
        self._book.keep(auth)
        if request.kind is AuthKind.SALE:
            self._clear(auth, +1)
        return auth.answer

    # --- chip cards -------------------------------------------------------------------

    def _chip(self, pan: str, data: ChipData) -> _Chip | None:
        """A chip request of a test card, or None when its 55 or PSN is malformed (30)."""
        try:
            tags = icc.request_tags(data.icc)
            key = self._icc_keys.get((pan, data.psn))
            if key is None:  # derived once per card and PSN
                key = self._icc_keys[(pan, data.psn)] = emv.icc_master_key(
                    DEMO_IMK_AC, pan, data.psn
                )
        except InvalidInput:
            return None
        return _Chip(tags, emv.Session.of(key, tags["9F36"]))

    def _chip_refusal(self, pan: str, chip: _Chip, amount: Money, ref: str) -> str | None:
        """88 unless the ARQC verifies, covers the amount asked (9F02), and was not used
        before under another reference."""
        if not chip.session.verify_arqc(chip.tags):
            return CHIP_REFUSED
        if icc.amount_minor(chip.tags) != amount.amount_minor:
            return CHIP_REFUSED
        if self._book.replayed(pan, chip.tags["9F26"], ref):
            return CHIP_REFUSED
        return None

    def _answered(self, ref: str) -> NetworkAnswer | None:
        """The answer a reference already has: its request's, or a refusal when its
        reversal came first."""
        known = self._book.auth(ref)
        if known is not None:
            return known.answer
        if ref in self._book.early:
            return NetworkAnswer(REVERSED_FIRST, None)
        return None

    async def reverse(self, network_ref: str) -> NetworkAnswer:
        auth = self._book.auth(network_ref)
        if auth is None:
            self._book.early.add(network_ref)  # a late request is refused
            return NetworkAnswer("00", None)
        if auth.reversed:
            return NetworkAnswer("00", None)  # nothing to undo: done already
        auth.reversed = True
        original = None if auth.cancels is None else self._book.auth(auth.cancels)
        if original is not None and auth.kind is AuthKind.REFUND:
            # reversing a refund: the money goes back to the merchant's side
            original.refunded -= auth.amount
            self._cards[auth.pan].available -= auth.amount
            self._book.keep(auth, original)
            self._clear(auth, +1)
        elif original is not None:  # reversing a void: the original stands again
            changed = self._charge(original, undo=False)
            original.reversed = False
            self._book.keep(auth, original, *changed)
        else:
            self._book.keep(auth, *self._charge(auth, undo=True))
        info = classify(auth.pan)
        return NetworkAnswer("00", info.org if info else None)

    def _charge(self, auth: _Auth, *, undo: bool) -> list[_Auth]:
        """Take (or give back) what an authorisation took from the card. A completion
        took only what exceeded its hold, and undoing it puts the hold back. Gives the
        authorisations changed besides ``auth`` (the hold of a completion)."""
        card = self._cards[auth.pan]
        changed = []
        hold = None if auth.completes is None else self._book.auth(auth.completes)
        if hold is not None:
            taken = auth.amount - hold.amount
            hold.captured = None if undo else auth.amount
            changed.append(hold)
        else:
            taken = auth.captured or auth.amount
        card.available = card.available + taken if undo else card.available - taken
        if auth.kind is AuthKind.SALE:  # a hold owes the acquirer nothing
            self._clear(auth, -1 if undo else +1)
        return changed

    def _clear(self, auth: _Auth, sign: int) -> None:
        """What the acquirer is owed for this authorisation moves: into the clearing
        file of the day."""
        info = classify(auth.pan)
        if self._journal is not None and info is not None:
            amount = auth.amount
            self._journal.record(info.org.value, auth.ref, sign * amount.amount_minor,
                                 amount.currency, auth.acceptor)  # fmt: skip

    async def cancel(self, original_ref: str, network_ref: str) -> NetworkAnswer:
        original = self._book.auth(original_ref)
        if original is None or original.reversed:
            return NetworkAnswer("25" if original is None else "22", None)
        known = self._answered(network_ref)
        if known is not None:
            return known
        await self.reverse(original_ref)
        info = classify(original.pan)
        assert info is not None
        void = self._record(
            network_ref, original.pan, original.kind, Money.zero(), info, original.acceptor
        )
        void.cancels = original_ref
        self._book.keep(void)
        return void.answer

    async def capture(
        self,
        preauth_ref: str,
        network_ref: str,
        amount: Money,
        chip: ChipData | None = None,
        fee_class: str = "",
    ) -> NetworkAnswer:
        hold = self._book.auth(preauth_ref)
        if hold is None or hold.kind is not AuthKind.PREAUTH or hold.reversed:
            return NetworkAnswer("25", None)
        info = classify(hold.pan)
        assert info is not None
        acceptor = replace(hold.acceptor, fee_class=fee_class)
        if chip is None:
            return self._capture(hold, info, network_ref, amount, None, acceptor)
        read = self._chip(hold.pan, chip)
        if read is None:
            return NetworkAnswer(MALFORMED, info.org, info.issuer_id)
        return read.answered(self._capture(hold, info, network_ref, amount, read, acceptor))

    def _capture(
        self,
        hold: _Auth,
        info: CardInfo,
        network_ref: str,
        amount: Money,
        chip: _Chip | None,
        acceptor: Acceptor,
    ) -> NetworkAnswer:
        done = self._answered(network_ref)
        if done is not None:
            return done
        if chip is not None:
            refusal = self._chip_refusal(hold.pan, chip, amount, network_ref)
            if refusal is not None:
                return NetworkAnswer(refusal, info.org, info.issuer_id)
        if hold.captured is not None:
            return NetworkAnswer("22", info.org)
        if amount.to_decimal() > hold.amount.to_decimal() * COMPLETION_LIMIT:
            return NetworkAnswer("13", info.org, info.issuer_id)
        card = self._cards[hold.pan]
        extra = amount - hold.amount
        if extra > Money.zero(amount.currency) and extra > card.available:
            return NetworkAnswer("51", info.org, info.issuer_id)
        card.available -= extra  # the hold becomes the charge; any excess is taken too
        hold.captured = amount
        completion = self._record(network_ref, hold.pan, AuthKind.SALE, amount, info, acceptor)
        completion.completes = hold.ref
        self._book.keep(hold, completion)
        self._clear(completion, +1)
        return completion.answer

    async def refund(self, original_ref: str, network_ref: str, amount: Money) -> NetworkAnswer:
        sale = self._book.auth(original_ref)
        if sale is None or sale.reversed or sale.kind is not AuthKind.SALE:
            return NetworkAnswer("25", None)
        info = classify(sale.pan)
        assert info is not None
        known = self._answered(network_ref)
        if known is not None:
            return known
        if sale.refunded + amount > sale.amount:
            return NetworkAnswer("13", info.org, info.issuer_id)
        sale.refunded += amount
        self._cards[sale.pan].available += amount
        refund = self._record(network_ref, sale.pan, AuthKind.REFUND, amount, info, sale.acceptor)
        refund.cancels = original_ref
        self._book.keep(sale, refund)
        self._clear(refund, -1)
        return refund.answer

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
                self._book.keep_card(card)
                return "75" if card.pin_failures >= MAX_PIN_TRIES else "55"
            if card.pin_failures:
                card.pin_failures = 0
                self._book.keep_card(card)
        return None

    def _record(
        self, ref: str, pan: str, kind: AuthKind, amount: Money, info: CardInfo,
        acceptor: Acceptor,
    ) -> _Auth:  # fmt: skip
        """A new approved authorisation (the caller keeps it, once complete)."""
        code = f"{next(self._codes) % 10**6:06d}"
        answer = NetworkAnswer("00", info.org, info.issuer_id, auth_code=code)
        return _Auth(pan, kind, amount, answer, ref=ref, acceptor=acceptor)
