"""The browser cashier, measured in Debian's Chromium: how soon the till is ready to sell,
how soon a scanned code is a line in the cart, how long a cash checkout takes.

    python -m bench.cashier [--sizes 100000,1000000] [--scans 200] [--checkouts 50]
                            [--copy-wait-s 600]

For each catalogue size: a new SQLite database in a temporary folder, the demo merchant
with that many products put in by bulk inserts (each with an EAN-13; every 50th sold
by weight, with a PLU its scales print), a cashier of shop 1 and an open shift at till
T1; the HTTP app served by uvicorn in this process. Then Chromium (a new profile: a
cold cache, no copy of the catalogue):

- **ready to sell**: from opening ``/cashier?shop=1&till=T1`` (signed in) to the page
  saying it is ready (the shift continued, the scan box armed): the page's own
  ``performance.now()`` at that moment, and the wall time seen from here;
- **scan to line**: codes typed as a keyboard-wedge scanner types them (a few ms a
  character, then Enter; a tenth of them scale labels with a weight), each timed by the
  page from the Enter to the line drawn in the cart: first while the catalogue's copy
  is still being made (the server's lookup answers), then once it is complete (the copy
  in IndexedDB answers), with the time the copy took;
- **cash checkout**: three products, pay, "exact" cash: from the click to the paid
  screen (the order, its stock, its receipt number in one request).

CPU is this process's (the server, and Playwright's client) per operation; the
browser's own is not counted. Targets: ready in 3 s with 100,000 products and 10 s with
1,000,000; scan to line p95 50 ms with 1,000,000; cash checkout p95 100 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from tillpoint.access.models import AccountRole
from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, ensure_demo
from tillpoint.merchants.models import Merchant
from tillpoint.store.barcodes import make_scale_code, with_check_digit
from tillpoint.store.models import BarcodeKind, Product, ProductBarcode, SoldBy, StoreRevision

CHROMIUM = "/usr/bin/chromium"
CHUNK = 50_000
LOGIN, PASSWORD = "cashier@bench.example.com", "bench-cashier-1"
CART_LINES = 20  # scans to a cart before it is cleared (a real cart's size)


def ean(n: int) -> str:
    return with_check_digit(f"69{n:010d}")


def seed(tp: Tillpoint, products: int) -> None:
    ensure_demo(tp, 1)
    now = tp.ctx.now()
    t0 = time.perf_counter()
    with tp.ctx.db.transaction() as s:
        merchant = s.scalars(select(Merchant).where(Merchant.mid == demo_mid(1))).one()
        merchant_id = merchant.id
        for start in range(1, products + 1, CHUNK):
            rows = [
                {"merchant_id": merchant_id, "sku": f"SKU{n:07d}", "name": f"商品 {n} Item {n}",
                 "unit": "kg" if n % 50 == 0 else "个",
                 "sold_by": SoldBy.WEIGHT if n % 50 == 0 else SoldBy.PIECE,
                 "plu": n // 50 if n % 50 == 0 else None, "price_minor": 100 + n % 5_000,
                 "cost_minor": 50, "currency": "CNY", "active": True, "revision": n,
                 "created_at": now, "updated_at": now}
                for n in range(start, min(start + CHUNK, products + 1))
            ]  # fmt: skip
            s.execute(insert(Product), rows)
        s.add(StoreRevision(merchant_id=merchant_id, revision=products))
        s.flush()
        ids = s.execute(
            select(Product.id, Product.sku).where(Product.merchant_id == merchant_id)
        ).all()
        for start in range(0, len(ids), CHUNK):
            s.execute(insert(ProductBarcode), [
                {"merchant_id": merchant_id, "code": ean(int(sku[3:])), "product_id": pid,
                 "kind": BarcodeKind.EAN13}
                for pid, sku in ids[start:start + CHUNK]
            ])  # fmt: skip
    print(f"  seeded {products:,} products in {time.perf_counter() - t0:.1f} s")
    cashier = tp.accounts.create(
        name="Bench cashier", roles={AccountRole.CASHIER}, actor="bench", email=LOGIN,
        merchant_ref=demo_mid(1), shop_number=1, password=PASSWORD,
    ).account.id  # fmt: skip
    tp.shifts.open(merchant_id, 1, "T1", 100_000, cashier)


@contextmanager
def serving(tp: Tillpoint) -> Iterator[str]:
    import uvicorn

    from tillpoint.api.app import create_api
    from tillpoint.payments.acquirer import simulated

    acquirer = simulated(tp)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_api(tp, acquirer), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        acquirer.close()


def session_cookie(base: str) -> str:
    with httpx.Client(base_url=base) as c:
        form = c.get("/portal/sign-in")
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert found is not None
        c.post("/portal/sign-in", data={"csrf_token": found.group(1), "login": LOGIN,
                                        "password": PASSWORD, "next": ""})  # fmt: skip
        return c.cookies["tp_session"]


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def until(page: Any, expression: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.005)
    return value


def quantiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49]:.1f} ms  p95 {q[94]:.1f} ms  max {max(values):.1f} ms  (n={len(values)})"


def scans(page: Any, rng: random.Random, products: int, count: int) -> tuple[list[float], float]:
    """``count`` codes typed as a scanner does; the page's timings, and CPU here each."""
    before = len(page.evaluate("TP.timings.scans_ms"))
    cpu0 = cpu_s()
    for i in range(count):
        if i and i % CART_LINES == 0:
            page.evaluate("document.querySelector('[data-act=clear]').click()")
        n = rng.randrange(1, products + 1)
        if rng.random() < 0.1:
            m = max(50, n - n % 50)
            code = make_scale_code(m // 50, weight_milli=rng.randint(100, 3000), flag=5)
        else:
            n = n if n % 50 else n + 1 if n < products else n - 1
            code = ean(n)
        page.keyboard.type(code, delay=3)
        page.keyboard.press("Enter")
        until(page, f"TP.timings.scans_ms.length >= {before + i + 1}")
    cpu = (cpu_s() - cpu0) * 1000 / count
    return page.evaluate("TP.timings.scans_ms")[before:], cpu


def checkouts(page: Any, rng: random.Random, products: int, count: int) -> tuple[list[float], float]:  # fmt: skip
    page.evaluate("document.querySelector('[data-act=clear]').click()")
    cpu0 = cpu_s()
    for i in range(count):
        for _ in range(3):
            n = rng.randrange(1, products)
            page.keyboard.type(ean(n if n % 50 else n + 1), delay=3)
            page.keyboard.press("Enter")
        until(page, "document.querySelectorAll('#lines li').length === 3")
        page.keyboard.press("F12")
        page.locator(".quick-amount").first.click()
        until(page, f"TP.timings.checkouts_ms.length >= {i + 1}")
        page.keyboard.press("Enter")  # the next customer
        until(page, "document.body.dataset.step === 'sell'")
    cpu = (cpu_s() - cpu0) * 1000 / count
    return page.evaluate("TP.timings.checkouts_ms"), cpu


def run(products: int, scan_count: int, checkout_count: int, copy_wait_s: float) -> None:
    from playwright.sync_api import sync_playwright

    print(f"\n{products:,} products")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 'b.db'}",  # type: ignore[call-arg]
                            demo=True, network_dir=str(Path(tmp) / "net"))  # fmt: skip
        tp = open_app(settings)
        seed(tp, products)
        rng = random.Random(products)
        with serving(tp) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM)
            context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en")
            context.add_cookies([{"name": "tp_session", "value": session_cookie(base),
                                  "url": base}])  # fmt: skip
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(base + "/cashier?shop=1&till=T1")
            until(page, "document.body.dataset.ready === '1'")
            wall = (time.perf_counter() - t0) * 1000
            ready = page.evaluate("TP.timings.ready_ms")
            print(f"  ready to sell (cold cache): {ready} ms in the page, {wall:.0f} ms seen here")
            copy_started = time.perf_counter()
            complete = page.evaluate("document.getElementById('sync-state').dataset.complete")
            early, cpu = scans(page, rng, products, scan_count)
            print(f"  scan to line, copy {'complete' if complete == '1' else 'being made'}: "
                  f"{quantiles(early)}; CPU here {cpu:.1f} ms a scan")  # fmt: skip
            try:
                until(page, "document.getElementById('sync-state').dataset.complete === '1'",
                      copy_wait_s)  # fmt: skip
                took = time.perf_counter() - copy_started
                state = page.locator("#sync-state").inner_text()
                print(f"  the till's copy complete {took:.1f} s after the page was ready ({state})")
                local, cpu = scans(page, rng, products, scan_count)
                print(
                    f"  scan to line from the copy: {quantiles(local)}; CPU here {cpu:.1f} ms a scan"
                )
            except TimeoutError:
                print(f"  the copy was not complete after {copy_wait_s:.0f} s: "
                      f"{page.locator('#sync-state').inner_text()}")  # fmt: skip
            times, cpu = checkouts(page, rng, products, checkout_count)
            print(f"  cash checkout (3 lines, exact cash): {quantiles(times)}; "
                  f"CPU here {cpu:.1f} ms a checkout")  # fmt: skip
            browser.close()
        tp.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--scans", type=int, default=200)
    parser.add_argument("--checkouts", type=int, default=50)
    parser.add_argument("--copy-wait-s", type=float, default=600.0)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("needs Debian's chromium (/usr/bin/chromium)")
    for size in (int(x) for x in args.sizes.split(",")):
        run(size, args.scans, args.checkouts, args.copy_wait_s)


if __name__ == "__main__":
    main()
