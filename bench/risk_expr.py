"""How long a compiled risk rule takes to run on one sale's features.

    python -m bench.risk_expr [--loops 200000] [--repeat 7]

For each typical rule: the wall time per evaluation (the best of ``--repeat`` runs of
``--loops`` calls, as timeit measures: the machine's speed, not its load) and the CPU
time per evaluation (``time.process_time`` around the same runs, the best run), both
through ``rule(features)`` and through ``rule.test(features)`` (the same function without
the method call); all of them as the engine runs them, one function for the set
(``rule_set``); then the time to compile each rule, and a screening of all the rules on
one sale against the budget of ~20 µs of CPU for all of a card sale's screening (about
15 rules).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from decimal import Decimal

from tillpoint.risk.expr import MAX_SOURCE_CHARS, CompiledRule, ExprError, compile_rule, rule_set

FEATURES: dict[str, int | Decimal | bool | str] = {
    "amount": 5_000_00,
    "hour": 3,
    "card.count_10m": 3,
    "card.credit": True,
    "terminal.distinct_cards_10m": 2,
    "terminal.declines_10m": 1,
    "terminal.distance_km": Decimal("12.5"),
    "terminal.other_city": False,
    "merchant.night_trader": False,
    "merchant.mcc": "5411",
}
PARAMS = {
    "max_per_card_10m": 5,
    "max_km": Decimal("50"),
    "near_limit_share": Decimal("0.8"),
    "limit_per_txn": 5_000_00,
    "high_risk_mccs": ("7995", "5933", "4829"),
}
RULES = [
    "card.count_10m >= 5",
    "card.count_10m >= max_per_card_10m and amount > 0",
    "terminal.distinct_cards_10m >= 8 or terminal.declines_10m >= 5",
    "card.credit and amount % 100_00 == 0 and amount >= 5_000_00",
    "hour in (0, 1, 2, 3, 4, 5) and not merchant.night_trader",
    "1 <= hour < 6 and merchant.mcc in high_risk_mccs",
    "terminal.distance_km > max_km or terminal.other_city",
    "amount >= near_limit_share * limit_per_txn",
    "amount / max(card.count_10m, 1) > 1_000_00",
]
BUDGET_US = 20.0
RULES_PER_SALE = 15


def measure(fn: Callable[[], object], loops: int, repeat: int) -> tuple[float, float]:
    """(best wall ns, best CPU ns) per call of ``fn``."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
        for _ in range(loops):
            fn()
        wall, cpu = time.perf_counter_ns() - wall0, time.process_time_ns() - cpu0
        best_wall, best_cpu = min(best_wall, wall / loops), min(best_cpu, cpu / loops)
    return best_wall, best_cpu


def empty_loop(loops: int, repeat: int) -> tuple[float, float]:
    return measure(lambda: None, loops, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    compiled: list[CompiledRule] = [compile_rule(r, FEATURES.keys(), PARAMS) for r in RULES]
    # The loop and the lambda around each call cost the same for every rule: measured
    # once and taken off, so the figures are the rule's own.
    base_wall, base_cpu = empty_loop(args.loops, args.repeat)
    f = FEATURES
    print(f"loop overhead taken off: {base_wall:.0f} ns wall, {base_cpu:.0f} ns CPU per call")
    print(f"{'rule':64} {'result':>6} {'call ns':>8} {'CPU ns':>7} {'test ns':>8} {'CPU ns':>7}")
    total_call = total_test = 0.0
    for rule in compiled:
        call_wall, call_cpu = measure(lambda r=rule: r(f), args.loops, args.repeat)  # type: ignore[misc]
        test = rule.test
        test_wall, test_cpu = measure(lambda t=test: t(f), args.loops, args.repeat)  # type: ignore[misc]
        call_wall, call_cpu = call_wall - base_wall, call_cpu - base_cpu
        test_wall, test_cpu = test_wall - base_wall, test_cpu - base_cpu
        total_call += call_cpu
        total_test += test_cpu
        print(
            f"{rule.source:64} {rule(f)!s:>6} {call_wall:8.0f} {call_cpu:7.0f}"
            f" {test_wall:8.0f} {test_cpu:7.0f}"
        )
    per_rule_call, per_rule_test = total_call / len(compiled), total_test / len(compiled)
    print(
        f"\nmean CPU per rule: {per_rule_call:.0f} ns through rule(features), "
        f"{per_rule_test:.0f} ns through rule.test(features)"
    )
    for how, ns in (("rule(features)", per_rule_call), ("rule.test(features)", per_rule_test)):
        us = ns * RULES_PER_SALE / 1000
        print(
            f"{RULES_PER_SALE} such rules per sale, {how}: {us:.2f} µs CPU "
            f"= {us / BUDGET_US:.0%} of the {BUDGET_US:.0f} µs screening budget"
        )
    # All of them as the engine runs them: one function for the set (``rule_set``).
    numbers = {n for n, v in FEATURES.items() if not isinstance(v, str)}
    run = rule_set(compiled, numbers)
    set_wall, set_cpu = measure(lambda: run(f), args.loops, args.repeat)
    set_us = (set_cpu - base_cpu) / 1000
    print(
        f"the {len(compiled)} rules as one function (rule_set): {set_us:.2f} µs CPU "
        f"({(set_wall - base_wall) / 1000:.2f} µs wall), one by one {total_test / 1000:.2f} µs"
    )
    compile_loops = max(1, args.loops // 100)
    compile_wall, compile_cpu = measure(
        lambda: [compile_rule(r, FEATURES.keys(), PARAMS) for r in RULES],
        compile_loops,
        args.repeat,
    )
    print(
        f"compiling: {compile_cpu / len(RULES) / 1000:.0f} µs CPU per rule "
        f"({compile_wall / len(RULES) / 1000:.0f} µs wall)"
    )
    # What an operator could type to make the parser work hard: each is refused, and how
    # long refusing it takes (the slowest) shows no input costs more than a glance.
    worst, worst_source = 0.0, ""
    for source in PATHOLOGICAL:
        started = time.process_time()
        try:
            compile_rule(source[:MAX_SOURCE_CHARS], FEATURES.keys() | {"a"}, PARAMS)
        except ExprError:
            pass
        else:
            raise SystemExit(f"not refused: {source[:40]!r}")
        took = time.process_time() - started
        if took > worst:
            worst, worst_source = took, source
    print(
        f"pathological rules ({len(PATHOLOGICAL)}): all refused, the slowest in "
        f"{worst * 1000:.1f} ms CPU ({worst_source[:24]!r}...)"
    )


PATHOLOGICAL = [
    "-" * 999 + "1",
    "not " * 249 + "a",
    "(" * 250 + "a" + ")" * 250,
    "[" * 300,
    "a." * 499 + "a",
    "a" + " + a" * 249,
    "a if " * 200,
    "amount > 0 and " * 66 + "amount > 0",
    "abs(" * 100 + "1" + ")" * 100 + " > 0",
    "1 < " * 249 + "1",
    "9" * 1000,
    "(((" * 100 + "1",
]


if __name__ == "__main__":
    main()
