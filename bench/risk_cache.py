"""How much of risk screening's cost is the CPU's caches (docs/risk.md, "What screening
costs"): the engine's decision and the folding in of its answer, per sale, in a tight
loop, then the same sales with a copy of a large buffer between them (``--evict`` MiB),
which pushes the engine's objects and code out of the caches as a sale's other work does
inside the host (SQLite, the 8583 codec, the MAC, SQLAlchemy: about 700 µs of CPU).

    python -m bench.risk_cache [--sales 10000] [--terminals 64] [--evict 6]

Traffic as in ``bench.host_throughput --in-process``: each terminal sells one card again
and again, every rule live with its thresholds out of reach (no rule fires). Prints CPU
per sale with warm and with cold caches, run alternately in the same minutes, and their
ratio (which depends far less on how busy the machine is than either figure). The
buffer's copy is not timed. Asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.host_throughput import quiet_rules

from tillpoint.app import open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import ensure_demo
from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.payments.models import Channel, PaymentKind
from tillpoint.payments.rules import Limits
from tillpoint.payments.screening import Attempt

BUDGET_US = 20.0
ROUNDS = 4  # warm and cold spans, alternating


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sales", type=int, default=10_000, help="per span")
    parser.add_argument("--terminals", type=int, default=64)
    parser.add_argument("--evict", type=int, default=6, help="MiB copied between sales")
    args = parser.parse_args()
    buffer = bytearray(args.evict << 20)
    start = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    limits = Limits(5_000_000, 50_000_000)
    n_terminals = args.terminals

    def attempt(i: int) -> Attempt:
        t = i % n_terminals
        return Attempt(
            start + timedelta(milliseconds=2 * i), f"{i:012d}", PaymentKind.SALE,
            Channel.TERMINAL, 1 + t % 2,
            MerchantKind.BUSINESS if t % 2 == 0 else MerchantKind.PERSONAL, "5812", 1 + t,
            1_000 + t, PaymentMethod.DEBIT, f"card{t}", "621234", t, False, limits,
        )  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        tp = open_app(
            Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 'b.db'}",  # type: ignore[call-arg]
                     network_dir=str(Path(tmp) / "network"), demo=True),
            migrate="always",
        )  # fmt: skip
        ensure_demo(tp, min(n_terminals, 2))
        quiet_rules(tp)
        engine = tp.risk_engine
        spent = {False: 0.0, True: 0.0}
        i = 0
        with tp.ctx.db.quick_read() as conn:
            engine.catch_up(conn, None)
            for span in range(1 + 2 * ROUNDS):  # a warm-up span, then warm and cold
                cold = span % 2 == 0
                for _ in range(args.sales):
                    a = attempt(i)
                    i += 1
                    if cold:
                        bytes(buffer)  # the rest of a sale's work, not timed
                    t = time.thread_time()
                    engine.screen(a)
                    # the answer, as the payment's commit hands it over
                    engine._apply(a.rrn, a.kind, a.merchant_id, a.terminal_id, a.card,
                                "621234******0012", a.amount_minor, "00", a.method, a.at)  # fmt: skip
                    if span:
                        spent[cold] += time.thread_time() - t
        tp.close()
    n = args.sales * ROUNDS
    warm, cold_us = spent[False] / n * 1e6, spent[True] / n * 1e6
    print(
        f"{n:,} sales per figure, {n_terminals} terminals each selling one card, every rule "
        f"live (none fires); {args.evict} MiB copied between the cold ones"
    )
    print(
        f"warm caches: {warm:6.1f} us CPU per sale (decision and answer), {warm / BUDGET_US:.0%} of 20 us"
    )
    print(f"cold caches: {cold_us:6.1f} us CPU per sale, {cold_us / BUDGET_US:.0%} of 20 us")
    print(f"cold / warm: {cold_us / max(warm, 1e-9):.2f}")


if __name__ == "__main__":
    main()
