"""The simulator's plan (simulation/plan.py) and its booking order (runner.Queues),
without a database."""

from __future__ import annotations

import functools
import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.ids import luhn_ok
from tillpoint.merchants import validation
from tillpoint.merchants.models import MerchantKind
from tillpoint.networks.bins import Funding as BinFunding
from tillpoint.networks.bins import classify
from tillpoint.simulation.cards import CardMaker, Funding, card_number
from tillpoint.simulation.models import Pattern
from tillpoint.simulation.plan import (
    RELOCATION_MIN_KM,
    Event,
    Move,
    Plan,
    Sale,
    pattern_count,
    resident_id,
)
from tillpoint.simulation.runner import Queues, _keys
from tillpoint.simulation.trades import CITIES, REGISTERED, TRADES, distance_km

LIMITS = {MerchantKind.PERSONAL: 20_000_00, MerchantKind.BUSINESS: 500_000_00}
START = date(2026, 11, 2)


def plan(seed: int = 7, merchants: int = 12, days: int = 4) -> Plan:
    return Plan(seed, merchants, days, START, LIMITS)


def test_shares_are_whole() -> None:
    assert sum(t.share for t in REGISTERED) == pytest.approx(1)
    assert sum(c.share for c in CITIES) == pytest.approx(1)
    assert all(abs(sum(vars(t.mix).values()) - 1) < 1e-9 for t in TRADES)


@given(st.sampled_from(["621234", "625094", "622848", "476134", "522222"]), st.integers(0))
def test_card_numbers_are_of_their_bin_with_a_check_digit(bin_: str, account: int) -> None:
    pan = card_number(bin_, account)
    info = classify(pan)
    assert luhn_ok(pan) and pan.startswith(bin_) and info is not None
    assert len(pan) == (19 if bin_.startswith("62") else 16)
    assert info.funding is (BinFunding.CREDIT if bin_[0] != "6" or bin_ == "625094"
                            else BinFunding.DEBIT)  # fmt: skip


def test_customers_cards_are_distinct_and_mostly_sound() -> None:
    maker, rng = CardMaker(START), random.Random(1)
    cards = [maker.customer(rng, f) for f in Funding for _ in range(2000)]
    assert len({c.pan for c in cards}) == len(cards)
    trouble = sum(c.lost or c.refused or c.expiry < "2611" for c in cards)
    assert 0 < trouble < 0.03 * len(cards)
    assert all(classify(c.pan) is not None for c in cards)


@given(st.integers(0, 10**7))
def test_identity_numbers_pass_the_merchants_checks(k: int) -> None:
    assert validation.resident_id(resident_id("310101", k)) == resident_id("310101", k)


def test_pattern_counts() -> None:
    assert [pattern_count(n) for n in (1, 6, 50, 500)] == [1, 1, 2, 15]


def test_a_seed_makes_the_same_plan_and_another_seed_another() -> None:
    def sales(p: Plan) -> list[tuple[object, ...]]:
        return [
            (e.at, e.terminal.serial, e.amount_minor, e.entry_mode, e.code, e.pin,
             None if e.card is None else e.card.pan, None if e.label is None else e.label.n)
            for day in range(p.days) for e in p.day(day) if isinstance(e, Sale)
        ]  # fmt: skip

    assert sales(plan()) == sales(plan())
    assert sales(plan()) != sales(plan(seed=8))
    assert [m.legal_name for m in plan().merchants] == [m.legal_name for m in plan().merchants]


def test_every_pattern_is_planned_even_in_a_small_run_without_personal_merchants() -> None:
    for seed in range(20):
        p = plan(seed, merchants=4, days=2)
        assert {label.pattern for label in p.labels} == set(Pattern), seed
        assert len({label.merchant.n for label in p.labels}) == len(Pattern)


def test_the_patterns_look_as_they_should() -> None:
    p = plan(merchants=40, days=10)
    events = [e for day in range(p.days) for e in p.day(day)]
    for label in p.labels:
        mine = [e for e in events if e.label is label]
        assert mine, label.pattern
        if label.pattern is Pattern.CARD_TESTING:
            cards = [e.card for e in mine if isinstance(e, Sale) and e.card is not None]
            assert len({c.bin for c in cards}) == 1 and len({c.pan for c in cards}) >= 15
            assert all(isinstance(e, Sale) and e.amount_minor < 10_00 for e in mine)
            assert max(e.at for e in mine) - min(e.at for e in mine) < timedelta(minutes=40)
        elif label.pattern is Pattern.CASH_OUT:
            assert label.merchant.kind is MerchantKind.PERSONAL
            sales = [e for e in mine if isinstance(e, Sale)]
            assert all(5000_00 <= e.amount_minor < 20_000_00 for e in sales)
            assert all(e.card is not None and e.card.funding is Funding.CREDIT for e in sales)
            assert len({e.card.pan for e in sales if e.card}) <= 4
        elif label.pattern is Pattern.RELOCATION:
            moves = [e for e in mine if isinstance(e, Move)]
            assert len(moves) == 1 and label.terminal is moves[0].terminal
            assert label.detail["distance_km"] >= RELOCATION_MIN_KM
            assert distance_km(moves[0].city.centre, label.merchant.city.centre) >= 300
            assert all(e.at >= moves[0].at for e in mine)
        else:
            assert label.merchant.mismatch is not None
            imitated = label.merchant.mismatch[1]
            assert imitated.mcc != label.merchant.trade.mcc
    # Ordinary sales keep to their trade's hours (a fallback may run a minute past).
    for e in events:
        if isinstance(e, Sale) and e.label is None:
            minute = e.at.astimezone(BUSINESS_TZ).hour * 60 + e.at.astimezone(BUSINESS_TZ).minute
            hours = e.terminal.merchant.trade.hours
            assert any(w.start_min <= minute < w.end_min for w in hours)


def test_regulars_come_back() -> None:
    p = plan(merchants=10, days=7)
    cards = [e.card.pan for day in range(7) for e in p.day(day)
             if isinstance(e, Sale) and e.card is not None and e.label is None]  # fmt: skip
    counts = sorted((cards.count(pan) for pan in set(cards)), reverse=True)
    assert counts[0] >= 7  # some card paid at least once a day


def test_the_deck_holds_every_card_a_sale_uses_but_a_card_testers_unissued_ones() -> None:
    p = plan(merchants=30, days=5)
    deck = {c.pan for c in p.deck()}
    for day in range(p.days):
        for e in p.day(day):
            sale: Sale | None = e if isinstance(e, Sale) else None
            while sale is not None:
                if sale.card is not None and not (
                    sale.label is not None and sale.label.pattern is Pattern.CARD_TESTING
                ):
                    assert sale.card.pan in deck
                sale = sale.fallback


@functools.cache
def one_day() -> list[Event]:
    """A day of six merchants, a card test among them (many sales of one merchant)."""
    p = plan(merchants=6, days=1)
    return sorted(p.day(0), key=lambda e: (e.at, e.seq))


@given(st.randoms(use_true_random=False))
def test_queues_book_each_merchant_and_card_in_order_never_two_at_once(
    rng: random.Random,
) -> None:
    events = one_day()
    queues, running, done = Queues(events), [], []
    while len(done) < len(events):
        while len(running) < 8 and (event := queues.take()) is not None:
            held = {k for e in running for k in _keys(e)}
            assert held.isdisjoint(_keys(event))
            running.append(event)
        finished = running.pop(rng.randrange(len(running)))
        queues.finish(finished)
        done.append(finished)
    assert sorted(map(id, done)) == sorted(map(id, events))

    def order(key: int | str, seq: list[Event]) -> list[Event]:
        return [e for e in seq if key in _keys(e)]

    for key in {k for e in events for k in _keys(e)}:
        assert order(key, done) == order(key, events)
