"""The plan of a run, deterministic from its seed: the merchants (trade, city, shops,
terminals, regular customers), the customers' cards, the injected patterns and their
labels, and, day by day, every sale the terminals will send.

Each part draws from a generator of its own, seeded with the run's seed and the part's
name (``random.Random("7:day:3:41")``), so that one merchant's day is the same whatever
else the run holds, and the global ``random`` is never used. Nothing here reads a clock
or the database: the caller gives the start date and the kinds' per-payment limits.

Amounts are drawn as numbers and made whole fen (or whole yuan) at once: a random
draw, not arithmetic on money.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.geo import Position
from tillpoint.iso8583.fields import Cell, Place
from tillpoint.iso8583.mac import MacMethod
from tillpoint.merchants.models import MerchantKind
from tillpoint.simulation.cards import (
    CREDIT_BINS,
    CardMaker,
    Funding,
    SimCard,
    WalletCodes,
    accounts,
    card_number,
    pin_of,
)
from tillpoint.simulation.models import Pattern
from tillpoint.simulation.trades import (
    BRANDS,
    CITIES,
    GIVEN,
    IMITATED,
    MISMATCHABLE,
    REGISTERED,
    STREETS,
    SURNAMES,
    TRADE,
    WEEKLY,
    City,
    Trade,
    distance_km,
    hm,
)

#: Of the merchants, about this share carries each pattern (at least one each).
PATTERN_SHARE = 0.03
MAX_MERCHANTS = 10_000
MAX_DAYS = 366
CONTACTLESS_MAX_MINOR = 1000_00  # a tap above it needs a PIN: customers insert instead
RELOCATION_MIN_KM = 300
CARD_TESTING_BINS = ("621234", "625094", "622848")
POOL_PER_MERCHANT = 60  # walk-in cards of a city, per merchant there
POOL_FUNDING = (0.62, 0.30, 0.08)  # debit, credit, foreign
REGULAR_VISITS = 2  # a day, at most, each regular (lunch and dinner)


def local(day: date, second_of_day: int) -> datetime:
    """A moment of a day in Shanghai time (seconds may run into the next day)."""
    return datetime.combine(day, time(0), BUSINESS_TZ) + timedelta(seconds=second_of_day)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 40:  # the normal approximation, where Knuth's product would underflow
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def ticket(rng: random.Random, trade: Trade) -> int:
    """One sale's amount in fen: log-normal about the trade's median, within its range;
    whole yuan unless the trade prices to the fen, and dear things at tens less one
    (2,999.00) as often as not."""
    low, median, high = trade.ticket_minor
    sigma = math.log(high / median) / 2.3
    drawn = min(max(median * math.exp(rng.gauss(0, sigma)), low), high)
    if trade.cents:
        return int(drawn)
    yuan = max(round(drawn / 100), low // 100)
    if yuan >= 1000:
        yuan = round(yuan / 10) * 10 - (1 if rng.random() < 0.5 else 0)
    return yuan * 100


def moment(rng: random.Random, trade: Trade) -> int:
    """A second of the day within the trade's hours, by their weights."""
    window = rng.choices(trade.hours, weights=[w.weight for w in trade.hours])[0]
    return (rng.randrange(window.start_min, window.end_min)) * 60 + rng.randrange(60)


def near(rng: random.Random, centre: Position, spread_e6: int) -> Position:
    return Position(
        centre.latitude_e6 + rng.randint(-spread_e6, spread_e6),
        centre.longitude_e6 + rng.randint(-spread_e6, spread_e6),
    )


def resident_id(area: str, k: int) -> str:
    """An identity number of ``area`` for person ``k`` of the run: a birth date and a
    sequence number, with its check character."""
    born = date(1960, 1, 1) + timedelta(days=k // 999)
    base = f"{area}{born:%Y%m%d}{k % 999 + 1:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return base + "10X98765432"[sum(int(d) * w for d, w in zip(base, weights, strict=True)) % 11]


# --- the plan's parts --------------------------------------------------------------


@dataclass(eq=False)
class ShopPlan:
    name: str
    address: str
    position: Position


@dataclass(eq=False)
class TerminalPlan:
    """A terminal of the run; ``tid`` onwards are filled when it is provisioned, and
    ``place`` and ``source`` change when it is moved."""

    n: int
    merchant: MerchantPlan = field(repr=False)
    shop: int  # index into the merchant's shops
    serial: str
    device_type: str
    weight: float
    place: str  # field 59 as it sends it now
    source: str  # the address its connection comes from
    moved_at: datetime | None = None
    moved_to: City | None = None
    moved_label: LabelPlan | None = None
    tid: str = ""
    terminal_id: int = 0
    tmk: bytes = field(default=b"", repr=False)
    mac_method: MacMethod = MacMethod.ECB
    stan: int = 0

    def next_stan(self) -> str:
        self.stan = self.stan % 999_999 + 1
        return f"{self.stan:06d}"


@dataclass(eq=False)
class MerchantPlan:
    n: int
    trade: Trade
    city: City
    legal_name: str
    display_name: str
    contact_name: str
    contact_phone: str
    bank_account_no: str
    shops: list[ShopPlan]
    mean_sales: float
    regulars: list[SimCard]
    regular_weights: list[float]  # cumulative
    terminals: list[TerminalPlan] = field(default_factory=list)
    pattern: Pattern | None = None
    mismatch: tuple[int, Trade, float, LabelPlan] | None = None  # from day, as, mean
    merchant_id: int = 0
    mid: str = ""

    @property
    def kind(self) -> MerchantKind:
        return self.trade.kind


@dataclass(eq=False)
class LabelPlan:
    """An injected pattern and, as it is booked, the references of its payments."""

    n: int
    pattern: Pattern
    merchant: MerchantPlan
    terminal: TerminalPlan | None
    detail: dict[str, Any]
    first_at: datetime | None = None
    last_at: datetime | None = None
    rrns: list[str] = field(default_factory=list)

    def saw(self, at: datetime) -> None:
        self.first_at = at if self.first_at is None else min(self.first_at, at)
        self.last_at = at if self.last_at is None else max(self.last_at, at)


@dataclass(eq=False, slots=True)
class Sale:
    """A sale a terminal sends: a card (read how ``entry_mode`` says, with a PIN or
    not) or a wallet code; ``fallback`` is what the customer does when it is refused."""

    at: datetime
    terminal: TerminalPlan
    amount_minor: int
    card: SimCard | None
    code: str | None
    entry_mode: str
    pin: str | None
    unpredictable: bytes
    label: LabelPlan | None = None
    fallback: Sale | None = None
    seq: int = 0  # orders sales of one moment


@dataclass(eq=False, slots=True)
class Move:
    """A terminal switched on at another place: it signs on there and reports it."""

    at: datetime
    terminal: TerminalPlan
    place: str
    source: str
    city: City
    label: LabelPlan
    seq: int = 0


Event = Sale | Move


# --- the plan ------------------------------------------------------------------------


class Plan:
    def __init__(
        self,
        seed: int,
        merchants: int,
        days: int,
        start: date,
        per_txn_limit_minor: dict[MerchantKind, int],
        *,
        run: int = 1,
    ) -> None:
        """``run`` numbers the identity documents (a database may hold several runs);
        everything else comes from ``seed``."""
        self.seed, self.days, self.start = seed, days, start
        self.limits = per_txn_limit_minor
        self.cards = CardMaker(start)
        self.merchants = self._merchants(merchants, run)
        self.terminals = [t for m in self.merchants for t in m.terminals]
        self.pools = self._pools()
        self.extra_cards: list[SimCard] = []  # issued cards a pattern uses
        self.labels: list[LabelPlan] = []
        self._pattern_events: dict[int, list[Event]] = {}
        self._patterns()

    def rng(self, *part: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *part)))

    # --- merchants --------------------------------------------------------------------

    def _merchants(self, count: int, run: int) -> list[MerchantPlan]:
        rng = self.rng("merchants")
        trades = rng.choices(REGISTERED, weights=[t.share for t in REGISTERED], k=count)
        # A personal merchant at least for each cash-out the run will inject.
        wanted = pattern_count(count)
        personal = [i for i, t in enumerate(trades) if t.kind is MerchantKind.PERSONAL]
        for i in reversed(range(count)):
            if len(personal) >= wanted:
                break
            if trades[i].kind is not MerchantKind.PERSONAL:
                trades[i] = TRADE["noodle_shop"]
                personal.append(i)
        cities = rng.choices(CITIES, weights=[c.share for c in CITIES], k=count)
        made = [self._merchant(n, trades[n], cities[n]) for n in range(count)]
        numbers = iter(range(10**6))
        for m in made:
            self._terminals(m, numbers, run)
        return made

    def _merchant(self, n: int, trade: Trade, city: City) -> MerchantPlan:
        rng = self.rng("merchant", n)
        surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
        person = f"{surname[0]}{given[0]} {surname[1]} {given[1]}"
        sign_zh, sign_en = trade.name.split(" ", 1)
        company_zh, company_en = trade.company.split(" ", 1)
        if trade.kind is MerchantKind.PERSONAL:
            legal = person
            display = f"{surname[0]}记{sign_zh} {surname[1]}'s {sign_en}"
            account = card_number("622202", rng.randrange(10**12))  # the owner's debit card
        else:
            brand = rng.choice(BRANDS)
            city_zh, city_en = city.name.split(" ", 1)
            legal = (f"{city_zh}{brand[0]}{company_zh}有限公司 "
                     f"{city_en} {brand[1]} {company_en} Co., Ltd {n + 1}")  # fmt: skip
            display = f"{brand[0]}{sign_zh} {brand[1]} {sign_en}"
            account = f"{rng.randrange(10**14, 10**15)}"
        shops = []
        for s in range(rng.randint(*trade.shops)):
            street = rng.choice(STREETS)
            number = rng.randint(1, 999)
            shops.append(ShopPlan(
                display if s == 0 else f"{display} {s + 1}",
                f"{city.district}{street[0]}{number}号 {number} {street[1]}, "
                f"{city.name.split(' ', 1)[1]}",
                near(rng, city.centre, 80_000),
            ))  # fmt: skip
        regulars = [
            self._customer(rng, trade, regular=True) for _ in range(rng.randint(*trade.regulars))
        ]
        cumulative, total = [], 0.0
        for rank in range(len(regulars)):
            total += 1 / (rank + 1) ** 1.1  # a few come almost daily, most now and then
            cumulative.append(total)
        return MerchantPlan(
            n=n,
            trade=trade,
            city=city,
            legal_name=legal,
            display_name=display,
            contact_name=person,
            contact_phone=f"1{rng.choice('3578')}{rng.randrange(10**9):09d}",
            bank_account_no=account,
            shops=shops,
            mean_sales=log_uniform(rng, *trade.sales_per_day),
            regulars=regulars,
            regular_weights=cumulative,
        )

    def _terminals(self, m: MerchantPlan, numbers: Iterator[int], run: int) -> None:
        rng = self.rng("terminals", m.n)
        count = max(rng.randint(*m.trade.terminals), len(m.shops))
        for i in range(count):
            shop = m.shops[i % len(m.shops)]
            n = next(numbers)
            serial = f"SIM{run:04d}{n + 1:06d}"
            device = "02" if m.kind is MerchantKind.PERSONAL else rng.choice(("01", "03"))
            m.terminals.append(TerminalPlan(
                n=n,
                merchant=m, shop=i % len(m.shops), serial=serial, device_type=device,
                weight=1.0 if i == 0 else 0.6,
                place=field59(device, serial, near(rng, shop.position, 300), rng),
                source=carrier_address(rng, m.city),
            ))  # fmt: skip

    def _customer(self, rng: random.Random, trade: Trade, *, regular: bool) -> SimCard:
        card = self.cards.customer(rng, funding_of(rng, trade))
        if regular:
            card.usual_minor = ticket(rng, trade)
        return card

    def _pools(self) -> dict[str, dict[Funding, list[SimCard]]]:
        """Each city's walk-in customers, by what their card is: shared by the city's
        merchants, so a card is seen at several of them."""
        pools = {}
        for city in CITIES:
            there = sum(1 for m in self.merchants if m.city is city)
            if not there:
                continue
            rng = self.rng("pool", city.key)
            size = max(200, POOL_PER_MERCHANT * there)
            pool: dict[Funding, list[SimCard]] = {f: [] for f in Funding}
            for funding, share in zip(Funding, POOL_FUNDING, strict=True):
                pool[funding] = [
                    self.cards.customer(rng, funding) for _ in range(max(20, round(size * share)))
                ]
            pools[city.key] = pool
        return pools

    def pool(self, city: City) -> dict[Funding, list[SimCard]]:
        """A city's walk-ins (a moved terminal's city may have no merchant of the run:
        its pool is made when the move is planned, before ``deck`` is read)."""
        if city.key not in self.pools:
            rng = self.rng("pool", city.key)
            self.pools[city.key] = {
                f: [self.cards.customer(rng, f) for _ in range(60)] for f in Funding
            }
        return self.pools[city.key]

    def deck(self) -> list[SimCard]:
        """Every card the simulated issuers hold (a card tester's unissued numbers are
        not among them: their issuer answers 14)."""
        cards = [c for m in self.merchants for c in m.regulars]
        cards += [c for pool in self.pools.values() for cs in pool.values() for c in cs]
        return cards + self.extra_cards

    # --- patterns ---------------------------------------------------------------------

    def _patterns(self) -> None:
        rng = self.rng("patterns")
        wanted = pattern_count(len(self.merchants))
        free = list(self.merchants)
        eligible: dict[Pattern, Callable[[MerchantPlan], bool]] = {
            Pattern.CASH_OUT: lambda m: m.kind is MerchantKind.PERSONAL,
            Pattern.CATEGORY_MISMATCH: lambda m: m.trade.key in MISMATCHABLE,
            Pattern.RELOCATION: lambda m: True,
            Pattern.CARD_TESTING: lambda m: True,
        }
        inject = {
            Pattern.CASH_OUT: self._cash_out,
            Pattern.CATEGORY_MISMATCH: self._mismatch,
            Pattern.RELOCATION: self._relocation,
            Pattern.CARD_TESTING: self._card_testing,
        }
        for pattern, fits in eligible.items():
            candidates = [m for m in free if fits(m)]
            for m in rng.sample(candidates, min(wanted, len(candidates))):
                free.remove(m)
                m.pattern = pattern
        for m in self.merchants:  # in the merchants' order: the labels' numbering
            if m.pattern is not None:
                inject[m.pattern](m)

    def _label(
        self, pattern: Pattern, m: MerchantPlan, t: TerminalPlan | None, **detail: Any
    ) -> LabelPlan:
        label = LabelPlan(len(self.labels), pattern, m, t, detail)
        self.labels.append(label)
        return label

    def _add(self, day: int, event: Event) -> None:
        self._pattern_events.setdefault(day, []).append(event)

    def _card_testing(self, m: MerchantPlan) -> None:
        """试卡: on one terminal, within minutes, many cards (most of them consecutive
        numbers of one BIN, a few tried twice), small amounts keyed or swiped; most
        numbers were never issued (14), some cards are empty (51)."""
        rng = self.rng("card_testing", m.n)
        terminal = rng.choice(m.terminals)
        day = rng.randrange(self.days)
        second = rng.randrange(0, 5 * 3600) if rng.random() < 0.6 else rng.randrange(0, 23 * 3600)
        at = local(self.start + timedelta(days=day), second)
        bin_ = rng.choice(CARD_TESTING_BINS)
        funding = Funding.CREDIT if bin_ in CREDIT_BINS else Funding.DEBIT
        account = rng.randrange(accounts(bin_) - 10_000)
        attempts = rng.randint(20, 60)
        label = self._label(Pattern.CARD_TESTING, m, terminal, bin=bin_, attempts=attempts)
        card: SimCard | None = None
        for _ in range(attempts):
            if card is None or rng.random() >= 0.15:  # else the same card again
                while not self.cards.claim(pan := card_number(bin_, account)):
                    account += 1
                account += 1
                live = rng.random() < 0.2
                card = SimCard(
                    pan, self.cards.valid_expiry(rng), funding,
                    rng.choice((0, rng.randrange(50_00, 5000_00))) if live else 0,
                )  # fmt: skip
                if live:
                    self.extra_cards.append(card)
            amount = 1_00 if rng.random() < 0.4 else rng.randint(1, 9_99)
            entry = "01" if rng.random() < 0.7 else "02"
            self._add(day, Sale(at, terminal, amount, card, None, entry, None,
                                rng.randbytes(4), label))  # fmt: skip
            at += timedelta(seconds=2 + rng.expovariate(1 / 9))

    def _cash_out(self, m: MerchantPlan) -> None:
        """套现: a few credit cards of people who need cash pay the shop large round
        amounts, or just under its kind's per-payment limit, again and again for days,
        often when the shop is closed."""
        rng = self.rng("cash_out", m.n)
        limit = self.limits[m.kind]
        cards = []
        for _ in range(rng.randint(2, 4)):
            card = self.cards.customer(rng, Funding.CREDIT)
            card.available_minor = rng.randrange(500_000, 2_000_000) * 100
            card.lost = card.refused = False
            card.expiry = self.cards.valid_expiry(rng)
            cards.append(card)
        self.extra_cards += cards
        first = rng.randrange(self.days)
        last = min(self.days - 1, first + rng.randint(5, 20) - 1)
        label = self._label(Pattern.CASH_OUT, m, None, cards=len(cards),
                            per_txn_limit_minor=limit)  # fmt: skip
        odd = ((hm("22:00"), hm("23:59")), (0, hm("03:00")), (hm("05:30"), hm("07:30")))
        for day in range(first, last + 1):
            if day > first and rng.random() >= 0.8:  # a quiet day now and then
                continue
            for _ in range(rng.randint(1, 3)):
                card = rng.choice(cards)
                if rng.random() < 0.5:
                    amount = limit - rng.choice((1_00, 10_00, 100_00, 500_00))
                else:
                    amount = min(rng.choice((5, 6, 8, 10, 12, 15)) * 1000_00, limit - 1_00)
                if rng.random() < 0.65:
                    start, end = rng.choice(odd)
                    second = rng.randrange(start, end) * 60 + rng.randrange(60)
                else:
                    second = moment(rng, m.trade)
                entry = "05" if rng.random() < 0.7 else "02"
                at = local(self.start + timedelta(days=day), second)
                self._add(day, Sale(at, rng.choice(m.terminals), amount, card, None, entry,
                                    pin_of(False), rng.randbytes(4), label))  # fmt: skip

    def _relocation(self, m: MerchantPlan) -> None:
        """移机: from some day on, one of the merchant's terminals signs on and sells in
        another city, hundreds of kilometres from its shop, and reports it there."""
        rng = self.rng("relocation", m.n)
        terminal = rng.choice(m.terminals)
        day = rng.randrange(1, self.days) if self.days > 1 else 0
        far = [c for c in CITIES if distance_km(c.centre, m.city.centre) >= RELOCATION_MIN_KM]
        city = rng.choice(far)
        self.pool(city)  # its customers' cards, for the issuers to hold
        position = near(rng, city.centre, 60_000)
        # Switched on about when the shop opens, on that day (a sale of the day before
        # is booked before the move: it must be before it in time too).
        opens = max(0, m.trade.hours[0].start_min * 60 - 600)
        at = local(self.start + timedelta(days=day), opens + rng.randrange(1200))
        label = self._label(
            Pattern.RELOCATION, m, terminal, city=m.city.key, moved_to=city.key,
            distance_km=distance_km(m.shops[terminal.shop].position, position),
        )  # fmt: skip
        terminal.moved_at, terminal.moved_to, terminal.moved_label = at, city, label
        place = field59(terminal.device_type, terminal.serial, position, rng)
        self._add(day, Move(at, terminal, place, carrier_address(rng, city), city, label))

    def _mismatch(self, m: MerchantPlan) -> None:
        """跳码-like: the merchant is registered under its trade's MCC but, from some day
        on, sells what another trade sells: its hours, tickets and customers."""
        rng = self.rng("category_mismatch", m.n)
        imitated = TRADE[rng.choice(IMITATED[m.kind])]
        first = 0 if rng.random() < 0.5 else rng.randrange(self.days)
        label = self._label(
            Pattern.CATEGORY_MISMATCH, m, None, mcc=m.trade.mcc, trade=m.trade.key,
            imitates=imitated.key, imitated_mcc=imitated.mcc,
        )  # fmt: skip
        # A personal merchant sells a quarter as much: its daily limit would refuse most
        # of a shop's day of such tickets.
        mean = log_uniform(rng, *imitated.sales_per_day)
        if m.kind is MerchantKind.PERSONAL:
            mean /= 4
        m.mismatch = (first, imitated, mean, label)

    # --- a day's sales --------------------------------------------------------------

    def day(self, day: int) -> list[Event]:
        """Every event of simulated day ``day`` (from 0): the merchants' ordinary sales and
        the patterns injected that day, in no particular order."""
        events: list[Event] = list(self._pattern_events.get(day, ()))
        for m in self.merchants:
            events += self._ordinary(m, day)
        for seq, event in enumerate(events):
            event.seq = seq
        return events

    def _ordinary(self, m: MerchantPlan, day: int) -> list[Sale]:
        rng = self.rng("day", day, m.n)
        when = self.start + timedelta(days=day)
        trade, mean, label = m.trade, m.mean_sales, None
        if m.mismatch is not None and day >= m.mismatch[0]:
            _, trade, mean, label = m.mismatch
        count = poisson(rng, mean * WEEKLY[when.weekday()] * rng.lognormvariate(0, 0.25))
        weights = [t.weight for t in m.terminals]
        visits: Counter[str] = Counter()
        sales = []
        for _ in range(count):
            at = local(when, moment(rng, trade))
            terminal = rng.choices(m.terminals, weights=weights)[0]
            moved = terminal.moved_at is not None and at >= terminal.moved_at
            city = terminal.moved_to if moved and terminal.moved_to else m.city
            regulars = not moved and label is None  # a new trade, a new place: new faces
            sale = self._sale(rng, m, trade, terminal, at, city, visits, regulars=regulars)
            sale.label = terminal.moved_label if moved else label
            retry = sale.fallback
            while retry is not None:  # the customer's second try is the pattern's too
                retry.label = sale.label
                retry = retry.fallback
            sales.append(sale)
        return sales

    def _sale(
        self,
        rng: random.Random,
        m: MerchantPlan,
        trade: Trade,
        terminal: TerminalPlan,
        at: datetime,
        city: City,
        visits: Counter[str],
        *,
        regulars: bool,
    ) -> Sale:
        """A customer: one of the merchant's regulars (by their weights, at most
        ``REGULAR_VISITS`` a day each) spending about what they usually do, or anyone
        from the city paying by wallet or card as the trade's customers do."""
        wallet = trade.mix.wallet
        regular_p = trade.regular_share * (1 - wallet) if regulars and m.regulars else 0.0
        if rng.random() < regular_p:
            card = rng.choices(m.regulars, cum_weights=m.regular_weights)[0]
            if visits[card.pan] < REGULAR_VISITS:
                visits[card.pan] += 1
                amount = max(1_00, card.usual_minor * rng.randint(80, 125) // 100)
                if not trade.cents:
                    amount -= amount % 100
                return self._card_sale(rng, terminal, at, amount, card)
            # been twice today: someone else pays by card instead
        elif rng.random() < wallet / (1 - regular_p):
            return self._wallet(rng, terminal, at, ticket(rng, trade))
        card = rng.choice(self.pool(city)[funding_of(rng, trade)])
        return self._card_sale(rng, terminal, at, ticket(rng, trade), card)

    def _card_sale(
        self, rng: random.Random, terminal: TerminalPlan, at: datetime, amount: int, card: SimCard
    ) -> Sale:
        """How the card is read: tapped (up to the contactless limit, no PIN), inserted
        (a debit card with its PIN, a credit card sometimes), now and then swiped; a
        foreign card inserted or swiped without a PIN. A customer who types a wrong PIN
        tries again; one whose card is refused pays with a wallet, mostly."""
        r = rng.random()
        pin = False
        if card.funding is Funding.FOREIGN:
            entry = "05" if r < 0.7 else "02"
        elif amount <= CONTACTLESS_MAX_MINOR and r < 0.45:
            entry = "07"
        elif r < 0.96:
            entry, pin = "05", card.funding is Funding.DEBIT or rng.random() < 0.3
        else:
            entry, pin = "02", card.funding is Funding.DEBIT
        wrong = pin and rng.random() < 0.012
        later = at + timedelta(seconds=rng.randint(20, 60))
        fallback = self._wallet(rng, terminal, later, amount) if rng.random() < 0.8 else None
        if wrong:
            again = at + timedelta(seconds=rng.randint(10, 30))
            fallback = Sale(again, terminal, amount, card, None, entry, pin_of(False),
                            rng.randbytes(4), fallback=fallback)  # fmt: skip
        return Sale(at, terminal, amount, card, None, entry, pin_of(wrong) if pin else None,
                    rng.randbytes(4), fallback=fallback)  # fmt: skip

    def _wallet(
        self, rng: random.Random, terminal: TerminalPlan, at: datetime, amount: int
    ) -> Sale:
        """A customer's payment code; one in a few hundred has too little money in it,
        and its customer shows another wallet's."""
        if rng.random() < 0.005:
            retry = Sale(at + timedelta(seconds=rng.randint(15, 40)), terminal, amount, None,
                         WalletCodes.code(rng), "03", None, b"")  # fmt: skip
            return Sale(at, terminal, amount, None, WalletCodes.SHORT_OF_MONEY, "03", None, b"",
                        fallback=retry)  # fmt: skip
        return Sale(at, terminal, amount, None, WalletCodes.code(rng), "03", None, b"")


def funding_of(rng: random.Random, trade: Trade) -> Funding:
    """What card a customer of the trade pays with, by its shares."""
    debit, credit, _ = trade.mix.cards()
    r = rng.random()
    if r < debit:
        return Funding.DEBIT
    return Funding.CREDIT if r < debit + credit else Funding.FOREIGN


def pattern_count(merchants: int) -> int:
    """How many merchants carry each pattern: about ``PATTERN_SHARE``, at least one."""
    return max(1, round(merchants * PATTERN_SHARE))


def field59(device_type: str, serial: str, position: Position, rng: random.Random) -> str:
    """Where a terminal says it is (spec 4.12): its type, serial number, GPS position
    and mobile cell."""
    cell = Cell("460", rng.choice(("00", "01", "11")), str(rng.randint(1, 65_000)),
                str(rng.randint(1, 200_000)))  # fmt: skip
    return Place(device_type=device_type, serial_no=serial, position=position, cell=cell).build()


def carrier_address(rng: random.Random, city: City) -> str:
    """The address a terminal's mobile connection comes from: its carrier's, in its
    city (shared address space, 100.64.0.0/10)."""
    return f"100.{64 + city.ip_block}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
