"""A cash checkout at the shop's own till: how long one takes, and what it costs.

    python -m bench.store_checkout [--products 1000] [--orders 500] [--lines 5]
                                   [--database-url URL]

Sets up the demo (merchant 1, its shop) on a new SQLite file in a temporary folder (or
the empty database ``--database-url`` names, PostgreSQL say), puts ``--products``
products in its catalogue (each with a barcode, a tenth with a shop price), a cashier
and an open shift. Then it rings up ``--orders`` cash orders of ``--lines`` lines each
(products scanned by barcode, at random; a weighed line among them), each paid with
cash handed over: one unit of work prices the lines, records the order, its lines and
its tender, gives the receipt number and moves the stock out.

Printed, for the service call (``OrderService.create``) and for the same order sent
through the HTTP API (``POST /v1/orders`` with Starlette's TestClient: the key's
authentication, the Idempotency-Key record, the audit log and the JSON both ways on
top): p50 and p95 of the wall time, CPU time per order (this process, all threads: the
machine's speed, not its load) and SQL statements per order (the same on any machine).
The target: a cash checkout (order, stock, receipt) at most 100 ms at the 95th
percentile.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, insert, select

from tillpoint.access.models import AccountRole, Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, ensure_demo
from tillpoint.merchants.models import Merchant
from tillpoint.payments.acquirer import simulated
from tillpoint.store.models import (
    BarcodeKind,
    Product,
    ProductBarcode,
    ShopPrice,
    SoldBy,
    TenderKind,
)
from tillpoint.store.orders import LineIn, NewOrder, TenderIn

TARGET_P95_MS = 100.0


def seed(tp: Tillpoint, products: int) -> tuple[int, list[str], list[int]]:
    """The demo merchant's catalogue and an open shift: (shift, barcodes, weighed ids)."""
    ensure_demo(tp, 1)
    now = tp.ctx.now()
    with tp.ctx.db.transaction() as s:
        merchant = s.scalars(select(Merchant).where(Merchant.mid == demo_mid(1))).one()
        merchant_id, shop_id = merchant.id, merchant.shops[0].id
        rows = [
            {"merchant_id": merchant_id, "sku": f"SKU{n:06d}", "name": f"商品{n} Item {n}",
             "unit": "kg" if n % 50 == 0 else "个",
             "sold_by": SoldBy.WEIGHT if n % 50 == 0 else SoldBy.PIECE,
             "price_minor": 100 + n % 5_000, "cost_minor": 50 + n % 2_500, "currency": "CNY",
             "active": True, "revision": n + 1, "created_at": now, "updated_at": now}
            for n in range(products)
        ]  # fmt: skip
        s.execute(insert(Product), rows)
        found = s.execute(
            select(Product.id, Product.sold_by).where(Product.merchant_id == merchant_id)
        ).all()
        codes = {pid: f"69{pid:011d}" for pid, _sold in found}
        s.execute(insert(ProductBarcode), [
            {"merchant_id": merchant_id, "code": code, "product_id": pid,
             "kind": BarcodeKind.EAN13}
            for pid, code in codes.items()
        ])  # fmt: skip
        s.execute(insert(ShopPrice), [
            {"product_id": pid, "shop_id": shop_id, "merchant_id": merchant_id,
             "price_minor": 99}
            for pid, _sold in found[::10]
        ])  # fmt: skip
    cashier = tp.accounts.create(
        name="Bench cashier", roles={AccountRole.CASHIER}, actor="bench",
        email="cashier@bench.example.com", merchant_ref=demo_mid(1), shop_number=1,
        password="bench-cashier-1",  # noqa: S106 - the bench's own throwaway account
    ).account.id  # fmt: skip
    shift = tp.shifts.open(merchant_id, 1, "T1", 100_000, cashier).id
    weighed = [pid for pid, sold in found if sold is SoldBy.WEIGHT]
    pieces = [codes[pid] for pid, sold in found if sold is SoldBy.PIECE]
    return shift, pieces, weighed


def cart(rng: random.Random, shift: int, codes: list[str], weighed: list[int], n: int) -> NewOrder:
    lines = [LineIn(barcode=code, quantity_milli=1000 * rng.randint(1, 3))
             for code in rng.sample(codes, n - 1)]  # fmt: skip
    lines.append(LineIn(product_id=rng.choice(weighed), quantity_milli=rng.randint(100, 2500)))
    return NewOrder(str(uuid.uuid4()), shift, tuple(lines),
                    tenders=(TenderIn(TenderKind.CASH, received_minor=10**7),))  # fmt: skip


def body(new: NewOrder) -> dict[str, Any]:
    return {
        "client_ref": new.client_ref, "shift_id": new.shift_id,
        "lines": [{k: v for k, v in (("barcode", x.barcode), ("product_id", x.product_id),
                                     ("quantity_milli", x.quantity_milli)) if v is not None}
                  for x in new.lines],
        "tenders": [{"kind": "cash", "received_minor": 10**7}],
    }  # fmt: skip


@contextmanager
def counting(tp: Tillpoint) -> Iterator[list[int]]:
    seen = [0]

    def count(*_args: Any) -> None:
        seen[0] += 1

    event.listen(tp.ctx.db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(tp.ctx.db.engine, "before_cursor_execute", count)


def report(name: str, walls: list[float], cpu_s: float, statements: int) -> None:
    ms = sorted(w * 1000 for w in walls)
    p50 = statistics.median(ms)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    flag = "ok" if p95 <= TARGET_P95_MS else "OVER"
    print(f"{name:<28} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms ({flag} of {TARGET_P95_MS:.0f})  "
          f"CPU {cpu_s * 1000 / len(walls):5.1f} ms/order  "
          f"{statements / len(walls):5.1f} statements/order")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        settings = Settings(_env_file=None, database_url=url, demo=True, locale="en",  # type: ignore[call-arg]
                            network_dir=str(Path(tmp) / "network"))  # fmt: skip
        tp = open_app(settings)
        try:
            shift, codes, weighed = seed(tp, args.products)
            rng = random.Random(20261206)
            print(f"{args.products} products, {args.orders} cash orders of {args.lines} lines, "
                  f"{tp.ctx.db.engine.dialect.name}, {datetime.now():%Y-%m-%d %H:%M}")  # noqa: DTZ005  # fmt: skip
            for _ in range(20):  # warm up: statements compiled, caches filled
                tp.orders.create(cart(rng, shift, codes, weighed, args.lines), merchant_id=None)
            walls: list[float] = []
            with counting(tp) as statements:
                cpu0 = time.process_time()
                for _ in range(args.orders):
                    new = cart(rng, shift, codes, weighed, args.lines)
                    t0 = time.perf_counter()
                    made = tp.orders.create(new, merchant_id=None)
                    walls.append(time.perf_counter() - t0)
                    assert made.order.status == "paid", made.order.status
                cpu = time.process_time() - cpu0
            report("service (OrderService)", walls, cpu, statements[0])

            acquirer = simulated(tp)
            client = TestClient(create_api(tp, acquirer))
            key = tp.access.create_key(Role.MERCHANT_STAFF, "bench", "bench",
                                       merchant_ref=demo_mid(1)).secret  # fmt: skip
            with client:
                for _ in range(20):
                    client.post("/v1/orders", json=body(cart(rng, shift, codes, weighed,
                                args.lines)), headers={"Authorization": f"Bearer {key}",
                                "Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
                walls = []
                with counting(tp) as statements:
                    cpu0 = time.process_time()
                    for _ in range(args.orders):
                        payload = body(cart(rng, shift, codes, weighed, args.lines))
                        headers = {"Authorization": f"Bearer {key}",
                                   "Idempotency-Key": str(uuid.uuid4())}  # fmt: skip
                        t0 = time.perf_counter()
                        r = client.post("/v1/orders", json=payload, headers=headers)
                        walls.append(time.perf_counter() - t0)
                        assert r.status_code == 201, r.text
                    cpu = time.process_time() - cpu0
                report("HTTP (POST /v1/orders)", walls, cpu, statements[0])
            acquirer.close()
        finally:
            tp.close()


if __name__ == "__main__":
    main()
