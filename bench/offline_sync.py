"""Syncing a till page's offline sales: how long 10,000 take, and what they cost.

    python -m bench.offline_sync [--products 1000] [--orders 10000] [--lines 3]
                                 [--batch 500] [--database-url URL]

Sets up the demo (merchant 1, its shop 1) on a new SQLite file in a temporary folder
(or the empty database ``--database-url`` names), puts ``--products`` products in its
catalogue (a tenth with a shop price, a fiftieth weighed) with stock of each, a cashier
and an open shift. A till page then makes itself known, as it does while online, and
makes ``--orders`` cash sales of ``--lines`` lines offline, as the
browser does: products from its copy of the catalogue at its prices, amounts worked out
by the till, numbered in the page's own form (1-T1-P1.n), paid in cash with change.

Then they are synced in batches of ``--batch``, twice on two databases set up alike:

- in process: ``OfflineSync.sync`` called directly;
- over HTTP: ``POST /v1/orders/sync`` with JSON bodies built as the browser builds
  them, to the real application (``create_api``: the key's authentication, the
  Idempotency-Key record, the audit log, the body limit, pydantic's parsing and the
  answer's JSON) through Starlette's TestClient over ASGI: everything but a socket.

and each database is synced again whole (every order already synced: what a till that
lost its answers costs). Printed: the wall time of all of them (the target: 10,000
orders in at most 10 s on SQLite, on two cores), wall and CPU time per order (this
process, all threads), and SQL statements per batch (the same on any machine).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
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
from tillpoint.store import order_rules as rules
from tillpoint.store.models import MovementKind, Product, ShopPrice, SoldBy
from tillpoint.store.movements import Move, move
from tillpoint.store.sync import CashPaid, LineSold, OfflineSale, SyncBatch, SyncStatus

TARGET_S = 10.0
PAGE = "bench-page-0001"


def seed(tp: Tillpoint, products: int) -> tuple[int, int, list[tuple[int, int, bool]]]:
    """The catalogue, stock and an open shift: (merchant, shift, [(product, price,
    weighed)] at the shop's prices)."""
    ensure_demo(tp, 1)
    now = tp.ctx.now()
    with tp.ctx.db.transaction() as s:
        merchant = s.scalars(select(Merchant).where(Merchant.mid == demo_mid(1))).one()
        merchant_id, shop_id = merchant.id, merchant.shops[0].id
        s.execute(insert(Product), [
            {"merchant_id": merchant_id, "sku": f"SKU{n:06d}", "name": f"商品{n} Item {n}",
             "unit": "kg" if n % 50 == 0 else "个",
             "sold_by": SoldBy.WEIGHT if n % 50 == 0 else SoldBy.PIECE,
             "price_minor": 100 + n % 5_000, "cost_minor": 50 + n % 2_500, "currency": "CNY",
             "active": True, "revision": n + 1, "created_at": now, "updated_at": now}
            for n in range(products)
        ])  # fmt: skip
        found = s.execute(
            select(Product.id, Product.price_minor, Product.sold_by)
            .where(Product.merchant_id == merchant_id)
        ).all()  # fmt: skip
        own = {pid: 99 for pid, _p, _s in found[::10]}
        s.execute(insert(ShopPrice), [
            {"product_id": pid, "shop_id": shop_id, "merchant_id": merchant_id,
             "price_minor": price}
            for pid, price in own.items()
        ])  # fmt: skip
        move(s, merchant_id=merchant_id, shop_id=shop_id, kind=MovementKind.RECEIPT,
             moves=[Move(pid, 10**9) for pid, _p, _s in found], by="bench", at=now)  # fmt: skip
    cashier = tp.accounts.create(
        name="Bench cashier", roles={AccountRole.CASHIER}, actor="bench",
        email="cashier@bench.example.com", merchant_ref=demo_mid(1), shop_number=1,
        password="bench-cashier-1",  # noqa: S106 - the bench's own throwaway account
    ).account.id  # fmt: skip
    shift = tp.shifts.open(merchant_id, 1, "T1", 100_000, cashier).id
    catalogue = [(pid, own.get(pid, price), sold is SoldBy.WEIGHT) for pid, price, sold in found]
    return merchant_id, shift, catalogue


def offline_sales(
    tp: Tillpoint, merchant_id: int, shift: int, catalogue: list[tuple[int, int, bool]],
    orders: int, lines: int,
) -> list[OfflineSale]:  # fmt: skip
    """What a page sells offline: numbered in its own form, made known while online."""
    prefix = tp.offline.register_page(merchant_id, 1, "T1", PAGE).receipt_prefix
    numbers = [f"{prefix}{n}" for n in range(1, orders + 1)]
    rng = random.Random(20261206)
    start = tp.ctx.now()
    made = []
    for i in range(orders):
        sold = []
        for pid, price, weighed in rng.sample(catalogue, lines):
            q = rng.randint(100, 2500) if weighed else 1000 * rng.randint(1, 3)
            amount = rules.line_gross(price, q)
            sold.append(LineSold(pid, f"商品 {pid}", "kg" if weighed else "个", q, price, price,
                                 amount))  # fmt: skip
        total = sum(x.amount_minor for x in sold)
        change = (-total) % 10_000  # a round sum handed over
        made.append(OfflineSale(
            client_ref=str(uuid.UUID(int=rng.getrandbits(128))), receipt_no=numbers[i],
            made_at=start + timedelta(seconds=i * 0.02), shift_id=shift, lines=tuple(sold),
            tenders=(CashPaid(total, total + change, change),), subtotal_minor=total,
            total_minor=total,
        ))  # fmt: skip
    return made


def body(batch: list[OfflineSale]) -> dict[str, Any]:
    """The JSON a page sends."""
    return {
        "shop_number": 1, "till": "T1", "page_id": PAGE,
        "orders": [
            {"client_ref": o.client_ref, "receipt_no": o.receipt_no,
             "made_at": o.made_at.isoformat(), "shift_id": o.shift_id,
             "lines": [{"product_id": x.product_id, "name": x.name, "unit": x.unit,
                        "quantity_milli": x.quantity_milli,
                        "list_price_minor": x.list_price_minor,
                        "unit_price_minor": x.unit_price_minor,
                        "amount_minor": x.amount_minor} for x in o.lines],
             "subtotal_minor": o.subtotal_minor, "total_minor": o.total_minor,
             "tenders": [{"kind": "cash", "amount_minor": t.amount_minor,
                          "received_minor": t.received_minor, "change_minor": t.change_minor}
                         for t in o.tenders]}
            for o in batch
        ],
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


def report(name: str, orders: int, batches: int, wall_s: float, cpu_s: float,
           statements: int) -> None:  # fmt: skip
    flag = "ok" if wall_s <= TARGET_S * orders / 10_000 else "OVER"
    print(f"{name:<34} {wall_s:6.2f} s ({flag})  {wall_s * 1e3 / orders:5.2f} ms/order  "
          f"CPU {cpu_s * 1e3 / orders:5.2f} ms/order  "
          f"{statements / batches:5.1f} statements/batch")  # fmt: skip


def open_bench(tmp: str, name: str, url: str | None) -> Tillpoint:
    url = url or f"sqlite:///{Path(tmp) / f'{name}.sqlite'}"
    settings = Settings(_env_file=None, database_url=url, demo=True, locale="en",  # type: ignore[call-arg]
                        network_dir=str(Path(tmp) / f"network-{name}"))  # fmt: skip
    return open_app(settings)


def in_process(tp: Tillpoint, merchant_id: int, sales: list[OfflineSale], size: int,
               name: str) -> None:  # fmt: skip
    batches = [sales[i : i + size] for i in range(0, len(sales), size)]
    with counting(tp) as statements:
        cpu0, t0 = time.process_time(), time.perf_counter()
        for batch in batches:
            answer = tp.offline.sync(SyncBatch(1, "T1", PAGE, tuple(batch)),
                                     merchant_id=merchant_id)  # fmt: skip
            assert not any(o.status is SyncStatus.REFUSED for o in answer.outcomes)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    report(name, len(sales), len(batches), wall, cpu, statements[0])


def over_http(tp: Tillpoint, client: TestClient, key: str, sales: list[OfflineSale],
              size: int, name: str, status: str) -> None:  # fmt: skip
    bodies = [body(sales[i : i + size]) for i in range(0, len(sales), size)]
    with counting(tp) as statements:
        cpu0, t0 = time.process_time(), time.perf_counter()
        for payload in bodies:
            r = client.post("/v1/orders/sync", json=payload, headers={
                "Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
            assert r.status_code == 200, r.text
            assert r.json()[status] == len(payload["orders"]), r.text[:500]
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    report(name, len(sales), len(bodies), wall, cpu, statements[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database-url", default=None, help="two empty databases: A,B")
    args = parser.parse_args()
    urls = args.database_url.split(",") if args.database_url else [None, None]
    with tempfile.TemporaryDirectory() as tmp:
        tp = open_bench(tmp, "service", urls[0])
        try:
            merchant_id, shift, catalogue = seed(tp, args.products)
            sales = offline_sales(tp, merchant_id, shift, catalogue, args.orders, args.lines)
            print(f"{args.products} products, {args.orders} offline cash sales of {args.lines} "
                  f"lines, batches of {args.batch}, {tp.ctx.db.engine.dialect.name}, "
                  f"{datetime.now():%Y-%m-%d %H:%M}")  # noqa: DTZ005  # fmt: skip
            in_process(tp, merchant_id, sales, args.batch, "in process (OfflineSync.sync)")
            in_process(tp, merchant_id, sales, args.batch, "  again (all already synced)")
        finally:
            tp.close()
        tp = open_bench(tmp, "http", urls[1])
        acquirer = None
        try:
            merchant_id, shift, catalogue = seed(tp, args.products)
            sales = offline_sales(tp, merchant_id, shift, catalogue, args.orders, args.lines)
            acquirer = simulated(tp)
            key = tp.access.create_key(Role.MERCHANT_STAFF, "bench", "bench",
                                       merchant_ref=demo_mid(1)).secret  # fmt: skip
            with TestClient(create_api(tp, acquirer)) as client:
                over_http(tp, client, key, sales, args.batch, "HTTP (POST /v1/orders/sync)",
                          "synced")  # fmt: skip
                over_http(tp, client, key, sales, args.batch, "  again (all already synced)",
                          "already_synced")  # fmt: skip
        finally:
            if acquirer is not None:
                acquirer.close()
            tp.close()


if __name__ == "__main__":
    main()
