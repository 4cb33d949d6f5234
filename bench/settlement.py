"""Clearing and settlement throughput: N captures and refunds already booked (payments,
ledger entries and the card network's clearing file) across M merchants, then one
business day's reconciliation and settlement, timed end to end.

    python bench/settlement.py [--rows 1000000] [--merchants 1000]

Prints the time to load the data (not part of the figure), the time of reconciliation
and settlement together (``clearing.dayend``, as the day's-end worker runs them: the
settlement's sums on a second thread alongside reconciliation), rows/s, the timed
part's CPU time and what it read from the disk (pages the kernel evicted during the
load; see docs/performance.md), and the process's peak memory; asserts nothing.
Target (2 cores, SQLite): 10 million rows in at most 60 s.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

from tillpoint.app import open_app
from tillpoint.clearing.dayend import reconcile_and_settle
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


def merchants(tp: object, count: int) -> dict[str, int]:
    mids = {}
    for n in range(count):
        name = f"Bench Merchant {n} Ltd"
        app = Application(
            kind=MerchantKind.BUSINESS, legal_name=name, mcc="5411", region_code="3100",
            contact_name="Bench", contact_phone="021-61234567", contact_email="b@example.com",
            bank_name="Bench Bank", bank_account_name=name, bank_account_no="121900001234567",
            shop_address="1 Bench Road", business_licence_no=credit_code(f"91310104MA{n:07d}"),
        )  # fmt: skip
        m = tp.merchants.apply(app, "bench")  # type: ignore[attr-defined]
        mids[tp.merchants.approve(str(m.id), "bench").mid] = m.id  # type: ignore[attr-defined]
    return mids


def load(tp: object, mids: list[str], ids: dict[str, int], rows: int) -> str:
    """Captures (with their fee) and one refund in twenty: the payments, their ledger
    entries, and the card network's clearing file of the day, as the host and the
    simulator would have written them."""
    day = tp.days.open_date()  # type: ignore[attr-defined]
    today = day.isoformat()
    raw = tp.ctx.db.engine.raw_connection()  # type: ignore[attr-defined]
    cur = raw.cursor()
    cur.execute("PRAGMA foreign_keys=OFF")  # the payments name no real terminal or batch
    clearing = tp.ctx.settings.network_directory()  # type: ignore[attr-defined]
    clearing.mkdir(parents=True, exist_ok=True)
    network = (clearing / f"clearing-{today}.csv").open("w", encoding="utf-8")
    network.write("org,ref,amount_minor,currency,mid,mcc,fee_class\n")
    at = "2026-11-25 10:00:00.000000"
    rnd = random.Random(7)
    for start in range(0, rows, CHUNK):
        payments, entries, lines = [], [], []
        for i in range(start + 1, min(rows, start + CHUNK) + 1):
            mid = mids[i % len(mids)]
            amount = rnd.randint(100, 100_000)
            rrn = f"{i:012d}"
            refund = i % 20 == 0
            if refund:
                amount //= 2
            fee = 0 if refund else (amount * 5 + 500) // 1000
            payments.append((i, "refund" if refund else "sale", "approved", "00", ids[mid], 1, 1,
                             1, f"{i % 999_999:06d}", rrn, amount, "CNY", "debit", "CUP", 1,
                             "621234*********0012", "token", "051", today, 0, fee, at,
                             at))  # fmt: skip
            kind = "refund" if refund else "capture"
            entries.append((i, kind, i, today, at, "bench"))
            sign = -1 if refund else 1
            lines += [(i, "receivable:CUP", sign * amount, "CNY", today, kind),
                      (i, f"merchant:{mid}:payable", -sign * amount, "CNY", today, kind)]  # fmt: skip
            if fee:
                lines += [(i, f"merchant:{mid}:payable", fee, "CNY", today, kind),
                          (i, "income:fees", -fee, "CNY", today, kind)]  # fmt: skip
            network.write(f"CUP,{rrn},{sign * amount},CNY,{mid},5411,debit\n")
        cur.execute("BEGIN IMMEDIATE")
        cur.executemany(
            "INSERT INTO payments (id, kind, status, response_code, merchant_id, shop_id, "
            "terminal_id, batch_id, stan, rrn, amount_minor, currency, method, card_org, "
            "domestic, pan_masked, pan_token, entry_mode, business_date, refunded_minor, "
            "fee_minor, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [p[:4] + p[4:5] + p[5:] for p in payments],
        )
        cur.executemany(
            "INSERT INTO journal_entries (id, kind, payment_id, business_date, at, memo) "
            "VALUES (?,?,?,?,?,?)",
            entries,
        )
        cur.executemany(
            "INSERT INTO journal_lines (entry_id, account_code, amount_minor, currency, "
            "business_date, kind) VALUES (?,?,?,?,?,?)",
            lines,
        )
        cur.execute("COMMIT")
    network.close()
    raw.close()
    return today


def disk_read() -> int:
    """Bytes this process has read from the disk so far (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            return next(int(v) for k, v in (line.split(":") for line in f) if k == "read_bytes")
    except (OSError, StopIteration):
        return 0


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
        ids = merchants(tp, args.merchants)
        load(tp, list(ids), ids, args.rows)
        loaded = time.perf_counter() - t0
        day = tp.days.cut_off("bench")
        os.sync()  # the load's gigabytes reach the disk now, not during the timed part
        cpu_start, read_start = os.times(), disk_read()
        t1 = time.perf_counter()
        matched, settled = reconcile_and_settle(tp.reconciliation, tp.settlement, day)
        run = time.perf_counter() - t1
        cpu_end, read = os.times(), disk_read() - read_start
        tp.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payout = sum(r.payout_minor for r in settled)
    print(
        f"rows: {args.rows:,} across {args.merchants:,} merchants (loaded in {loaded:.1f} s, not counted)"
    )
    print(
        f"reconciliation: {matched.matched:,} references matched, {len(matched.problems):,} problems"
    )
    print(f"settlement: {len(settled):,} settlements, payouts {payout / 100:,.2f} CNY")
    print(f"clearing + settlement: {run:.2f} s, {args.rows / run:,.0f} rows/s")
    print(
        f"CPU: {cpu_end.user - cpu_start.user:.1f} s user,"
        f" {cpu_end.system - cpu_start.system:.1f} s system;"
        f" read from disk: {read / 1e9:.2f} GB"
    )
    print(f"peak memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
