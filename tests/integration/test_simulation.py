"""The traffic simulator (docs/risk.md): a small run books its sales through the
acquirer, labels every injected pattern with its payments, and is the same again for
the same seed."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from tests.conftest import MASTER_KEY, Databases, approved, personal_application

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import as_utc
from tillpoint.core.errors import InvalidInput, Refused
from tillpoint.core.geo import Position
from tillpoint.core.settings import Settings
from tillpoint.ledger.models import EntryKind, JournalEntry
from tillpoint.merchants.models import Merchant, MerchantKind, PaymentMethod, Shop
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.payments.models import Payment, PaymentEvent, TerminalRequest
from tillpoint.simulation.models import (
    Pattern,
    RunStatus,
    SimulationLabel,
    SimulationLabelPayment,
    SimulationMerchant,
    SimulationRun,
)
from tillpoint.simulation.plan import RELOCATION_MIN_KM
from tillpoint.simulation.runner import (
    Options,
    SimulationClock,
    Summary,
    foreign_merchants,
    simulate,
)
from tillpoint.simulation.trades import TRADE, distance_km
from tillpoint.terminals.models import Terminal

# One sale at a time: risk screening reads features across merchants (a category's
# tickets), which sales booked side by side can reach in either order.
SMALL = Options(merchants=6, days=3, seed=7, concurrency=1)


@dataclass
class Run:
    app: Tillpoint
    summary: Summary
    network_dir: Path


def _open(databases: Databases, directory: Path) -> tuple[Tillpoint, str]:
    url = databases.new()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=url,
        network_dir=str(directory / "network"),
        master_key=SecretStr(MASTER_KEY),
        demo=False,
        locale="en",
    )
    return open_app(settings, clock=SimulationClock()), url


@pytest.fixture(scope="module")
def runs(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Run]]:
    """The same small run twice, each on a database of its own."""
    made, urls = [], []
    for _ in range(2):
        directory = tmp_path_factory.mktemp("simulation")
        app, url = _open(databases, directory)
        made.append(Run(app, simulate(app, SMALL), directory / "network"))
        urls.append(url)
    yield made
    for run, url in zip(made, urls, strict=True):
        run.app.close()
        databases.drop(url)


@pytest.fixture
def run(runs: list[Run]) -> Run:
    return runs[0]


def _labels(app: Tillpoint) -> list[SimulationLabel]:
    with app.ctx.db.read() as s:
        return list(s.scalars(select(SimulationLabel).order_by(SimulationLabel.id)))


def _payments_of(app: Tillpoint, label_id: int) -> list[Payment]:
    with app.ctx.db.read() as s:
        return list(
            s.scalars(
                select(Payment)
                .join(SimulationLabelPayment, SimulationLabelPayment.payment_id == Payment.id)
                .where(SimulationLabelPayment.label_id == label_id)
                .order_by(Payment.created_at)
            )
        )


def test_every_sale_went_through_the_acquirer_and_the_books_balance(run: Run) -> None:
    app, summary = run.app, run.summary
    with app.ctx.db.read() as s:
        payments = s.scalar(select(func.count()).select_from(Payment))
        # The duplicate rule's record, the first event and, when approved, the entry:
        # what the acquirer writes for every sale a terminal sends.
        requests = s.scalar(select(func.count()).select_from(TerminalRequest))
        events = s.scalar(select(func.count(func.distinct(PaymentEvent.payment_id))))
        captures = s.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.CAPTURE)
        )
        by_code = select(Payment.response_code, func.count()).group_by(Payment.response_code)
        codes: dict[str, int] = dict(s.execute(by_code).all())  # type: ignore[arg-type]
        approved_rrns = set(s.scalars(select(Payment.rrn).where(Payment.response_code == "00")))
        row = s.scalars(select(SimulationRun)).one()
        methods = set(s.scalars(select(Payment.method).distinct()))
        entry_modes = set(s.scalars(select(Payment.entry_mode).distinct()))
    assert summary.payments == payments == requests == events > 300
    assert summary.approved == captures == codes["00"] == row.approved
    assert summary.codes == codes and summary.declined == row.declined > 0
    assert row.status is RunStatus.FINISHED and row.payments == payments
    assert {"05", "07", "02", "03"} <= entry_modes  # inserted, tapped, swiped; wallet codes
    assert {PaymentMethod.DEBIT, PaymentMethod.CREDIT, PaymentMethod.CONTACTLESS} <= methods
    assert methods & {PaymentMethod.ALIPAY, PaymentMethod.WECHAT}
    assert app.ledger.check() == []
    # The networks booked what was approved, in their clearing files, each for the
    # merchant, category and fee class the acquirer registered (no code jumping).
    journal = ClearingJournal(run.network_dir, app.days.open_date)
    start = summary.start
    cleared = {
        ref: (a.mid, a.mcc, a.fee_class) if a else None
        for day in range(summary.days + 1)
        for _, ref, _, a in journal.rows(start + timedelta(days=day))
    }
    assert set(cleared) == approved_rrns
    with app.ctx.db.read() as s:
        registered = {
            rrn: (mid, mcc, method.value)
            for rrn, mid, mcc, method in s.execute(
                select(Payment.rrn, Merchant.mid, Merchant.mcc, Payment.method)
                .join(Merchant, Merchant.id == Payment.merchant_id)
                .where(Payment.response_code == "00")
            )
        }
    assert cleared == registered


def test_every_pattern_is_labelled_with_its_payments(run: Run) -> None:
    app = run.app
    labels = _labels(app)
    assert {label.pattern for label in labels} == set(Pattern)
    assert run.summary.labels == dict(Counter(label.pattern for label in labels))
    for label in labels:
        paid = _payments_of(app, label.id)
        assert len(paid) == label.payments > 0
        assert {p.merchant_id for p in paid} == {label.merchant_id}
        if label.terminal_id is not None:
            assert {p.terminal_id for p in paid} == {label.terminal_id}
        first, last = as_utc(label.first_at), as_utc(label.last_at)
        assert all(first <= as_utc(p.created_at) <= last for p in paid)
        assert re.search(r"[0-9]{13,}", str(label.detail)) is None  # no card number


def _label(app: Tillpoint, pattern: Pattern) -> tuple[SimulationLabel, list[Payment]]:
    label = next(label for label in _labels(app) if label.pattern is pattern)
    return label, _payments_of(app, label.id)


def test_card_testing_is_a_burst_of_many_cards_small_amounts_and_declines(run: Run) -> None:
    label, paid = _label(run.app, Pattern.CARD_TESTING)
    assert len(paid) >= 20
    assert as_utc(label.last_at) - as_utc(label.first_at) < timedelta(minutes=30)
    assert all(p.amount_minor < 10_00 for p in paid)
    assert len({p.pan_token for p in paid}) >= 0.75 * len(paid)
    assert len({p.pan_masked[:6] for p in paid if p.pan_masked}) == 1  # one BIN
    assert sum(p.response_code != "00" for p in paid) >= len(paid) / 2


def test_cash_out_is_a_few_credit_cards_paying_large_round_sums(run: Run) -> None:
    label, paid = _label(run.app, Pattern.CASH_OUT)
    with run.app.ctx.db.read() as s:
        merchant = s.get(Merchant, label.merchant_id)
        assert merchant is not None and merchant.kind is MerchantKind.PERSONAL
    assert all(p.amount_minor >= 5000_00 and p.amount_minor % 100 == 0 for p in paid)
    assert all(p.method is PaymentMethod.CREDIT for p in paid)
    assert len({p.pan_token for p in paid}) <= 4
    limit = label.detail["per_txn_limit_minor"]
    assert limit == 20_000_00 and all(p.amount_minor < limit for p in paid)


def test_a_relocated_terminal_reports_a_far_place_and_keeps_selling(run: Run) -> None:
    label, paid = _label(run.app, Pattern.RELOCATION)
    with run.app.ctx.db.read() as s:
        terminal = s.get(Terminal, label.terminal_id)
        assert terminal is not None and terminal.place_latitude_e6 is not None
        assert terminal.place_longitude_e6 is not None
        shop = s.get(Shop, terminal.shop_id)
        assert shop is not None and shop.latitude_e6 is not None and shop.longitude_e6 is not None
        later = s.scalars(
            select(Payment.id).where(
                Payment.terminal_id == terminal.id, Payment.created_at >= label.first_at
            )
        ).all()
    here = Position(shop.latitude_e6, shop.longitude_e6)
    there = Position(terminal.place_latitude_e6, terminal.place_longitude_e6)
    assert distance_km(here, there) >= RELOCATION_MIN_KM
    assert label.detail["distance_km"] == distance_km(here, there)
    assert sorted(later) == sorted(p.id for p in paid)  # all it sold there is labelled


def test_a_mismatched_merchant_sells_another_trades_tickets(run: Run) -> None:
    label, paid = _label(run.app, Pattern.CATEGORY_MISMATCH)
    with run.app.ctx.db.read() as s:
        merchant = s.get(Merchant, label.merchant_id)
        trade = s.scalar(
            select(SimulationMerchant.trade).where(
                SimulationMerchant.merchant_id == label.merchant_id
            )
        )
    assert merchant is not None and trade is not None
    registered, imitated = TRADE[trade], TRADE[label.detail["imitates"]]
    assert merchant.mcc == registered.mcc == label.detail["mcc"] != imitated.mcc
    median = sorted(p.amount_minor for p in paid)[len(paid) // 2]
    assert median > registered.ticket_minor[2]  # dearer than the dearest of its own trade


def test_the_same_seed_books_the_same_traffic(runs: list[Run]) -> None:
    def traffic(app: Tillpoint) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        with app.ctx.db.read() as s:
            sales = s.execute(
                select(Terminal.serial_no, Payment.created_at, Payment.amount_minor,
                       Payment.response_code, Payment.method, Payment.entry_mode)
                .join(Terminal, Terminal.id == Payment.terminal_id)
                .order_by(Payment.created_at, Terminal.serial_no, Payment.amount_minor)
            ).all()  # fmt: skip
            labels = []
            for label in _labels(app):
                merchant = s.get(Merchant, label.merchant_id)
                assert merchant is not None
                labels.append((
                    label.pattern, merchant.legal_name, label.first_at, label.last_at,
                    label.detail,
                    sorted((p.created_at, p.amount_minor, p.response_code)
                           for p in _payments_of(app, label.id)),
                ))  # fmt: skip
        return [tuple(r) for r in sales], labels

    first, second = traffic(runs[0].app), traffic(runs[1].app)
    assert first == second
    assert runs[0].summary.codes == runs[1].summary.codes


def test_another_seed_books_other_traffic(
    databases: Databases, tmp_path: Path, runs: list[Run]
) -> None:
    app, url = _open(databases, tmp_path)
    try:
        other = simulate(app, Options(merchants=2, days=1, seed=8))
        with app.ctx.db.read() as s:
            amounts = list(s.scalars(select(Payment.amount_minor).order_by(Payment.created_at)))
        with runs[0].app.ctx.db.read() as s:
            seven = list(s.scalars(select(Payment.amount_minor).order_by(Payment.created_at)))
        assert other.payments == len(amounts) and amounts != seven[: len(amounts)]
    finally:
        app.close()
        databases.drop(url)


def test_a_database_with_other_merchants_is_refused_unless_forced(
    databases: Databases, tmp_path: Path
) -> None:
    app, url = _open(databases, tmp_path)
    try:
        simulate(app, Options(merchants=1, days=1, seed=1))
        # Its own merchants do not count: a second run needs no force.
        assert simulate(app, Options(merchants=1, days=1, seed=2)).run_id == 2
        approved(app, personal_application())
        assert foreign_merchants(app) == 1
        with pytest.raises(Refused) as refused:
            simulate(app, Options(merchants=1, days=1, seed=3))
        assert refused.value.code == "simulation.not_fresh"
        with app.ctx.db.read() as s:
            assert s.scalar(select(func.count()).select_from(SimulationRun)) == 2
        assert simulate(app, Options(merchants=1, days=1, seed=3, force=True)).payments > 0
        assert app.ledger.check() == []
    finally:
        app.close()
        databases.drop(url)


@pytest.mark.parametrize(
    "changes", [{"merchants": 0}, {"days": 367}, {"concurrency": 0}, {"seed": -1}]
)
def test_options_out_of_range_are_refused(changes: dict[str, int]) -> None:
    with pytest.raises(InvalidInput):
        Options(**{"merchants": 1, "days": 1, "seed": 1, **changes})  # type: ignore[arg-type]


def test_each_booking_task_sees_its_own_moment() -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)
    clock = SimulationClock(start)

    async def sale_at(moment: datetime) -> list[datetime]:
        clock.here(moment)
        await asyncio.sleep(0)  # the other task runs meanwhile
        return [clock.now(), await asyncio.to_thread(clock.now)]

    async def both() -> list[list[datetime]]:
        return await asyncio.gather(*(sale_at(start + timedelta(minutes=n)) for n in (1, 2)))

    one, two = start + timedelta(minutes=1), start + timedelta(minutes=2)
    assert asyncio.run(both()) == [[one, one], [two, two]]
    assert clock.now() == start  # outside the tasks: the clock the run moves
