"""The browser cashier end to end, in Debian's Chromium against the real HTTP app and
terminal host: a cashier signs in and lands at the till, opens a shift, scans three
products like a keyboard-wedge scanner (one a scale's weight label, one found by
name), discounts a line, pays part in cash and part by card while the virtual
terminal, over TCP to the host, takes the card for the checkout (the till's page
updates by itself), prints; takes one line back against the receipt with a manager's
approval (the card part refunded); sells to a wallet code the scanner reads (one
declined, with the reason) and to a QR code on the customer display; sells at a mall's
counter; and closes the shift with the cash counted by denomination, short by exactly
what was kept back. In English and in Chinese, at 1024x768 and 1920x1080.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Coroutine, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_portal_apply import serving
from tests.selling import ALIPAY, DEBIT, PASSWORD, World, shop_world, water_code

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.money import Money
from tillpoint.host.server import TerminalHost
from tillpoint.payments.acquirer import simulated
from tillpoint.store.barcodes import make_scale_code
from tillpoint.store.catalogue import ProductChanges
from tillpoint.store.models import Order, OrderKind, Shift, TenderKind, TenderStatus
from tillpoint.terminal.device import Device, DeviceState

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

T = TypeVar("T")
BREAD_CODE = "6920000000036"
DECLINED = "280000000000000002"  # the wallet simulator: too little money (51)
APPLE_PLU = 7


class Host:
    """The terminal host on a free port, on an event loop of its own thread (the browser
    is driven from this one)."""

    def __init__(self, tp: Tillpoint) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> tuple[Any, Any]:
            acquirer = simulated(tp)
            server = await TerminalHost(tp, acquirer).start("127.0.0.1", 0)
            return acquirer, server

        self.acquirer, self.server = self.run(start())
        self.port = self.server.sockets[0].getsockname()[1]

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def terminal_pays(self, amount_minor: int) -> str:
        """The shop's terminal finds the checkout with its poll and takes the card."""

        async def pay() -> str:
            state = DeviceState.demo(1)
            state.port = self.port
            device = Device(state)
            offer = None
            for _ in range(40):
                offer = await device.poll_checkout()
                if offer is not None:
                    break
                await asyncio.sleep(0.25)
            assert offer is not None and offer.amount == Money(amount_minor)
            paid = await device.sale(offer.amount, DEBIT, pin="123456", checkout=offer.reference)
            assert paid.approved, paid
            await device.close()
            return paid.rrn or ""

        return self.run(pay())

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()
            self.acquirer.close()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def world(demo: Tillpoint) -> World:
    w = shop_world(demo, 1)
    demo.catalogue.update(w.merchant_id, w.products["apple"], ProductChanges(plu=APPLE_PLU))
    demo.catalogue.add_barcode(w.merchant_id, w.products["bread"], BREAD_CODE)
    return w


@pytest.fixture
def base(demo: Tillpoint) -> Iterator[str]:
    with serving(demo) as url:
        yield url


def wedge(page: Page, code: str) -> None:
    """What a keyboard-wedge scanner does: the code typed fast, then Enter, into whatever
    has focus."""
    page.keyboard.type(code, delay=4)
    page.keyboard.press("Enter")


def open_till(browser: Browser, base: str, viewport: dict[str, int], locale: str) -> tuple[Page, Watch]:  # fmt: skip
    context = browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
    watch = Watch(base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    # The till's printer: count the prints (headless Chromium has no print dialog).
    page.add_init_script("window.__prints = 0; window.print = function () { window.__prints++; };")
    return page, watch


def sign_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(base + "/cashier")  # not signed in: the portal's sign-in, and back here
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/cashier(\?.*)?$"))


def until(page: Page, expression: str, timeout_s: float = 10.0) -> None:
    """Wait until ``expression`` is true in the page (wait_for_function evaluates a string,
    which the page's CSP forbids: the page runs no code it did not load itself)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still not true: {expression}"
        time.sleep(0.03)


def lines(page: Page) -> list[str]:
    return [" ".join(x.split()) for x in page.locator("#lines li").all_inner_texts()]


def no(n: int) -> str:
    """The till's n-th online receipt: the page made itself known for selling offline
    when it opened (docs/offline.md) and took none of its till's numbers."""
    return f"1-T1-{n}"


def order_of(tp: Tillpoint, receipt_no: str) -> Order:
    with tp.ctx.db.read() as s:
        return s.scalars(select(Order).where(Order.receipt_no == receipt_no)).one()


def test_a_day_at_the_till(
    browser: Browser, demo: Tillpoint, world: World, base: str, shots: Path
) -> None:
    host = Host(demo)
    try:
        _day(browser, demo, world, base, shots, host)
    finally:
        host.close()


def _day(browser: Browser, tp: Tillpoint, w: World, base: str, shots: Path, host: Host) -> None:
    page, watch = open_till(browser, base, {"width": 1920, "height": 1080}, "en")
    sign_in(page, base, "cashier1@shop.example.com", "cashier-secret-1")
    # No shift at the till yet: open one with its float.
    page.locator("#start-till").fill("T1")
    page.locator("#start-float").fill("200")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_selector("body[data-ready='1']")
    assert "Shift 1 · till T1" in page.locator("#shift-name").inner_text()
    until(page, "TP.O.outbox && TP.O.outbox.numbers(1, 'T1').then(r => !!r)")  # see no()

    display = page.context.new_page()
    display.goto(base + "/cashier/display")

    # Three products, the scanner typing into whatever has focus: the water twice (one
    # line of 2), the apples by a scale's weight label, the bread found by its name.
    page.locator("#pay").focus()  # not the scan box: the page takes the scan all the same
    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    wedge(page, water_code(1))
    until(page, "document.querySelector('#lines li .qty').textContent === '2'")
    wedge(page, make_scale_code(APPLE_PLU, weight_milli=455, flag=5))
    until(page, "document.querySelectorAll('#lines li').length === 2")
    page.locator("#scan").fill("面包")
    page.wait_for_selector("#results li")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    until(page, "document.querySelectorAll('#lines li').length === 3")
    assert lines(page) == [
        "矿泉水 Water − 2 + CN¥2.50 CN¥5.00",
        "苹果 Apples 0.455 kg CN¥12.80 CN¥5.82",  # 12.80/kg x 0.455 kg = 5.824
        "面包 Bread − 1 + CN¥7.50 CN¥7.50",  # the shop's price
    ]
    # One yuan off the bread (under the 10% a cashier may give alone).
    page.keyboard.press("F4")
    page.locator("#keypad-input").fill("1")
    page.locator("#keypad-input").press("Enter")
    until(page, "document.getElementById('t-total').textContent === 'CN¥17.32'")
    assert page.locator("#approval-state").is_hidden()
    until(display, "document.getElementById('d-total').textContent === 'CN¥17.32'")
    assert display.locator("#d-lines li").count() == 3
    shoot(page, shots, "cashier-till-en")
    shoot(display, shots, "cashier-display-en")

    # Pay: 10.00 in cash, the rest by card at the shop's terminal.
    page.keyboard.press("F12")
    page.locator("#amount").fill("10")
    page.keyboard.press("F1")
    until(page, "document.getElementById('due').textContent === 'CN¥7.32'")
    page.keyboard.press("F2")
    page.wait_for_selector("#waiting:not([hidden])")
    assert "Waiting for the terminal: CN¥7.32" in page.locator("#waiting").inner_text()
    shoot(page, shots, "cashier-card-waiting-en")
    rrn = host.terminal_pays(732)
    page.wait_for_selector("#done:not([hidden])", timeout=20_000)  # by itself: the long poll
    assert page.locator("#done-receipt").inner_text() == f"Receipt {no(1)}"
    page.wait_for_selector("#done-qr:not([hidden])")
    page.keyboard.press("F1")
    until(page, "window.__prints === 1")
    assert no(1) in page.locator("#print-area").inner_text()
    display.wait_for_selector("#d-paid:not([hidden])")
    until(display, "document.getElementById('d-receipt-img').naturalWidth > 0")
    shoot(display, shots, "cashier-display-paid-en")
    sale = order_of(tp, no(1))
    assert (sale.total_minor, sale.discount_minor, sale.account_id) == (1732, 0, w.cashier_id)
    assert w.level("water") == -2000 and w.level("apple") == -455
    with tp.ctx.db.read() as s:
        from tillpoint.payments.models import Payment

        card = s.scalars(select(Payment).where(Payment.rrn == rrn)).one()
        assert card.amount_minor == 732

    # A return of the apples against the receipt: the card part goes back first.
    page.keyboard.press("Enter")  # the next customer
    page.keyboard.press("F9")
    page.locator("#return-ref").fill(no(1))
    page.locator("#return-ref").press("Enter")
    page.wait_for_selector("#return-sale:not([hidden])")
    page.locator("#return-lines li").nth(1).locator("button.return-all").click()
    assert page.locator("#return-total").inner_text() == "CN¥5.82"
    shoot(page, shots, "cashier-return-en")
    page.locator('[data-act="return-go"]').click()
    page.locator("#approval-login").fill(w.manager_login)
    page.locator("#approval-secret").fill(PASSWORD)
    page.locator("#approval-secret").press("Enter")
    page.wait_for_selector("#return-done:not([hidden])")
    assert (
        page.locator("#return-done-title").inner_text() == f"Paid back: CN¥5.82 · Receipt {no(2)}"
    )
    assert "card CN¥5.82 refunded" in " ".join(page.locator("#return-tenders").inner_text().split())
    page.locator('[data-act="return-print"]').click()
    until(page, "window.__prints === 2")
    assert "退货单 RETURN RECEIPT" in page.locator("#print-area").inner_text()
    shoot(page, shots, "cashier-return-done-en")
    page.locator("#return-dialog button.cancel").click()
    back = order_of(tp, no(2))
    assert (back.kind, back.total_minor) == (OrderKind.RETURN, 582)
    assert w.level("apple") == 0

    # A wallet code read by the scanner while paying: declined first (the reason shown),
    # then the customer's other code pays.
    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    page.keyboard.press("F12")
    page.keyboard.press("F3")
    wedge(page, DECLINED)
    page.wait_for_selector("#tender-notice:not([hidden])")
    assert "Insufficient funds" in page.locator("#tender-notice").inner_text()
    wedge(page, ALIPAY)
    page.wait_for_selector("#done:not([hidden])")
    wallet_sale = order_of(tp, no(3))
    assert wallet_sale.total_minor == 250

    # A QR code on the customer display; the customer's wallet pays it.
    page.keyboard.press("Enter")
    wedge(page, BREAD_CODE)
    until(page, "document.querySelectorAll('#lines li').length === 1")
    page.keyboard.press("F12")
    page.keyboard.press("F4")
    display.wait_for_selector("#d-qr:not([hidden])")
    until(display, "document.getElementById('d-qr-img').naturalWidth > 0")
    shoot(display, shots, "cashier-display-qr-en")
    with tp.ctx.db.read() as s:
        from tillpoint.payments.models import Payment
        from tillpoint.store.models import OrderTender

        tender = s.scalars(
            select(OrderTender).where(OrderTender.kind == TenderKind.QR,
                                      OrderTender.status == TenderStatus.PENDING)
        ).one()  # fmt: skip
        code = s.get_one(Payment, tender.payment_id).qr_code or ""
    token = code.rsplit("/", 1)[1]
    paid = httpx.post(f"{base}/simulator/qr/{token}", data={"wallet": "ALP", "decision": "approve"})
    assert paid.status_code in (200, 303)
    page.wait_for_selector("#done:not([hidden])", timeout=20_000)
    assert page.locator("#done-receipt").inner_text() == f"Receipt {no(4)}"

    # The mall: the shop sells at counters now, and each order names its counter.
    tp.counters.create(w.merchant_id, 1, 12, "老王茶叶 Wang's Tea")
    page.goto(base + "/cashier?shop=1&till=T1&lang=zh-CN")
    page.wait_for_selector("body[data-ready='1']")
    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    page.keyboard.press("F12")
    assert page.locator("#notice").inner_text() == "请先选择专柜"
    page.locator("#counter").select_option("12")
    page.keyboard.press("F12")
    page.locator("[data-act=cash]").click()  # the amount left empty: exactly what is due
    page.wait_for_selector("#done:not([hidden])")
    assert order_of(tp, no(5)).counter_id is not None
    page.keyboard.press("Enter")
    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    page.locator("#counter").select_option("12")
    shoot(page, shots, "cashier-till-zh")

    # Close the shift: 200 float + 10 + 2.50 in cash; 212.00 counted, 0.50 short.
    page.locator("#lines li button[data-act=line-minus]").click()  # the cart emptied again
    page.locator("#menu-button").click()
    page.locator("#menu [data-act=close-shift]").click()
    page.locator("#count-rows input").nth(0).fill("2")  # 2 x 100
    page.locator("#count-rows input").nth(3).fill("1")  # 1 x 10
    page.locator("#count-rows input").nth(5).fill("2")  # 2 x 1
    assert page.locator("#count-expected").inner_text() == "¥212.50"
    assert page.locator("#count-diff").inner_text() == "-¥0.50"
    assert page.locator("#count-diff-label").inner_text() == "短款"
    shoot(page, shots, "cashier-close-zh")
    page.locator("#close-form button[type=submit]").click()
    page.wait_for_selector("#report-dialog[open]")
    assert "Z 报表" in page.locator("#report-body").inner_text()
    shoot(page, shots, "cashier-z-report-zh")
    with tp.ctx.db.read() as s:
        shift = s.scalars(select(Shift)).one()
        assert (shift.counted_cash_minor, shift.expected_cash_minor) == (21_200, 21_250)

    # The day's sales are in the shop's reports (a cashier reads its own shop's): each
    # tender the till took, and the goods it sold.
    today = datetime.now(BUSINESS_TZ).date().isoformat()
    page.goto(f"{base}/portal/reports?kind=tenders&from={today}&to={today}&lang=en")
    tenders = page.locator("table.report-table").inner_text().lower()
    assert all(kind in tenders for kind in ("cash", "card", "wallet", "qr")), tenders
    page.goto(f"{base}/portal/reports?kind=products&from={today}&to={today}&lang=en")
    assert "Water" in page.locator("table.report-table").inner_text()
    assert watch.elsewhere() == []
    # The only errors: the lookups of what is no product (a name typed) and the refused
    # wallet code, each answered with its reason on the page.
    assert [e for e in watch.errors if "404" not in e and "409" not in e] == [], watch.errors


def test_the_till_fits_a_small_screen(browser: Browser, world: World, base: str, shots: Path) -> None:  # fmt: skip
    """At 1024x768, in Chinese: nothing scrolls sideways, the big buttons stay big."""
    page, watch = open_till(browser, base, {"width": 1024, "height": 768}, "zh-CN")
    sign_in(page, base, "cashier1@shop.example.com", "cashier-secret-1")
    page.locator("#start-float").fill("100")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_selector("body[data-ready='1']")
    for _ in range(3):
        wedge(page, water_code(1))
    wedge(page, BREAD_CODE)
    until(page, "document.querySelectorAll('#lines li').length === 2")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    box = page.locator("#pay").bounding_box()
    assert box is not None and box["height"] >= 60 and box["y"] + box["height"] <= 768
    shoot(page, shots, "cashier-till-zh-1024")
    page.keyboard.press("F12")
    shoot(page, shots, "cashier-tender-zh-1024")
    assert [e for e in watch.errors if "404" not in e] == [], watch.errors


def test_a_shop_with_two_terminals_names_the_one_that_takes_the_card(
    browser: Browser, demo: Tillpoint, world: World, base: str, shots: Path
) -> None:
    """Two terminals in the shop: the till asks which one takes its cards before the
    first card tender, hands the amount to that one, and remembers the choice."""
    second = demo.terminals.add("SN-SHOP1-B", "Tillpoint Countertop", "test").terminal.tid
    demo.terminals.bind(second, world.mid, "test", shop=1)
    page, watch = open_till(browser, base, {"width": 1280, "height": 800}, "en")
    sign_in(page, base, "cashier1@shop.example.com", "cashier-secret-1")
    page.locator("#start-float").fill("100")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_selector("body[data-ready='1']")
    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    page.keyboard.press("F12")
    assert page.locator("#terminal-row").is_visible()
    options = page.locator("#card-terminal option").all_inner_texts()
    assert [o.split(" · ")[0] for o in options[1:]] == sorted(["10000001", second])
    page.keyboard.press("F2")  # no terminal chosen yet: nothing is sent
    until(page, "!document.getElementById('tender-notice').hidden")
    assert page.locator("#tender-notice").inner_text() == "Choose the terminal that takes the card"
    with demo.ctx.db.read() as s:
        assert s.scalars(select(Order)).all() == []
    page.locator("#card-terminal").select_option(second)
    shoot(page, shots, "cashier-two-terminals-en")
    page.keyboard.press("F2")
    page.wait_for_selector("#waiting:not([hidden])")
    with demo.ctx.db.read() as s:
        order = s.scalars(select(Order)).one()
    card = demo.orders.get(order.id, merchant_id=world.merchant_id).tenders[0]
    assert (card.kind, card.status, card.tid) == (TenderKind.CARD, TenderStatus.PENDING, second)
    page.locator("[data-act=cancel-tender]").click()
    page.reload()  # the till remembers its terminal
    page.wait_for_selector("body[data-ready='1']")
    page.keyboard.press("F12")
    assert page.locator("#card-terminal").input_value() == second
    assert [e for e in watch.errors if "404" not in e] == [], watch.errors


def test_a_customer_display_on_another_device_follows_the_till(
    browser: Browser, world: World, base: str, shots: Path
) -> None:
    """A tablet facing the customer, another browser signed in to the shop: it follows
    the till through the server once the till's menu says so."""
    page, watch = open_till(browser, base, {"width": 1280, "height": 800}, "en")
    sign_in(page, base, "cashier1@shop.example.com", "cashier-secret-1")
    page.locator("#start-float").fill("100")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_selector("body[data-ready='1']")
    page.locator("#menu-button").click()
    page.locator("#remote-display").check()
    link = page.locator("#remote-display-link").inner_text()
    assert link.endswith("/cashier/display?shop=1&till=T1"), link
    page.locator("#menu-button").click()

    tablet, tablet_watch = open_till(browser, base, {"width": 1024, "height": 768}, "zh-CN")
    sign_in(tablet, base, "cashier1@shop.example.com", "cashier-secret-1")
    tablet.goto(base + "/cashier/display?shop=1&till=T1")
    until(tablet, "document.body.dataset.version !== undefined")
    wedge(page, water_code(1))
    wedge(page, water_code(1))
    until(tablet, "document.querySelectorAll('#d-lines li').length === 1")
    until(tablet, "document.getElementById('d-total').textContent === '¥5.00'")
    assert "矿泉水 Water" in tablet.locator("#d-lines").inner_text()
    shoot(tablet, shots, "cashier-display-remote-zh")
    page.keyboard.press("F12")
    page.locator(".quick-amount").first.click()
    page.wait_for_selector("#done:not([hidden])")
    tablet.wait_for_selector("#d-paid:not([hidden])")
    until(tablet, "document.getElementById('d-receipt-img').naturalWidth > 0")
    for w in (watch, tablet_watch):
        assert [e for e in w.errors if "404" not in e] == [], w.errors
