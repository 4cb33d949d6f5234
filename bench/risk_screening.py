"""Risk screening's own CPU per sale on realistic traffic (docs/risk.md, "Measured").

    python -m bench.risk_screening [--sales 60000] [--terminals 20000] [--cards 500000]

The engine of a host process (risk/engine.py) with the built-in rules live, over an
SQLite demo database: a warm-up of as many sales as measured, then the measured sales,
each as the host runs it: ``catch_up`` (the payments table read from where it stopped,
one payment recorded since by the "other process", which raised the machine's counter
of payment commits; and the rules' counter once a second) and ``screen`` (the features
the rules read, every rule, the attempt counted).
Traffic: terminals of 500 merchants of both kinds, cards drawn from a pool (a few
regulars come back), amounts of everyday tickets, a sale every few seconds per
terminal: what a real fleet sends, unlike the host benchmark's 64 terminals selling
one card each as fast as they can (a worst case for features kept per card and per
terminal: `python -m bench.host_throughput --in-process --screening-both`).

Prints CPU per sale for catch-up, decision and both, and their share of the 20 us
budget. Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from tillpoint.app import open_app
from tillpoint.core.settings import Settings
from tillpoint.core.signal import WriteSignal, signal_path
from tillpoint.demo import ensure_demo
from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.payments.models import Channel, Payment, PaymentKind, PaymentStatus
from tillpoint.payments.rules import Limits
from tillpoint.payments.screening import Attempt
from tillpoint.payments.writer import PAYMENTS_WRITTEN

BUDGET_US = 20.0
MERCHANTS = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sales", type=int, default=60_000)
    parser.add_argument("--terminals", type=int, default=5_000)
    parser.add_argument("--cards", type=int, default=500_000)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        tp = open_app(
            Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 'b.db'}",  # type: ignore[call-arg]
                     network_dir=str(Path(tmp) / "network"), demo=True),
            migrate="always",
        )  # fmt: skip
        ensure_demo(tp, 1)  # the merchant and shop the "other process's" payments are
        engine = tp.risk_engine
        start = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
        per_s = 5  # sales a second across the fleet: a terminal sells every ~4,000 s
        limits = Limits(5_000_000, 50_000_000)

        def attempt(i: int) -> Attempt:
            terminal = rng.randrange(args.terminals)
            merchant = terminal % MERCHANTS
            card = rng.randrange(args.cards) if rng.random() < 0.8 else merchant * 7
            kind = MerchantKind.PERSONAL if merchant % 2 else MerchantKind.BUSINESS
            return Attempt(
                start + timedelta(seconds=i / per_s), f"{i:012d}", PaymentKind.SALE,
                Channel.TERMINAL, merchant + 1, kind, "5812", terminal + 1,
                rng.randrange(500, 30_000), PaymentMethod.DEBIT, f"card{card}", "621234",
                card % 10_000, rng.random() < 0.3, limits,
            )  # fmt: skip

        def record(conn: object, a: Attempt, payment_id: int) -> None:
            """The payment another process recorded: what catch-up folds in."""
            conn.execute(  # type: ignore[attr-defined]
                insert(Payment),
                {"id": payment_id, "kind": PaymentKind.SALE, "status": PaymentStatus.APPROVED,
                 "response_code": "00", "merchant_id": 1, "shop_id": 1, "terminal_id": None,
                 "rrn": f"X{payment_id:011d}", "amount_minor": a.amount_minor,
                 "currency": "CNY", "method": PaymentMethod.DEBIT, "pan_masked": "621234******0012",
                 "pan_token": a.card, "entry_mode": "021", "business_date": a.at.date(),
                 "refunded_minor": 0, "fee_minor": 0, "channel": Channel.TERMINAL,
                 "created_at": a.at, "updated_at": a.at},
            )  # fmt: skip

        # the machine's counter of payment commits, as another process holds it
        signal = WriteSignal(signal_path(tp.ctx.settings.database_url, PAYMENTS_WRITTEN))
        with tp.ctx.db.quick_read() as conn:
            engine.catch_up(conn, None)
            for i in range(args.sales):  # warm-up: the features fill
                engine.screen(attempt(i))
            attempts = [attempt(args.sales + i) for i in range(args.sales)]
            catching = deciding = 0.0
            for n, a in enumerate(attempts, 1):
                with tp.ctx.db.engine.begin() as w:  # not measured
                    record(w, a, n)
                signal.bump()  # as the other process's writer does after its commit
                t = time.thread_time()
                engine.catch_up(conn, a.terminal_id)
                t2 = time.thread_time()
                engine.screen(a)
                t3 = time.thread_time()
                catching += t2 - t
                deciding += t3 - t2
        tp.close()
    n = len(attempts)
    catch_us, decide_us = catching / n * 1e6, deciding / n * 1e6
    total = catch_us + decide_us
    print(
        f"{n:,} sales measured after {args.sales:,} of warm-up; {args.terminals:,} terminals, "
        f"{MERCHANTS} merchants, {args.cards:,} cards; built-in rules live"
    )
    print(f"catch-up: {catch_us:6.1f} us CPU per sale (reads one payment another process made)")
    print(f"decision: {decide_us:6.1f} us CPU per sale (features, every rule, the attempt counted)")
    print(f"screening: {total:6.1f} us CPU per sale, {total / BUDGET_US:.0%} of its 20 us budget")


if __name__ == "__main__":
    main()
