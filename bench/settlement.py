"""Settlement run throughput: N captures and refunds already in the ledger across M
merchants, then one business day's settlement, timed end to end.

    python bench/settlement.py [--rows 1000000] [--merchants 1000]

Prints the time to load the ledger (not part of the figure), the settlement run's time,
rows/s and the process's peak memory; asserts nothing. Target (2 cores, SQLite): 10
million rows settled in at most 60 s. Reconciliation with the networks' clearing files
is not built yet, so it is not in the figure.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from tillpoint.app import open_app
from tillpoint.core.settings import Settings
from tillpoint.merchants.models import MerchantKind
from tillpoint.merchants.services import Application

CHUNK = 50_000


def credit_code(first17: str) -> str:
    """A unified social credit code with its check character (GB 32100-2015)."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    total = sum(alphabet.index(c) * w for c, w in zip(first17, weights, strict=True))
    return first17 + alphabet[(31 - total % 31) % 31]


def merchants(tp: object, count: int) -> list[str]:
    mids = []
    for n in range(count):
        name = f"Bench Merchant {n} Ltd"
        app = Application(
            kind=MerchantKind.BUSINESS, legal_name=name, mcc="5411", region_code="3100",
            contact_name="Bench", contact_phone="021-61234567", contact_email="b@example.com",
            bank_name="Bench Bank", bank_account_name=name, bank_account_no="121900001234567",
            shop_address="1 Bench Road", business_licence_no=credit_code(f"91310104MA{n:07d}"),
        )  # fmt: skip
        m = tp.merchants.apply(app, "bench")  # type: ignore[attr-defined]
        mids.append(tp.merchants.approve(str(m.id), "bench").mid)  # type: ignore[attr-defined]
    return mids


def load(tp: object, mids: list[str], rows: int) -> str:
    """Captures (with their fee) and one refund in twenty, straight into the ledger."""
    day = tp.days.open_date()  # type: ignore[attr-defined]
    raw = tp.ctx.db.engine.raw_connection()  # type: ignore[attr-defined]
    cur = raw.cursor()
    at = "2026-11-25 10:00:00.000000"
    entry_id = 0
    rnd = random.Random(7)
    for start in range(0, rows, CHUNK):
        entries, lines = [], []
        for i in range(start, min(rows, start + CHUNK)):
            entry_id += 1
            mid = mids[i % len(mids)]
            amount = rnd.randint(100, 100_000)
            if i % 20 == 19:
                entries.append((entry_id, "refund", day.isoformat(), at, "bench"))
                lines += [(entry_id, f"merchant:{mid}:payable", amount // 2, "CNY"),
                          (entry_id, "receivable:CUP", -(amount // 2), "CNY")]  # fmt: skip
                continue
            fee = (amount * 5 + 500) // 1000
            entries.append((entry_id, "capture", day.isoformat(), at, "bench"))
            lines += [(entry_id, "receivable:CUP", amount, "CNY"),
                      (entry_id, f"merchant:{mid}:payable", -amount, "CNY")]  # fmt: skip
            if fee:
                lines += [(entry_id, f"merchant:{mid}:payable", fee, "CNY"),
                          (entry_id, "income:fees", -fee, "CNY")]  # fmt: skip
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany(
            "INSERT INTO journal_entries (id, kind, business_date, at, memo) VALUES (?,?,?,?,?)",
            entries,
        )
        cur.executemany(
            "INSERT INTO journal_lines (entry_id, account_code, amount_minor, currency) "
            "VALUES (?,?,?,?)",
            lines,
        )
        cur.execute("COMMIT")
    raw.close()
    return day.isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--merchants", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tp = open_app(Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 's.db'}",  # type: ignore[call-arg]
                               demo=True, locale="en"))  # fmt: skip
        t0 = time.perf_counter()
        mids = merchants(tp, args.merchants)
        load(tp, mids, args.rows)
        loaded = time.perf_counter() - t0
        day = tp.days.cut_off("bench")
        t1 = time.perf_counter()
        settled = tp.settlement.run(day)
        run = time.perf_counter() - t1
        tp.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payout = sum(r.payout_minor for r in settled)
    print(
        f"rows: {args.rows:,} across {args.merchants:,} merchants (loaded in {loaded:.1f} s, not counted)"
    )
    print(
        f"settlement run: {run:.2f} s, {args.rows / run:,.0f} rows/s, {len(settled):,} settlements, payouts {payout / 100:,.2f} CNY"
    )
    print(f"peak memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
