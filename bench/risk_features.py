"""CPU time of the risk feature store's calls, on warm state.

    python -m bench.risk_features [--cards 100000] [--calls 50000]

Builds the state of a busy day first: 300,000 payments over the 24 hours before ``now``
from 100,000 cards (with 40 BINs), 1,000 terminals and 500 merchants (two terminals
each), 90 % approved. Then times, in µs of CPU (``time.process_time``) per call, the
loop and the building of the calls' arguments included:

- ``compute`` of 15 typical names, and of all FEATURES, for attempts of known cards;
- ``add`` of an attempt in flight, then ``add_outcome`` of its answer;
- ``add`` of an attempt that already has its answer.

The budget: compute(all) <= 8 µs, add <= 4 µs.
"""

from __future__ import annotations

import argparse
import random
import time

from tillpoint.risk.features import FEATURES, Event, FeatureStore

TYPICAL = frozenset(
    {
        "card.count_10m",
        "card.count_1h",
        "card.count_24h",
        "card.amount_24h",
        "card.declines_10m",
        "card.merchant_count_24h",
        "card.merchants_24h",
        "terminal.count_10m",
        "terminal.distinct_cards_10m",
        "terminal.declines_10m",
        "terminal.small_10m",
        "terminal.bin_run_10m",
        "merchant.count_1h",
        "merchant.amount_24h",
        "merchant.hour_share_30d",
    }
)
START_S = 1_750_000_000 - 1_750_000_000 % 86_400  # a UTC midnight


def events(rng: random.Random, n: int, cards: int, first_s: int, span_s: int) -> list[Event]:
    bins = [f"{622000 + i * 37:06d}" for i in range(40)]
    out = []
    for i in range(n):
        c = rng.randrange(cards)
        terminal = rng.randrange(1_000)
        at = first_s + span_s * i // n
        out.append(
            Event(
                at_s=at,
                hour=(at // 3_600 + 8) % 24,
                rrn=f"{i:012d}",
                merchant_id=terminal // 2,
                terminal_id=terminal,
                card=f"tok{c:016x}",
                bin6=bins[c % 40],
                last4=c % 10_000,
                amount_minor=rng.choice((500, 1_999, 4_850, 12_000, 88_800)),
                credit=c % 3 == 0,
                response_code="00" if rng.random() < 0.9 else "51",
            )
        )
    return out


def per_call_us(seconds: float, calls: int) -> float:
    return seconds / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50_000)
    args = parser.parse_args()
    rng = random.Random(7)
    store = FeatureStore()
    now_s = START_S + 86_400
    day = events(rng, 300_000, args.cards, START_S, 86_400)
    t0 = time.process_time()
    for e in day:
        store.add(e)
    took_s = time.process_time() - t0
    print(f"warm state: {store.stats()}, {per_call_us(took_s, len(day)):.2f} µs per add")

    # Attempts after the warm day, 1,000 a second: the same cards, terminals, merchants.
    fresh = events(rng, args.calls, args.cards, now_s, max(1, args.calls // 1_000))
    calls = [
        (e.at_s, e.hour, e.merchant_id, e.terminal_id, e.card, e.bin6, e.last4, e.amount_minor)
        for e in fresh
    ]
    compute = store.compute
    for names in (TYPICAL, FEATURES):  # once first: each merchant's top 3 of the new day
        for now_s, hour, mid, tid, card, bin6, last4, amount in calls[:2_000]:
            compute(
                names,
                now_s=now_s,
                hour=hour,
                merchant_id=mid,
                terminal_id=tid,
                card=card,
                bin6=bin6,
                last4=last4,
                amount_minor=amount,
            )
    for label, names in (
        ("compute, 15 typical names", TYPICAL),
        ("compute, all FEATURES", FEATURES),
    ):
        t0 = time.process_time()
        for now_s, hour, mid, tid, card, bin6, last4, amount in calls:
            compute(
                names,
                now_s=now_s,
                hour=hour,
                merchant_id=mid,
                terminal_id=tid,
                card=card,
                bin6=bin6,
                last4=last4,
                amount_minor=amount,
            )
        print(f"{label:<32} {per_call_us(time.process_time() - t0, len(calls)):6.2f} µs")

    in_flight = [
        Event(**{**{f: getattr(e, f) for f in e.__slots__}, "response_code": None})  # type: ignore[arg-type]
        for e in fresh
    ]
    add = store.add
    t0 = time.process_time()
    for e in in_flight:
        add(e)
    print(f"{'add (in flight)':<32} {per_call_us(time.process_time() - t0, len(calls)):6.2f} µs")
    add_outcome = store.add_outcome
    t0 = time.process_time()
    for e in fresh:
        add_outcome(e)
    print(f"{'add_outcome':<32} {per_call_us(time.process_time() - t0, len(calls)):6.2f} µs")
    later = events(rng, args.calls, args.cards, now_s + 60, max(1, args.calls // 1_000))
    t0 = time.process_time()
    for e in later:
        add(e)
    print(f"{'add (answered)':<32} {per_call_us(time.process_time() - t0, len(calls)):6.2f} µs")


if __name__ == "__main__":
    main()
