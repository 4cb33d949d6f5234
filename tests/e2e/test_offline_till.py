"""The till selling without the server, in Debian's Chromium with the browser context
set offline (docs/offline.md, "The browser's side"): three cash sales offline to a
member found in the till's snapshot of the members (two share the masked number: the
cashier picks by name), the member's price, points and coupons that need the server
said so, the page reloaded offline (the service worker opens it; the till still sells,
the snapshot still finds the member), the network back and the sales synced exactly
once, the member's points earned once each; two pages of one till offline at once, their receipt
numbers never the same (each page's own form) and none of the till's online numbers
taken; a sync whose answer is lost, resumed;
and the chaos test: 1,000 offline sales from two tills, the network cut and restored at
random moments during the sync, answers lost, a page reloaded mid-sync, over seeds:
exactly 1,000 orders on the server each time, the stock moved once for each line.

CI runs one seed of the chaos; ``TILLPOINT_CHAOS_SEEDS=1-50`` runs those seeds (each
its own server and database). Set TILLPOINT_TEST_SHOTS=/some/dir to keep screenshots.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Route
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import func, select
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_cashier import APPLE_PLU, BREAD_CODE, base, until, wedge, world
from tests.membership import MOBILE, join
from tests.selling import World, product, water_code

from tillpoint.app import Tillpoint
from tillpoint.store.barcodes import make_scale_code
from tillpoint.store.member_models import Channel, PointsEntry, PointsKind
from tillpoint.store.models import (
    MovementKind,
    Order,
    OrderLine,
    ReceiptSequence,
    StockLevel,
    StockMovement,
)
from tillpoint.store.offline_models import OfflineOrder

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
__all__ = ["base", "world"]  # the fixtures, shared with the till's own test

CASHIER = ("cashier1@shop.example.com", "cashier-secret-1")
APPLE_LABEL = make_scale_code(APPLE_PLU, weight_milli=455, flag=5)
SELL_JS = """async ([n, seed, codes]) => {
  let x = seed >>> 0;
  const rnd = () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x / 4294967296; };
  const out = [];
  for (let i = 0; i < n; i++) {
    const cart = new TP.Cart(null);
    const k = 1 + Math.floor(rnd() * 3);
    for (let j = 0; j < k; j++) {
      const found = await TP.S.catalogue.lookup(codes[Math.floor(rnd() * codes.length)]);
      cart.add(found, found.sold_by === "piece" ? 1000 * (1 + Math.floor(rnd() * 3)) : found.quantity_milli);
    }
    const total = cart.totals().total;
    const sold = await TP.offline.sell(cart, TP.S.shift, TP.S.state.account, total + Math.floor(rnd() * 3) * 100);
    out.push(sold.receipt_no);
  }
  return out;
}"""


def chaos_seeds() -> list[int]:
    """``TILLPOINT_CHAOS_SEEDS``: ``7``, ``1-50`` or ``1,5,9``; one seed by default."""
    text = os.environ.get("TILLPOINT_CHAOS_SEEDS", "1")
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


class Till:
    """One page of a till, in a browser context of its own (its own storage)."""

    def __init__(self, browser: Browser, base: str, till: str = "T1", *, locale: str = "en",
                 batch: int | None = None) -> None:  # fmt: skip
        self.base, self.till = base, till
        self.context: BrowserContext = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale=locale
        )
        self.errors: list[str] = []
        page = self.page = self.context.new_page()
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        knobs = "".join(f"localStorage.setItem('tillpoint.offline.{k}', '{v}');"
                        for k, v in (("batch", batch),) if v)  # fmt: skip
        page.add_init_script("window.__prints = 0; window.print = function () { window.__prints++; };"
                             + knobs)  # fmt: skip
        page.goto(base + "/cashier")
        page.locator("#login").fill(CASHIER[0])
        page.locator("#password").fill(CASHIER[1])
        page.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r".*/cashier(\?.*)?$"))
        page.goto(f"{base}/cashier?shop=1&till={till}&lang={'zh-CN' if locale != 'en' else 'en'}")
        until(page, "document.body.dataset.step === 'start' || document.body.dataset.ready === '1'")
        if page.evaluate("document.body.dataset.step") == "start":
            page.locator("#start-till").fill(till)
            page.locator("#start-float").fill("100")
            page.locator("#start-form button[type=submit]").click()
        self.ready(online=True)

    def ready(self, online: bool) -> None:
        """The till sells: its catalogue's copy is complete; online, the service worker
        keeps the page and the page has its receipt numbers."""
        page = self.page
        page.wait_for_selector("body[data-ready='1']")
        until(page, "document.getElementById('sync-state').dataset.complete === '1'", 20)
        if online:
            # (the page that registered the worker may not be one it controls: the
            # next opening of the till is)
            until(page, "navigator.serviceWorker.getRegistration('/cashier').then(r => !!r && !!r.active"
                        " && r.active.state === 'activated').then(a => a && caches.open("
                        "'tillpoint-cashier-page').then(c => c.match('/cashier')).then(r => !!r))", 20)  # fmt: skip
            until(page, f"TP.O.outbox && TP.O.outbox.numbers(1, '{self.till}')"
                        ".then(r => !!r && !!r.prefix)", 20)  # fmt: skip

    def offline(self, on: bool = True) -> None:
        self.context.set_offline(on)

    def member(self, typed: str, name: str | None = None) -> None:
        """The member found by the number typed (offline: in the till's snapshot; ``name``
        picks one of several with the same masked number)."""
        page = self.page
        page.keyboard.press("F11")
        page.wait_for_selector("#member-dialog[open]")
        page.locator("#member-number").fill(typed)
        page.locator("#member-number").press("Enter")
        if name:
            page.locator("#member-choices button", has_text=name).click()
        page.wait_for_selector("#member-card:not([hidden])")

    def sell(self, *codes: str, received: str | None = None, member: str | None = None,
             name: str | None = None) -> str:  # fmt: skip
        """A sale through the screen (to the member with the number ``member``), paid in
        cash; its receipt number."""
        page = self.page
        for n, code in enumerate(codes, 1):
            wedge(page, code)
            until(page, f"document.querySelectorAll('#lines li').length >= {len(set(codes[:n]))}")
        if member:
            self.member(member, name)
        page.keyboard.press("F12")
        page.wait_for_selector("#tender:not([hidden])")
        if received:
            page.locator("#amount").fill(received)
        page.keyboard.press("F1")
        page.wait_for_selector("#done:not([hidden])")
        number = page.locator("#done-receipt").inner_text().split()[-1]
        page.keyboard.press("Enter")  # the next customer
        page.wait_for_selector("#sell:not([hidden])")
        return number

    def sell_many(self, n: int, seed: int) -> list[str]:
        """``n`` cash sales kept by the page's offline path at once (random carts of the
        catalogue's copy); their receipt numbers."""
        codes = [water_code(1), BREAD_CODE, APPLE_LABEL]
        found: list[str] = self.page.evaluate(SELL_JS, [n, seed, codes])
        return found

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = self.page.evaluate("TP.O.outbox.counts()")
        return found

    def synced(self, timeout_s: float = 60) -> None:
        """Until nothing waits in the page's queue."""
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(PlaywrightError):  # a page reloading
                if self.counts()["waiting"] == 0:
                    return
            assert time.monotonic() < deadline, self.page.evaluate(
                "TP.O.outbox.counts().then(c => JSON.stringify({counts: c, online: TP.O.online,"
                " syncing: !!TP.O.outbox.syncing, fails: TP.O.outbox.fails, failed: TP.O.outbox.failed, timer: !!TP.O.outbox.timer,"
                " ready: document.body.dataset.ready, url: location.href}))"
            )  # fmt: skip
            self.page.wait_for_timeout(100)  # (the routes' handlers run meanwhile)

    def close(self) -> None:
        self.context.close()


def server(tp: Tillpoint, w: World) -> dict[str, Any]:
    """What the server holds of offline sales: the orders by client_ref, the lines'
    quantities and the stock movements per product, the shop's levels."""
    with tp.ctx.db.read() as s:
        ids = list(s.scalars(select(OfflineOrder.order_id)))
        refs = Counter(s.scalars(select(Order.client_ref).where(Order.id.in_(ids))))
        numbers = list(s.scalars(select(Order.receipt_no).where(Order.id.in_(ids))))
        sold = dict(s.execute(select(OrderLine.product_id, func.sum(OrderLine.quantity_milli))
                              .where(OrderLine.order_id.in_(ids))
                              .group_by(OrderLine.product_id)).all())  # fmt: skip
        lines = s.scalar(select(func.count()).select_from(OrderLine)
                         .where(OrderLine.order_id.in_(ids)))  # fmt: skip
        moved = dict(s.execute(select(StockMovement.product_id, func.sum(StockMovement.quantity_milli))
                               .where(StockMovement.kind == MovementKind.SALE)
                               .group_by(StockMovement.product_id)).all())  # fmt: skip
        movements = s.scalar(select(func.count()).select_from(StockMovement)
                             .where(StockMovement.order_id.in_(ids)))  # fmt: skip
        all_moved = dict(s.execute(select(StockMovement.product_id, func.sum(StockMovement.quantity_milli))
                                   .group_by(StockMovement.product_id)).all())  # fmt: skip
        levels = dict(s.execute(select(StockLevel.product_id, StockLevel.quantity_milli)
                                .where(StockLevel.shop_id == w.shop_id)).all())  # fmt: skip
    return {"orders": len(ids), "refs": refs, "numbers": numbers, "sold": sold, "lines": lines,
            "moved": moved, "movements": movements, "all_moved": all_moved, "levels": levels}  # fmt: skip


def consistent(found: dict[str, Any], expected: int) -> None:
    """Exactly ``expected`` offline orders, each client_ref and receipt number once; every
    line moved the stock once; each level is the sum of its product's movements."""
    assert found["orders"] == expected
    assert len(found["refs"]) == expected and set(found["refs"].values()) == {1}
    assert len(set(found["numbers"])) == expected
    assert found["movements"] == found["lines"]
    assert {p: -q for p, q in found["moved"].items()} == found["sold"]
    assert all(found["levels"].get(p, 0) == q for p, q in found["all_moved"].items())


@pytest.fixture
def tills(browser: Browser, base: str, world: World) -> Iterator[list[Till]]:
    made: list[Till] = []
    yield made
    for till in made:
        till.close()


def kept_in_browser(page: Any) -> str:
    """Everything the page keeps in this browser: localStorage and the members' snapshot
    (IndexedDB), as text."""
    found: str = page.evaluate("""() => new Promise((resolve) => {
      const kept = JSON.stringify(Object.assign({}, window.localStorage));
      const req = indexedDB.open(TP.members.kept.name);
      req.onsuccess = () => {
        const tx = req.result.transaction(["members", "meta"]);
        const a = tx.objectStore("members").getAll(), b = tx.objectStore("meta").getAll();
        tx.oncomplete = () => { req.result.close(); resolve(kept + JSON.stringify([a.result, b.result])); };
      };
    })""")
    return found


def test_three_sales_offline_to_a_member_a_reload_and_synced_once(
    browser: Browser, demo: Tillpoint, world: World, base: str, tills: list[Till], shots: Path
) -> None:
    w = world
    m = join(w, name="王五")
    join(w, "13800005678", name="李四")  # the same masked number: 138****5678
    demo.members.adjust(m.id, 300, "welcome", merchant_id=w.merchant_id, by="test")
    demo.loyalty.set_member_price(w.merchant_id, w.products["water"], 220)
    till = Till(browser, base)
    tills.append(till)
    page = till.page
    until(page, "!!TP.members.kept.meta")  # the snapshot, taken while online
    # Its changes since (a member joined, one erased): asked with since=, kept.
    gone = join(w, "13933334444", name="钱七")
    assert page.evaluate(
        "TP.members.kept.refresh().then(() => TP.members.kept.find('13933334444'))"
    )
    join(w, "13911112222", name="赵六")
    demo.members.erase(gone.id, merchant_id=w.merchant_id, channel=Channel.PORTAL, by="test")
    page.evaluate("TP.members.kept.refresh()")
    found = page.evaluate("Promise.all(['13911112222', '13933334444'].map(n => TP.members.kept.find(n)"
                          ".then(l => l.map(x => x.name))))")  # fmt: skip
    assert found == [["赵六"], []]
    till.offline()
    page.wait_for_selector("#offline-banner[data-state='offline']")
    assert "Offline: cash only" in page.locator("#offline-text").inner_text()
    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    # The member, from the snapshot: two members share the masked number, so their
    # names are shown and the cashier picks; the member's price, the points as of the
    # snapshot; redeeming and coupons need the server.
    page.keyboard.press("F11")
    page.locator("#member-number").fill("138 1234 5678")
    page.locator("#member-number").press("Enter")
    page.wait_for_selector("#member-choices:not([hidden])")
    assert "ask the customer's name" in page.locator("#member-hint").inner_text()
    assert page.locator("#member-choices button").all_inner_texts() == [
        "138****5678 · 王五", "138****5678 · 李四"]  # fmt: skip
    shoot(page, shots, "offline-member-choices-en")
    page.locator("#member-choices button", has_text="王五").click()
    page.wait_for_selector("#member-card:not([hidden])")
    assert page.locator("#member-points").inner_text() == "300"
    assert page.locator("#member-asof").inner_text().startswith("as of ")
    until(page, "document.getElementById('t-total').textContent === 'CN¥2.20'")
    assert page.locator("#member-redeem").is_disabled()
    assert "needs the server" in page.locator("#member-redeem").inner_text()
    assert "Coupons: need the server" in page.locator("#member-coupons").inner_text()
    assert (
        "about 2 points, earned when the sale syncs" in page.locator("#member-earns").inner_text()
    )
    shoot(page, shots, "offline-member-panel-en")
    kept = kept_in_browser(page)
    assert MOBILE not in kept and "1234 5678" not in kept and "13800005678" not in kept
    assert "138****5678" in kept
    # Paying: card, wallet and QR need the server, and say so.
    page.keyboard.press("F12")
    page.keyboard.press("F2")
    until(page, "!document.getElementById('tender-notice').hidden")
    assert "needs the server" in page.locator("#tender-notice").inner_text()
    page.keyboard.press("F1")  # cash, exactly what is due
    page.wait_for_selector("#done:not([hidden])")
    first = page.locator("#done-receipt").inner_text().removeprefix("Receipt ")
    assert "Member 138****5678: about 2 points, earned when the sale syncs" in (
        page.locator("#done-detail").inner_text())  # fmt: skip
    page.keyboard.press("F1")  # print it: laid out on the page, offline
    until(page, "window.__prints === 1")
    printed = page.locator("#print-area").inner_text()
    assert first in printed and "SOLD OFFLINE" in printed and "CASH" in printed
    assert "138****5678" in printed and "POINTS EXPECTED" in printed and "WHEN SYNCED" in printed
    page.keyboard.press("Enter")
    second = till.sell(water_code(1), water_code(1), BREAD_CODE, received="20",
                       member=MOBILE, name="王五")  # fmt: skip
    shoot(page, shots, "offline-till-banner-en")

    # Reloaded while offline: the service worker's copy opens, the till still sells and
    # the snapshot kept in the browser still finds the member. Signing up needs the server.
    page.reload()
    till.ready(online=False)
    assert page.evaluate("document.body.dataset.cached") == "1"
    page.wait_for_selector("#offline-banner[data-state='offline']")
    wedge(page, APPLE_LABEL)
    page.keyboard.press("F11")
    page.locator("#member-number").fill("13955556666")
    page.locator("#member-number").press("Enter")
    until(
        page,
        "document.getElementById('member-hint').textContent.indexOf('signing up needs the server') >= 0",
    )
    page.keyboard.press("Escape")
    third = till.sell(member=MOBILE, name="王五")
    assert len({first, second, third}) == 3
    assert till.counts()["waiting"] == 3
    assert server(demo, world)["orders"] == 0

    # The network back: the queue goes by itself, each sale written once.
    till.offline(False)
    till.synced()
    found = server(demo, world)
    consistent(found, 3)
    assert sorted(found["numbers"]) == sorted([first, second, third])
    # The member's points: earned once for each sale, at the sync; the ledger sums to
    # the balance.
    with demo.ctx.db.read() as s:
        members = set(
            s.scalars(select(Order.member_id).where(Order.receipt_no.in_(found["numbers"])))
        )
        entries = list(s.scalars(select(PointsEntry).where(PointsEntry.member_id == m.id)))
    assert members == {m.id}
    earned = [e for e in entries if e.kind is PointsKind.EARNED]
    assert len(earned) == 3 and len({e.order_id for e in earned}) == 3
    balance = demo.members.get(m.id, merchant_id=w.merchant_id).points
    assert balance == sum(e.points for e in entries) == 300 + sum(e.points for e in earned)
    assert world.level("water") == -3000 and world.level("bread") == -1000
    assert world.level("apple") == -455
    # Stock went below zero: it needs a look, and the page says so.
    page.locator("#offline-open").click()
    page.wait_for_selector("#offline-rows tr")
    assert page.locator("#offline-rows tr").count() == 3
    assert "stock went below zero" in page.locator("#offline-rows").inner_text()
    shoot(page, shots, "offline-till-synced-en")
    page.locator("#offline-rows button.seen").first.click()
    until(page, "document.querySelectorAll('#offline-rows button.seen').length === 2")
    # Sent again (a lost answer, say): nothing doubles.
    page.evaluate("TP.O.outbox.list(10)")
    assert server(demo, world)["orders"] == 3
    assert demo.members.get(m.id, merchant_id=w.merchant_id).points == balance
    assert till.errors == []


def next_online_number(world: World) -> int:
    """The number the world's till T1 gives its next online receipt."""
    with world.tp.ctx.db.read() as s:
        found = s.scalar(select(ReceiptSequence.next_number).where(
            ReceiptSequence.shop_id == world.shop_id, ReceiptSequence.till == "T1"))  # fmt: skip
    return found or 1


def test_two_pages_of_a_till_offline_at_once_never_print_the_same_number(
    browser: Browser, demo: Tillpoint, world: World, base: str, tills: list[Till], shots: Path
) -> None:
    # Each page numbers in its own form, its page number within the till (P1, P2).
    join(world, name="王五")
    online_next = next_online_number(world)
    one = Till(browser, base, "T1", locale="zh-CN")
    two = Till(browser, base, "T1")
    tills += [one, two]
    until(one.page, "!!TP.members.kept.meta")
    for t in (one, two):
        t.offline()
    # The member panel offline, in Chinese at 1280x800.
    wedge(one.page, water_code(1))
    one.member(MOBILE)
    assert "需要连接服务器" in one.page.locator("#member-redeem").inner_text()
    shoot(one.page, shots, "offline-member-panel-zh")
    numbers = [one.sell()] + [one.sell(water_code(1)) for _ in range(2)]
    numbers += [two.sell(BREAD_CODE) for _ in range(3)]
    one.page.wait_for_selector("#offline-banner[data-state='offline']")
    shoot(one.page, shots, "offline-till-banner-zh")
    assert len(set(numbers)) == 6, numbers
    forms = {n.rsplit(".", 1)[0] for n in numbers}
    assert forms == {"1-T1-P1", "1-T1-P2"} and {n[-2:] for n in numbers} == {".1", ".2", ".3"}
    for t in (one, two):
        t.offline(False)
    for t in (one, two):
        t.synced()
    found = server(demo, world)
    consistent(found, 6)
    assert sorted(found["numbers"]) == sorted(numbers)
    assert next_online_number(world) == online_next  # the pages took none of the till's
    one.page.locator("#offline-open").click()
    one.page.wait_for_selector("#offline-rows tr")
    assert numbers[0] in one.page.locator("#offline-rows").inner_text()
    shoot(one.page, shots, "offline-till-synced-zh")


SEARCHED = ("面包", "面", "B", "B1", "BX2", "O1", "旧", "矿泉水 Water", "矿泉水  Water ", "W", "Z")
UPGRADED_JS = """async () => {
  await new Promise((resolve) => {
    const req = indexedDB.open("tillpoint-catalogue-old-1", 1);
    req.onupgradeneeded = () => {
      const products = req.result.createObjectStore("products", { keyPath: "id" });
      products.createIndex("code", "b", { multiEntry: true });
      products.createIndex("plu", "plu");
      req.result.createObjectStore("meta", { keyPath: "k" });
      products.put({ id: 1, sku: "Q1", name: "Quince", active: true, b: [] });
    };
    req.onsuccess = () => { req.result.close(); resolve(); };
  });
  const copy = new TP.Catalogue("old", 1);
  await copy.open();
  copy.complete = true;
  return (await copy.search("Q", 20)).map((h) => h.name);
}"""
FIELDS = ("product_id", "sku", "name", "category", "unit", "sold_by", "plu", "price_minor")


def test_the_search_box_offline_answers_from_the_tills_copy(
    browser: Browser, demo: Tillpoint, world: World, base: str, tills: list[Till], shots: Path
) -> None:
    mid = world.merchant_id
    product(demo, mid, "BX2", "白菜 Cabbage", 300)  # a SKU with B, named after the bread
    product(demo, mid, "C9", "Beans", 500)  # a name with B
    product(demo, mid, "B0", "Bad old", 100, active=False)
    demo.catalogue.add_barcode(mid, product(demo, mid, "K1", "咖啡 Coffee", 1500), "BX2")
    till = Till(browser, base)
    tills.append(till)
    page = till.page
    # The copy answers as the server does: barcode, then SKUs, then names, each by name;
    # inactive products never; the shop's prices.
    assert [h["name"] for h in page.evaluate("TP.S.catalogue.search('BX2', 20)")] == [
        "咖啡 Coffee", "白菜 Cabbage"]  # fmt: skip
    assert [h["name"] for h in page.evaluate("TP.S.catalogue.search('B', 20)")] == [
        "白菜 Cabbage", "面包 Bread", "Beans"]  # fmt: skip
    for text in (*SEARCHED, water_code(1)):
        local, remote = page.evaluate(
            """t => Promise.all([TP.S.catalogue.search(t, 20),
                                 TP.api('GET', '/search?q=' + encodeURIComponent(t) + '&limit=20')])""",
            text,
        )
        assert [[h[k] for k in FIELDS] for h in local] == [
            [h[k] for k in FIELDS] for h in remote
        ], text
    # A copy made by the page before (IndexedDB layout 1) gains its indexes in place.
    assert page.evaluate(UPGRADED_JS) == ["Quince"]
    till.offline()
    page.wait_for_selector("#offline-banner[data-state='offline']")
    # Typed: the results come from the copy.
    page.locator("#scan").fill("面包")
    page.locator("#scan").dispatch_event("input")
    page.wait_for_selector("#results:not([hidden]) li.result")
    assert page.locator("#results li.result").all_inner_texts() == ["面包 Bread\nB1\nCN¥7.50"]
    shoot(page, shots, "offline-search-en")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    until(page, "document.querySelectorAll('#lines li').length === 1")
    # A code the copy does not know, offline: searched there, the first one chosen.
    wedge(page, "W1")
    page.wait_for_selector("#results li.result.active")
    page.keyboard.press("Enter")
    until(page, "document.querySelectorAll('#lines li').length === 2")
    wedge(page, "ZZ9")
    notice = "document.getElementById('notice').textContent"
    until(page, notice + ".includes('No product found for ZZ9')")
    until(page, "document.getElementById('t-total').textContent === 'CN¥10.00'")
    page.keyboard.press("F12")
    page.wait_for_selector("#tender:not([hidden])")
    page.keyboard.press("F1")
    page.wait_for_selector("#done:not([hidden])")
    assert page.locator("#done-receipt").inner_text().startswith("Receipt 1-T1-P")
    assert till.errors == []


def test_a_sync_whose_answer_is_lost_is_resumed_and_nothing_doubles(
    browser: Browser, demo: Tillpoint, world: World, base: str, tills: list[Till]
) -> None:
    till = Till(browser, base, batch=2)
    tills.append(till)
    till.offline()
    numbers = till.sell_many(5, seed=3)
    lost: list[str] = []

    def lose_the_first(route: Route) -> None:
        if not lost:
            answer = route.fetch()  # the server writes the batch...
            lost.append(answer.text())
            route.abort()  # ...and its answer never reaches the page
        else:
            route.continue_()

    till.page.route("**/cashier/api/orders/sync*", lose_the_first)
    till.offline(False)
    till.synced()
    assert lost and '"synced":2' in lost[0].replace(" ", "")
    found = server(demo, world)
    consistent(found, 5)
    assert sorted(found["numbers"]) == sorted(numbers)
    statuses = till.page.evaluate("TP.O.outbox.list(10).then(l => l.map(x => x.status))")
    assert sorted(statuses) == ["already_synced"] * 2 + ["synced"] * 3


@pytest.mark.parametrize("seed", chaos_seeds())
def test_chaos_a_thousand_offline_sales_cuts_lost_answers_and_a_reload(
    browser: Browser, demo: Tillpoint, world: World, base: str, tills: list[Till], seed: int
) -> None:
    """1,000 offline sales from two tills; while they sync, at random moments: a till's
    network cut and restored, an answer lost after the server wrote the batch, a page
    reloaded. Exactly 1,000 orders arrive, and the stock moved once for each line."""
    rng = random.Random(seed)
    pair = [
        Till(browser, base, till, batch=rng.choice([25, 50, 100, 250, 500]))
        for till in ("T1", "T2")
    ]
    tills += pair
    numbers: list[str] = []
    for n, t in enumerate(pair):
        t.offline()
        numbers += t.sell_many(500, seed * 2 + n)
    assert len(set(numbers)) == 1000
    losing = {id(t): rng.random() * 0.3 for t in pair}
    seen = Counter[str]()

    def flaky(till: Till) -> Any:
        def handle(route: Route) -> None:
            seen["batches sent"] += 1
            # A page reloading or cut meanwhile may have let go of the request already:
            # then nothing is left to answer or lose.
            if rng.random() < losing[id(till)]:
                seen["answers lost"] += 1
                with contextlib.suppress(PlaywrightError):
                    route.fetch()  # the server writes the batch...
                with contextlib.suppress(PlaywrightError):
                    route.abort()  # ...and its answer never reaches the page
            else:
                with contextlib.suppress(PlaywrightError):
                    route.continue_()

        return handle

    for t in pair:
        t.page.route("**/cashier/api/orders/sync*", flaky(t))
        t.offline(False)
    reloaded = False
    for _ in range(rng.randint(4, 10)):
        pair[0].page.wait_for_timeout(rng.uniform(50, 600))
        t = rng.choice(pair)
        if not reloaded and rng.random() < 0.4:
            t.page.reload()
            reloaded = True
            seen["reloads"] += 1
        else:
            seen["cuts"] += 1
            t.offline()
            t.page.wait_for_timeout(rng.uniform(50, 500))
            t.offline(False)
    if not reloaded:
        pair[0].page.reload()
        seen["reloads"] += 1
    for t in pair:
        t.page.unroute("**/cashier/api/orders/sync*")
        t.offline(False)
    for t in pair:
        t.synced(120)
    found = server(demo, world)
    consistent(found, 1000)
    assert sorted(found["numbers"]) == sorted(numbers)
    for t in pair:
        statuses = t.page.evaluate("TP.O.outbox.list(1000).then(l => l.map(x => x.status))")
        assert len(statuses) == 500 and "refused" not in statuses and "waiting" not in statuses
        assert t.errors == []
        seen["already synced"] += statuses.count("already_synced")
    if log := os.environ.get("TILLPOINT_CHAOS_LOG"):
        with Path(log).open("a") as out:
            out.write(f"seed {seed}: 1000 orders once; {dict(seen)}\n")
