"""CPU time of the risk feature store's calls, on warm state.

    python -m bench.risk_features [--cards 100000] [--calls 50000] [--no-gc]

Builds the state of a busy day first: 300,000 payments over the 24 hours before ``now``
from 100,000 cards (of 40 BINs), 1,000 terminals and 500 merchants (two terminals each),
90 % approved. Then times, in µs of CPU (``time.process_time``) per call, the loop
included, for attempts after that day (1,000 a second, the same cards, terminals and
merchants):

- ``compute`` of 15 typical names, and of all FEATURES (the first call of the day for a
  merchant works out its top 3 again: timed apart);
- ``add`` of an attempt in flight, then ``add_outcome`` of its answer;
- ``add`` of an attempt that already has its answer.

Each figure is given for the best batch of 2,000 calls (the machine's speed when nothing
else ran on the core) and the median batch. The budget: compute(all) <= 8 µs, add <= 4 µs.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import random
import statistics
import time
from collections.abc import Callable

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
BATCH = 2_000
START_S = 1_750_000_000 - 1_750_000_000 % 86_400  # a UTC midnight
Call = tuple[int, int, int, int | None, str | None, str | None, int | None, int]


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
                rrn=f"{first_s % 10**6:06d}{i:06d}",
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


def report(label: str, batches: list[float]) -> None:
    best, median = min(batches), statistics.median(batches)
    print(f"{label:<28} best {best:6.2f} µs   median {median:6.2f} µs")


def timed_add(label: str, batch: list[Event], call: Callable[[Event], object]) -> None:
    batches = []
    for i in range(0, len(batch), BATCH):
        chunk = batch[i : i + BATCH]
        t0 = time.process_time()
        for e in chunk:
            call(e)
        batches.append(per_call_us(time.process_time() - t0, len(chunk)))
    report(label, batches)


def timed_compute(
    label: str, store: FeatureStore, names: frozenset[str], calls: list[Call]
) -> None:
    compute = store.compute
    batches = []
    for i in range(0, len(calls), BATCH):
        chunk = calls[i : i + BATCH]
        t0 = time.process_time()
        for now_s, hour, mid, tid, card, bin6, last4, amount in chunk:
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
        batches.append(per_call_us(time.process_time() - t0, len(chunk)))
    report(label, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--no-gc", action="store_true", help="with the garbage collector off")
    args = parser.parse_args()
    if args.no_gc:
        gc.disable()
    rng = random.Random(7)
    store = FeatureStore()
    now_s = START_S + 86_400
    day = events(rng, 300_000, args.cards, START_S, 86_400)
    t0 = time.process_time()
    for e in day:
        store.add(e)
    took_us = per_call_us(time.process_time() - t0, len(day))
    print(f"warm state: {store.stats()}, {took_us:.2f} µs per add")

    span_s = max(1, args.calls // 1_000)
    fresh = events(rng, args.calls, args.cards, now_s, span_s)
    calls: list[Call] = [
        (e.at_s, e.hour, e.merchant_id, e.terminal_id, e.card, e.bin6, e.last4, e.amount_minor)
        for e in fresh
    ]
    timed_compute("compute (first of the day)", store, FEATURES, calls[:BATCH])
    timed_compute("compute, 15 typical names", store, TYPICAL, calls)
    timed_compute("compute, all FEATURES", store, FEATURES, calls)
    in_flight = [dataclasses.replace(e, response_code=None) for e in fresh]
    timed_add("add (in flight)", in_flight, store.add)
    timed_add("add_outcome", fresh, store.add_outcome)
    later = events(rng, args.calls, args.cards, now_s + span_s, span_s)
    timed_add("add (answered)", later, store.add)
    gc_state = "on" if gc.isenabled() else "off"
    print(f"garbage collector {gc_state}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
