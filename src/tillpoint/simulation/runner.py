"""A simulation run: the plan's merchants onboarded through the merchant and terminal
services, their terminals signed on, and every sale booked through the acquirer, the
same calls the terminal host makes for a 0200 (host/server.py): admission, the place
a terminal reports (field 59), the duplicate rule's key, a card's PIN block under the
terminal's PIK and its chip's field 55, or a wallet code. Screening, recording and the
ledger are the live ones; nothing is written to the payments' tables here.

The acquirer runs in this process on one event loop, with the card network and wallet
simulators in memory (the issuers hold the run's cards: docs/risk.md) and their clearing
files written to the networks' directory as for live traffic.

Up to ``concurrency`` sales are booked at once, taken in time order, so that the group
committer shares its commits among them; but never two of one merchant or one card at
once, nor one before an earlier one of its own (``Queues``): each merchant's and each
card's sales are booked in their order, and what a sale's screening reads of them (a
card's recent refusals, the merchant's takings of the day) is the same in every run of
a seed. Every booking task has its own moment (``SimulationClock``): the sale's.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import Counter, deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ, FixedClock
from tillpoint.core.errors import InvalidInput, Refused, invariant
from tillpoint.core.groupcommit import GroupCommitter
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_ACTOR
from tillpoint.iso8583.fields import Place
from tillpoint.iso8583.mac import compute_mac
from tillpoint.merchants.models import Merchant, MerchantEvent, MerchantKind
from tillpoint.merchants.services import Application
from tillpoint.merchants.validation import uscc_check_char
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.networks.wallets import WalletSimulator
from tillpoint.payments.acquirer import Acquirer, Card, Outcome, RequestKey
from tillpoint.payments.models import Payment
from tillpoint.security import tdes
from tillpoint.simulation.cards import PSN, ChipCards
from tillpoint.simulation.models import (
    Pattern,
    RunStatus,
    SimulationLabel,
    SimulationLabelPayment,
    SimulationMerchant,
    SimulationRun,
)
from tillpoint.simulation.plan import (
    MAX_DAYS,
    MAX_MERCHANTS,
    Event,
    MerchantPlan,
    Move,
    Plan,
    Sale,
    TerminalPlan,
    local,
    resident_id,
)
from tillpoint.terminals.signon import HostRefusal, SignOnProof

ACTOR = "simulation"
MODEL = "Tillpoint Simulated POS"
SUPERVISOR_PASSWORD = "246810"  # noqa: S105 - the simulated terminals' supervisor
OPERATOR = "001"
#: The default first day: fixed, so that a seed alone says what a run books.
DEFAULT_START = date(2026, 11, 2)
MAX_CONCURRENCY = 256
ONBOARDING_S = 15  # simulated seconds a merchant's onboarding takes: 10,000 in two days
LOOKAHEAD = 20_000  # events read ahead of the first not yet booked, at most
RRN_CHUNK = 500

_MOMENT: ContextVar[datetime | None] = ContextVar("simulation_moment", default=None)


class SimulationClock:
    """A ``FixedClock`` the run moves on, whose time a booking task overrides with its
    own sale's moment (a context variable: each asyncio task and each thread it hands
    work to sees its own)."""

    def __init__(self, at: datetime | None = None) -> None:
        self._base = FixedClock(at or datetime(2000, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        moment = _MOMENT.get()
        return self._base.now() if moment is None else moment

    def set(self, at: datetime) -> None:
        self._base.set(at)

    @staticmethod
    def here(at: datetime) -> None:
        """The time from now on in this task, and in the threads it hands work to."""
        _MOMENT.set(at)


@dataclass(frozen=True)
class Options:
    merchants: int
    days: int
    seed: int
    start: date = DEFAULT_START
    concurrency: int = 64  # sales booked at once
    force: bool = False  # into a database holding merchants no simulation made

    def __post_init__(self) -> None:
        for name, value, most in (
            ("merchants", self.merchants, MAX_MERCHANTS),
            ("days", self.days, MAX_DAYS),
            ("concurrency", self.concurrency, MAX_CONCURRENCY),
        ):
            if not 1 <= value <= most:
                raise InvalidInput(
                    "simulation.range",
                    N_("{name} must be 1 to {most}"),
                    name=name,
                    most=most,
                )
        if not 0 <= self.seed < 2**63:
            raise InvalidInput("simulation.seed", N_("A seed is 0 to 2^63 - 1"))


@dataclass(frozen=True)
class Progress:
    """Where a run is, for a progress bar."""

    onboarded: int  # merchants
    day: int  # simulated days done
    days: int
    at: datetime  # the simulated moment reached
    payments: int
    approved: int
    elapsed_s: float  # booking so far


@dataclass(frozen=True)
class Summary:
    run_id: int
    seed: int
    start: date
    days: int
    merchants: int
    terminals: int
    payments: int
    approved: int
    declined: int
    codes: dict[str, int]  # response code: how many
    refused: int  # sales the host refused before any payment (a terminal risk froze)
    labels: dict[Pattern, int]
    labelled_payments: dict[Pattern, int]
    onboarding_s: float
    booking_s: float
    booking_cpu_s: float  # this process's CPU time (every thread) while booking

    @property
    def payments_per_s(self) -> float:
        return self.payments / self.booking_s if self.booking_s > 0 else 0.0


def _keys(event: Event) -> tuple[int | str, ...]:
    """What a booking holds while it runs: its merchant, and its card if it has one."""
    merchant = event.terminal.merchant.n
    if isinstance(event, Sale) and event.card is not None:
        return (merchant, event.card.pan)
    return (merchant,)


class Queues:
    """Which of a day's events may be booked now: one waits in a queue per merchant and
    per card it has (``_keys``), and goes when it heads all of them, so that no two of
    one merchant or one card run at once, nor one before an earlier one of its own.
    Events are read in their order, at most ``LOOKAHEAD`` ahead of the first unstarted
    one; the earliest ready goes first. (The earliest unstarted event always heads its
    queues once everything before it is done: nothing waits for ever.)"""

    def __init__(self, events: list[Event]) -> None:
        self.events, self.read = events, 0
        self.queues: dict[int | str, deque[Event]] = {}
        self.ready: list[tuple[datetime, int, Event]] = []
        self.waiting = 0  # read, not started

    def take(self) -> Event | None:
        while not self.ready and self.read < len(self.events) and self.waiting < LOOKAHEAD:
            event = self.events[self.read]
            self.read += 1
            self.waiting += 1
            for key in _keys(event):
                self.queues.setdefault(key, deque()).append(event)
            self._check(event)
        if not self.ready:
            return None
        self.waiting -= 1
        return heapq.heappop(self.ready)[2]

    def finish(self, event: Event) -> None:
        keys = _keys(event)
        for key in keys:
            queue = self.queues[key]
            invariant(queue.popleft() is event, "an event finishes at the head of its queues")
            if not queue:
                del self.queues[key]
        heads = {id(q[0]): q[0] for key in keys if (q := self.queues.get(key))}
        for head in heads.values():  # once each: one may head two of these queues now
            self._check(head)

    def _check(self, event: Event) -> None:
        # Called when the event is read, and once each time it comes to the head of one
        # of its queues: it is made ready once, when it heads them all.
        if all(self.queues[key][0] is event for key in _keys(event)):
            heapq.heappush(self.ready, (event.at, event.seq, event))


def foreign_merchants(app: Tillpoint) -> int:
    """Merchants in the database that neither a simulation nor the demo made."""
    with app.ctx.db.read() as s:
        made = select(SimulationMerchant.merchant_id)
        demo = select(MerchantEvent.merchant_id).where(MerchantEvent.actor == DEMO_ACTOR)
        return int(
            s.scalar(
                select(func.count())
                .select_from(Merchant)
                .where(Merchant.id.not_in(made), Merchant.id.not_in(demo))
            )
            or 0
        )


def simulate(
    app: Tillpoint, options: Options, progress: Callable[[Progress], None] | None = None
) -> Summary:
    """One run (docs/risk.md): plan, onboard, book, label. ``app`` must have been opened
    with a ``SimulationClock``. Refused, with nothing written, when the database holds
    merchants that no simulation nor the demo made, unless ``options.force``."""
    clock = app.ctx.clock
    invariant(isinstance(clock, SimulationClock), "simulate() needs a SimulationClock")
    assert isinstance(clock, SimulationClock)  # for mypy
    if not options.force and (others := foreign_merchants(app)):
        raise Refused(
            "simulation.not_fresh",
            N_(
                "This database holds merchants that no simulation made ({count}): simulate "
                "into a fresh database (TILLPOINT_DATABASE_URL), or pass --force to add to it"
            ),
            count=others,
        )
    return Simulation(app, clock, options, progress).run()


@dataclass
class _Tally:
    payments: int = 0
    approved: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    refused: int = 0  # sales the host refused before any payment (a frozen terminal)


class Simulation:
    def __init__(
        self,
        app: Tillpoint,
        clock: SimulationClock,
        options: Options,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.app, self.clock, self.options = app, clock, options
        self.progress = progress
        self.chips = ChipCards()
        self.tally = _Tally()
        self.started = 0.0

    def run(self) -> Summary:
        o = self.options
        # Onboarding takes the two days before the first: ONBOARDING_S a merchant.
        self.clock.set(local(o.start, -2 * 86_400))
        limits = {row.kind: row.per_txn_limit_minor for row in self.app.limits.list()}
        run_id = self._open_run()
        self.plan = Plan(o.seed, o.merchants, o.days, o.start, limits, run=run_id)
        began = time.perf_counter()
        self.last_progress = 0.0
        for m in self.plan.merchants:
            self._onboard(m, run_id)
            self._report(0, self.clock.now(), onboarding=m.n + 1)
        onboarded, cpu = time.perf_counter(), time.process_time()
        self.started = onboarded
        asyncio.run(self._book())
        booked, cpu = time.perf_counter(), time.process_time() - cpu
        self.clock.set(local(o.start, o.days * 86_400))
        labels, labelled = self._close_run(run_id)
        t = self.tally
        return Summary(
            run_id=run_id, seed=o.seed, start=o.start, days=o.days, merchants=o.merchants,
            terminals=len(self.plan.terminals), payments=t.payments, approved=t.approved,
            declined=t.payments - t.approved, codes=dict(sorted(t.codes.items())),
            refused=t.refused, labels=labels, labelled_payments=labelled,
            onboarding_s=onboarded - began, booking_s=booked - onboarded, booking_cpu_s=cpu,
        )  # fmt: skip

    # --- the run's rows ------------------------------------------------------------

    def _open_run(self) -> int:
        o = self.options
        with self.app.ctx.db.transaction() as s:
            row = SimulationRun(
                seed=o.seed, merchants=o.merchants, days=o.days, start_date=o.start,
                status=RunStatus.RUNNING, terminals=0, payments=0, approved=0, declined=0,
                labels={},
            )  # fmt: skip
            s.add(row)
            s.flush()
            return row.id

    def _close_run(self, run_id: int) -> tuple[dict[Pattern, int], dict[Pattern, int]]:
        """The labels, each with its payments (found by their RRNs), and the run's
        totals, in one unit of work. A pattern that booked nothing (a cash-out whose
        days all passed quietly) has no label."""
        db = self.app.ctx.db
        rrns = [rrn for label in self.plan.labels for rrn in label.rrns]
        ids: dict[str, int] = {}
        with db.read() as s:
            for i in range(0, len(rrns), RRN_CHUNK):
                chunk = rrns[i : i + RRN_CHUNK]
                ids.update(
                    (rrn, pid)
                    for pid, rrn in s.execute(
                        select(Payment.id, Payment.rrn).where(Payment.rrn.in_(chunk))
                    )
                )
        labels: Counter[Pattern] = Counter()
        labelled: Counter[Pattern] = Counter()
        with db.transaction() as s:
            for plan in self.plan.labels:
                if plan.first_at is None or plan.last_at is None:
                    continue
                m, t = plan.merchant, plan.terminal
                label = SimulationLabel(
                    run_id=run_id, pattern=plan.pattern, merchant_id=m.merchant_id,
                    terminal_id=None if t is None else t.terminal_id, first_at=plan.first_at,
                    last_at=plan.last_at, payments=len(plan.rrns), detail=plan.detail,
                )  # fmt: skip
                s.add(label)
                s.flush()
                s.add_all(
                    SimulationLabelPayment(label_id=label.id, payment_id=ids[rrn], rrn=rrn)
                    for rrn in plan.rrns
                )
                labels[plan.pattern] += 1
                labelled[plan.pattern] += len(plan.rrns)
            run = s.get(SimulationRun, run_id)
            assert run is not None
            t_ = self.tally
            run.status, run.terminals = RunStatus.FINISHED, len(self.plan.terminals)
            run.payments, run.approved = t_.payments, t_.approved
            run.declined = t_.payments - t_.approved
            run.labels = {p.value: labels[p] for p in Pattern}
        return {p: labels[p] for p in Pattern}, {p: labelled[p] for p in Pattern}

    # --- onboarding ------------------------------------------------------------------

    def _onboard(self, m: MerchantPlan, run_id: int) -> None:
        """Apply, approve, register the shops' places, provision, bind and ship the
        terminals and sign them on, as operations and the terminals would."""
        app = self.app
        self.clock.set(self.clock.now() + timedelta(seconds=ONBOARDING_S))
        personal = m.kind is MerchantKind.PERSONAL
        k = run_id * 20_000 + m.n  # identity numbers of their own in each run
        licence = None
        if not personal:
            first17 = f"91{m.city.id_area}M{run_id % 1000:03d}{m.n:05d}"
            licence = first17 + uscc_check_char(first17)
        first = m.shops[0]
        applied = app.merchants.apply(
            Application(
                kind=m.kind, legal_name=m.legal_name, display_name=m.display_name,
                mcc=m.trade.mcc, region_code=m.city.region_code, contact_name=m.contact_name,
                contact_phone=m.contact_phone, bank_name="模拟银行 Simulated Bank",
                bank_account_name=m.legal_name, bank_account_no=m.bank_account_no,
                shop_address=first.address, shop_name=first.name,
                id_number=resident_id(m.city.id_area, k) if personal else None,
                business_licence_no=licence,
            ),
            ACTOR,
        )  # fmt: skip
        approved = app.merchants.approve(str(applied.id), ACTOR, "simulated merchant")
        assert approved.mid is not None
        m.merchant_id, m.mid = applied.id, approved.mid
        app.merchants.update_shop(m.mid, 1, ACTOR, position=first.position, city=m.city.name)
        for shop in m.shops[1:]:
            app.merchants.add_shop(m.mid, shop.name, shop.address, ACTOR,
                                   position=shop.position, city=m.city.name)  # fmt: skip
        for t in m.terminals:
            made = app.terminals.add(t.serial, MODEL, ACTOR, require_operator_password=False)
            t.tid, t.terminal_id = made.terminal.tid, made.terminal.id
            t.tmk, t.mac_method = bytes.fromhex(made.tmk_hex), made.terminal.mac_method
            app.terminals.bind(t.tid, m.mid, ACTOR, shop=t.shop + 1,
                               supervisor_password=SUPERVISOR_PASSWORD)  # fmt: skip
            app.terminals.ship(t.tid, ACTOR, "simulated terminal")
            self._sign_on(t)
        with app.ctx.db.transaction() as s:
            s.add(SimulationMerchant(merchant_id=m.merchant_id, run_id=run_id,
                                     trade=m.trade.key, city=m.city.key))  # fmt: skip

    def _sign_on(self, t: TerminalPlan) -> None:
        """The host's sign-on (spec 4.1): proven by a MAC under the terminal's TMK, with
        the place it reports (field 59) and the address it comes from."""
        signon = self.app.signon
        block = f"0800|{t.tid}|{t.merchant.mid}|{t.place}".encode()
        proof = SignOnProof(block, compute_mac(t.mac_method, t.tmk, block), t.source)
        try:
            signon.authenticated_sign_on(
                t.tid, t.merchant.mid, OPERATOR, proof, place=Place.parse(t.place)
            )
        except HostRefusal:  # frozen: it stays so, and its sales are refused (58)
            return
        signon.places.remember(t.tid, t.place, t.source)

    # --- booking ---------------------------------------------------------------------

    def _acquirer(self) -> Acquirer:
        """The acquirer ``payments.acquirer.simulated`` makes, its issuers holding the
        run's cards, its networks' records in memory (a record names a card by its place
        in a deck only this run has) and their clearing files where live traffic's go."""
        app, settings = self.app, self.app.ctx.settings
        zpk = tdes.generate_key()
        journal = ClearingJournal(settings.network_directory(), app.days.open_date)
        cards = [c.issued() for c in self.plan.deck()]
        acquirer = Acquirer(
            app,
            CardNetworkSimulator(zpk, app.ctx.clock, journal, cards=cards),
            GroupCommitter(app.ctx.db),
            zpk,
            wallets=WalletSimulator(journal),
            network_timeout_s=settings.network_timeout_ms / 1000,
        )
        acquirer.on_close.append(journal.close)
        return acquirer

    async def _book(self) -> None:
        self.acquirer = self._acquirer()
        try:
            for day in range(self.options.days):
                events = sorted(self.plan.day(day), key=lambda e: (e.at, e.seq))
                await self._day(events, day)
            if self.acquirer.desk.background:  # reversals of sales no answer came for
                await asyncio.gather(*self.acquirer.desk.background)
        finally:
            self.acquirer.close()
        self._report(self.options.days, local(self.options.start, self.options.days * 86_400))

    async def _day(self, events: list[Event], day: int) -> None:
        """Book a day's events, up to ``concurrency`` at once, each merchant's and each
        card's in their order (``Queues``)."""
        done: asyncio.Queue[asyncio.Task[list[tuple[Sale, Outcome]]]] = asyncio.Queue()
        started: dict[asyncio.Task[list[tuple[Sale, Outcome]]], Event] = {}
        queues = Queues(events)
        flying = 0
        while True:
            while flying < self.options.concurrency and (event := queues.take()) is not None:
                flying += 1
                self.clock.set(event.at)
                task = asyncio.ensure_future(self._one(event))
                task.add_done_callback(done.put_nowait)
                started[task] = event
            if not flying:
                return
            finished = [await done.get()]
            while not done.empty():
                finished.append(done.get_nowait())
            for task in finished:
                flying -= 1
                ended = started.pop(task)
                queues.finish(ended)
                self._tally(ended, task.result())  # a booking's error ends the run
            if self.acquirer.desk.background:  # a risk freeze or hold in force before
                await asyncio.gather(*self.acquirer.desk.background)  # the next sale
            self._report(day, ended.at)

    def _tally(self, event: Event, booked: list[tuple[Sale, Outcome]]) -> None:
        if isinstance(event, Move):
            event.label.saw(event.at)
        t = self.tally
        for sale, outcome in booked:
            if outcome.rrn is None:  # refused by the host: no payment
                t.refused += 1
                continue
            t.payments += 1
            t.codes[outcome.response_code] += 1
            t.approved += int(outcome.response_code == "00")
            if sale.label is not None:
                sale.label.saw(sale.at)
                if outcome.rrn:
                    sale.label.rrns.append(outcome.rrn)

    def _report(self, day: int, at: datetime, *, onboarding: int | None = None) -> None:
        """Tell the caller where the run is, four times a second at most (and at the
        end of each phase)."""
        now, o = time.perf_counter(), self.options
        last = day == o.days or onboarding == o.merchants
        if self.progress is None or (now - self.last_progress < 0.25 and not last):
            return
        self.last_progress = now
        t = self.tally
        self.progress(Progress(
            o.merchants if onboarding is None else onboarding, day, o.days, at, t.payments,
            t.approved, now - self.started if self.started else 0.0,
        ))  # fmt: skip

    async def _one(self, event: Event) -> list[tuple[Sale, Outcome]]:
        """A terminal's sign-on at a new place, or a sale and, when it is refused, what
        its customer does next (another PIN, a wallet), booked at once after it: the
        cashier deals with one customer at a time."""
        self.clock.here(event.at)  # this task's own time: the sale's
        if isinstance(event, Move):
            t = event.terminal
            t.place, t.source = event.place, event.source
            await asyncio.to_thread(self._sign_on, t)
            return []
        booked = []
        sale: Sale | None = event
        while sale is not None:
            self.clock.here(sale.at)
            outcome = await self._sale(sale)
            booked.append((sale, outcome))
            sale = sale.fallback if outcome.response_code != "00" else None
        return booked

    async def _sale(self, sale: Sale) -> Outcome:
        """What the host does for a 0200 of this terminal (host/server.py): admit it,
        note a place it has not said before, key the request, hand it to the acquirer."""
        t, app = sale.terminal, self.app
        mid, signon = t.merchant.mid, app.signon
        try:
            admitted = signon.admitted(t.tid, mid) or await signon.admit_soon(t.tid, mid)
        except HostRefusal as r:  # frozen by risk screening, say: the host refuses it
            return Outcome(r.response_code)
        if not signon.places.unchanged(t.tid, t.place, t.source):
            await signon.places.note(admitted.terminal_id, t.tid, t.place, t.source)
        stan, amount = t.next_stan(), Money(sale.amount_minor)
        what = sale.code if sale.card is None else sale.card.pan
        fingerprint = app.ctx.keystore.token(
            f"0200|{t.tid}|{admitted.batch_no}|{stan}|{sale.amount_minor}|{sale.entry_mode}|{what}",
            kind="request",
        )
        key = RequestKey("0200", stan, admitted.batch_no, fingerprint)
        if sale.card is None:
            assert sale.code is not None
            return await self.acquirer.wallet_sale(admitted, key, amount, sale.code)
        card = sale.card
        pin_block = None
        if sale.pin is not None:
            pin_block = tdes.encrypt_pin_block(admitted.pik, sale.pin, card.pan)
        chip = None
        if sale.entry_mode in ("05", "07"):
            today = sale.at.astimezone(BUSINESS_TZ).date()
            chip = self.chips.read(
                card, sale.amount_minor, pin=pin_block is not None, tid=t.tid, today=today,
                unpredictable=sale.unpredictable,
            )  # fmt: skip
        return await self.acquirer.sale(
            admitted, key, amount,
            Card(card.pan, card.expiry, sale.entry_mode, pin_block, chip,
                 PSN if chip is not None else "00"),
        )  # fmt: skip
