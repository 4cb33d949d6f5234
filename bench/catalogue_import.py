"""The catalogue's import, the tills' copy of it and the cashier's lookups, on SQLite.

    python bench/catalogue_import.py [--rows 100000] [--large 1000000] [--lookups 2000]

1. Import ``--rows`` products from a CSV file, then the same from an XLSX workbook into
   a second merchant (each: wall and CPU time, rows/s), then the CSV again (nothing
   changes: the idempotent pass).
2. A till's full copy of the catalogue: ``changes_since`` from revision 0, page after
   page, each page's JSON as the API sends it; over the ``--rows`` catalogue and over
   one of ``--large`` products (loaded by imports of 200,000 rows, not timed).
3. ``--lookups`` lookups by barcode and by scale label over the large catalogue: p50,
   p95, p99 and CPU per lookup; and the cashier's search by name prefix.

Prints the figures, asserts nothing. Targets (issue 20): 100,000 rows imported in under
a minute; a till ready to sell in 3 s with 100,000 products, 10 s with 1,000,000
(this is the server's share); a lookup in well under 50 ms at the 95th percentile.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settlement import credit_code

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.errors import Refused
from tillpoint.core.settings import Settings
from tillpoint.merchants.models import MerchantKind
from tillpoint.merchants.services import Application
from tillpoint.store.barcodes import make_scale_code, with_check_digit

HEADER = ["sku", "name", "category", "unit", "sold_by", "plu", "price", "cost", "barcodes",
          "active", "price@2"]  # fmt: skip
IMPORT_CHUNK = 200_000


def merchant(tp: Tillpoint, n: int) -> int:
    name = f"Bench Shop {n} Ltd"
    app = Application(
        kind=MerchantKind.BUSINESS, legal_name=name, mcc="5411", region_code="3100",
        contact_name="Bench", contact_phone="021-61234567", contact_email="b@example.com",
        bank_name="Bench Bank", bank_account_name=name, bank_account_no="121900001234567",
        shop_address="1 Bench Road", business_licence_no=credit_code(f"91310104MB{n:07d}"),
    )  # fmt: skip
    m = tp.merchants.apply(app, "bench")
    mid = tp.merchants.approve(str(m.id), "bench").mid
    assert mid is not None
    tp.merchants.add_shop(mid, "Second shop", "2 Bench Road", "bench")
    return m.id


def ean(n: int) -> str:
    return with_check_digit(f"69{n:010d}")


def row(n: int) -> list[str]:
    weighed = n % 50 == 0
    return [
        f"SKU{n:07d}", f"商品 {n} Item {n % 977}", f"类别 {n % 40}", "kg" if weighed else "个",
        "weight" if weighed else "piece", str(n // 50 + 1) if weighed else "",
        f"{n % 1000}.{n % 100:02d}", f"{n % 500}.50", ean(n) if n % 5 else f"{ean(n)}|OWN{n}",
        "yes" if n % 97 else "no", f"{n % 900}.90" if n % 4 == 0 else "",
    ]  # fmt: skip


def csv_bytes(start: int, count: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(row(n) for n in range(start, start + count))
    return out.getvalue().encode()


def xlsx_bytes(start: int, count: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(HEADER)
    for n in range(start, start + count):
        values: list[object] = row(n)
        values[6] = float(values[6])  # type: ignore[arg-type]  # numbers, as typed in a sheet
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class Timer:
    def __enter__(self) -> Timer:
        self.cpu0, self.t0 = os.times(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        t = os.times()
        self.cpu = (t.user - self.cpu0.user) + (t.system - self.cpu0.system)


def timed_import(tp: Tillpoint, merchant_id: int, content: bytes, label: str, rows: int) -> None:
    with Timer() as t:
        report = tp.catalogue_files.import_file(merchant_id, content)
    print(f"  {label:<34} {t.wall:6.1f} s wall  {t.cpu:6.1f} s CPU  "
          f"{rows / t.wall:8,.0f} rows/s  (created {report.created:,}, "
          f"unchanged {report.unchanged:,}; file {len(content) / 1e6:.1f} MB)")  # fmt: skip


def full_copy(tp: Tillpoint, merchant_id: int, page: int) -> None:
    shop_id = tp.catalogue.shop_id(merchant_id, 2)
    since, pages, rows, size = 0, 0, 0, 0
    with Timer() as t:
        while True:
            changes = tp.catalogue.changes_since(merchant_id, shop_id, since, limit=page)
            size += len(changes.json(merchant_id, 2))
            pages, rows, since = pages + 1, rows + len(changes.rows), changes.revision
            if not changes.has_more:
                break
    print(f"  {rows:>9,} products, pages of {page:,}: {t.wall:5.2f} s wall  {t.cpu:5.2f} s CPU  "
          f"({pages} pages, {size / 1e6:.1f} MB of JSON)")  # fmt: skip


def lookups(tp: Tillpoint, merchant_id: int, products: int, count: int) -> None:
    shop_id = tp.catalogue.shop_id(merchant_id, 2)
    rnd = random.Random(20)
    codes = []
    for _ in range(count):
        n = rnd.randrange(1, products)
        if n % 97 == 0:
            n += 1  # inactive ones are refused: time the sales
        if rnd.random() < 0.1:
            m = (n // 50) * 50 or 50
            codes.append(make_scale_code(m // 50 + 1, weight_milli=rnd.randint(50, 3000), flag=5))
        else:
            codes.append(ean(n))
    times = []
    refused = 0
    cpu0 = os.times()
    for code in codes:
        t0 = time.perf_counter()
        try:
            tp.catalogue.lookup(merchant_id, shop_id, code)
        except Refused:  # a label of an inactive product: answered all the same
            refused += 1
        times.append((time.perf_counter() - t0) * 1000)
    cpu1 = os.times()
    cpu_ms = ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) * 1000 / count
    q = statistics.quantiles(times, n=100)
    print(f"  lookup ({count:,}, 10% scale labels): p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms  "
          f"p99 {q[98]:.2f} ms  max {max(times):.2f} ms  CPU {cpu_ms:.2f} ms each; "
          f"{refused} refused (inactive)")  # fmt: skip
    times = []
    for _n in range(200):
        t0 = time.perf_counter()
        tp.catalogue.search(merchant_id, f"商品 {rnd.randrange(1, products // 1000)}", 20)
        times.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(times, n=100)
    print(f"  search by name prefix (200, 20 hits): p50 {q[49]:.2f} ms  p95 {q[94]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--page", type=int, default=10_000)
    parser.add_argument("--only-large", action="store_true", help="skip the imports' part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tp = open_app(Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 'c.db'}",  # type: ignore[call-arg]
                               demo=True, locale="en"))  # fmt: skip
        a, b, large = merchant(tp, 1), merchant(tp, 2), merchant(tp, 3)
        if not args.only_large:
            print(f"Import ({args.rows:,} rows, SQLite, {os.cpu_count()} cores)")
            content = csv_bytes(1, args.rows)
            timed_import(tp, a, content, "CSV", args.rows)
            timed_import(tp, a, content, "the same CSV again (no change)", args.rows)
            timed_import(tp, b, xlsx_bytes(1, args.rows), "XLSX", args.rows)
            print("A till's full copy (changes_since from 0, with the JSON)")
            full_copy(tp, a, args.page)
        t0 = time.perf_counter()
        for start in range(1, args.large + 1, IMPORT_CHUNK):
            count = min(IMPORT_CHUNK, args.large + 1 - start)
            tp.catalogue_files.import_file(large, csv_bytes(start, count))
        print(f"  (loaded {args.large:,} products by imports in {time.perf_counter() - t0:.0f} s)")
        full_copy(tp, large, args.page)
        full_copy(tp, large, 50_000)
        print(f"Lookups over {args.large:,} products")
        lookups(tp, large, args.large, args.lookups)
        tp.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
