"""What stock operations cost, at the service (one unit of work each, as the API and the
portal call them).

    python -m bench.stock [--products 2000] [--database-url postgresql+psycopg://...]

On a fresh demo database (SQLite in a temporary folder unless ``--database-url`` names
an empty one): demo merchant 1 with a second shop and ``--products`` products. Prints,
per operation, how many were run, the median wall time and the CPU time of this process
per operation (the machine's speed more than its load): a one-line receipt, a 50-line
receipt, a 20-line transfer sent and received, a count of every product (entered 200
lines at a time) booked, a page of 50 levels, the low list and the value of a shop.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, ensure_demo
from tillpoint.store.models import Product, SoldBy
from tillpoint.store.stock import Line

AT = datetime(2026, 12, 6, tzinfo=UTC)


def measure(name: str, runs: int, fn: Callable[[int], object]) -> None:
    walls = []
    cpu_start = time.process_time()
    for n in range(runs):
        start = time.perf_counter()
        fn(n)
        walls.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu_start) / runs
    print(f"{name:<44} {runs:>5}  median {statistics.median(walls) * 1000:8.2f} ms"
          f"  cpu {cpu * 1000:8.2f} ms/op")  # fmt: skip


def setup(url: str, products: int) -> tuple[Tillpoint, int, list[int]]:
    settings = Settings(_env_file=None, database_url=url, demo=True, locale="en",  # type: ignore[call-arg]
                        network_dir=tempfile.mkdtemp())  # fmt: skip
    app = open_app(settings)
    ensure_demo(app, 1)
    app.merchants.add_shop(demo_mid(1), "二店 Second", "上海市南京西路2号", "bench")
    merchant_id = app.merchants.get(demo_mid(1)).id
    ids = []
    with app.ctx.db.transaction() as s:
        for n in range(products):
            p = Product(merchant_id=merchant_id, sku=f"B{n:06d}", name=f"商品 {n}", unit="个",
                        sold_by=SoldBy.PIECE if n % 4 else SoldBy.WEIGHT, price_minor=500,
                        cost_minor=100 + n % 900, currency="CNY", active=True, revision=1,
                        created_at=AT, updated_at=AT)  # fmt: skip
            s.add(p)
            s.flush()
            ids.append(p.id)
    return app, merchant_id, ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    app, m, ids = setup(url, args.products)
    stock = app.stock
    print(f"{app.ctx.db.engine.dialect.name}, {len(ids)} products")
    stock.book_receipt(m, 1, "S", [Line(p, "100") for p in ids[:200]], "bench")
    measure("receipt, 1 line", 200,
            lambda n: stock.book_receipt(m, 1, "S", [Line(ids[n % len(ids)], "3")], "bench"))  # fmt: skip
    measure("receipt, 50 lines", 40,
            lambda n: stock.book_receipt(m, 1, "S", [Line(ids[(n * 50 + k) % len(ids)], "2")
                                                     for k in range(50)], "bench"))  # fmt: skip

    def transfer(n: int) -> None:
        lines = [Line(ids[(n * 20 + k) % 200], "1") for k in range(20)]
        t = stock.send(m, 1, 2, lines, "bench")
        stock.receive_transfer(m, t.id, "bench")

    measure("transfer, 20 lines, sent and received", 40, transfer)

    def count(_n: int) -> None:
        c = stock.open_count(m, 1, "bench")
        for start in range(0, len(ids), 200):
            stock.enter_count(m, c.id, [Line(p, "7") for p in ids[start : start + 200]], "bench")
        stock.book_count(m, c.id, "bench", scope="shop")  # type: ignore[arg-type]

    measure(f"count of {len(ids)} products, entered and booked", 3, count)
    for p in ids[::10]:
        stock.set_reorder(m, 1, p, "8", "bench")
    measure("a page of 50 levels", 100, lambda n: stock.levels(m, shop=1, limit=51))
    measure("the low list (every shop)", 50, lambda n: stock.levels(m, low=True, limit=51))
    measure("a page of 50 movements", 100, lambda n: stock.movements(m, shop=1, limit=51))
    measure("the value of every shop", 50, lambda n: stock.values(m))
    app.close()


if __name__ == "__main__":
    main()
