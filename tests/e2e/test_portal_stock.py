"""The portal's stock in a real browser against `tillpoint serve --demo`: the owner
opens a second shop, receives a delivery at shop 1, sends part of it to shop 2 where it
is received short, counts shop 1 and books the count, sets a reorder level and finds the
product in the low-stock list; in English and Chinese, on a desktop and a phone.

Products are put straight into the database (the catalogue's pages are another's
work). Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_console_pages import DESKTOP, PHONE, open_page
from tests.e2e.test_portal_shops import fits, sign_in
from tests.e2e.test_serve import Served, served

from tillpoint.core.db import Database
from tillpoint.demo import DEMO_PASSWORD, demo_mid, demo_owner
from tillpoint.merchants.models import Merchant
from tillpoint.store.models import Product, SoldBy

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        db = Database(s.env["TILLPOINT_DATABASE_URL"])
        with db.transaction() as session:
            merchant_id = session.scalars(
                select(Merchant.id).where(Merchant.mid == demo_mid(1))
            ).one()
            for sku, name, unit, sold_by, cost in (
                ("6901", "可口可乐 330ml Coca-Cola", "瓶", SoldBy.PIECE, 180),
                ("6902", "农夫山泉 550ml Spring water", "瓶", SoldBy.PIECE, 90),
                ("2001", "东北大米 Rice", "kg", SoldBy.WEIGHT, 456),
            ):
                session.add(Product(merchant_id=merchant_id, sku=sku, name=name, unit=unit,
                                    sold_by=sold_by, price_minor=cost * 2, cost_minor=cost,
                                    currency="CNY", active=True, revision=1, created_at=AT,
                                    updated_at=AT))  # fmt: skip
        db.dispose()
        yield s


def lines(page: Page, *rows: tuple[str, str]) -> None:
    for n, (code, quantity) in enumerate(rows):
        page.get_by_label(f"SKU or barcode, line {n + 1}").fill(code)
        page.get_by_label(f"Quantity, line {n + 1}").fill(quantity)


def flash(page: Page) -> str:
    return page.locator("p.flash").inner_text()


def test_an_owner_receives_transfers_counts_and_sees_what_is_low(
    browser: Browser, server: Served, shots: Path
) -> None:
    base = server.base
    page, watch = open_page(browser, base, DESKTOP, "en")
    sign_in(page, base, demo_owner(1), DEMO_PASSWORD)
    page.wait_for_url(base + "/portal")
    # A second shop, as an owner opens one.
    page.goto(base + "/portal/shops?lang=en")
    page.get_by_label("Shop name").fill("二店 Second shop")
    page.get_by_label("Address").fill("上海市南京西路2号")
    page.get_by_role("button", name="Open the shop").click()
    assert "Shop 2" in flash(page)

    # A delivery at shop 1.
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Stock").click()
    page.get_by_role("link", name="Receive goods").click()
    page.get_by_label("Into shop").select_option("1")
    page.get_by_label("Supplier", exact=True).fill("华联批发 Hualian Wholesale")
    page.get_by_label("Delivery note number (optional)").fill("DN-2026-0117")
    lines(page, ("6901", "48"), ("6902", "24"), ("2001", "25.5"))
    page.get_by_label("Unit cost, line 1").fill("1.75")
    shoot(page, shots, "portal-stock-receipt-en")
    page.get_by_role("button", name="Book the delivery").click()
    assert "Received 3 line(s) from 华联批发 Hualian Wholesale at shop 1" in flash(page)
    table = page.locator("table.levels").inner_text()
    assert "48 瓶" in table and "25.5 kg" in table

    # Sent to shop 2, received there one short.
    page.get_by_role("link", name="Transfers").click()
    page.get_by_label("From shop").select_option("1")
    page.get_by_label("To shop").select_option("2")
    lines(page, ("6901", "12"), ("2001", "5"))
    page.get_by_role("button", name="Send", exact=True).click()
    assert "out of shop 1's stock now" in flash(page)
    page.get_by_label("Arrived of 可口可乐 330ml Coca-Cola").fill("11")
    shoot(page, shots, "portal-stock-transfer-en")
    page.get_by_role("button", name="Receive into stock").click()
    assert "received with a shortfall" in flash(page)
    assert "1 瓶" in page.locator("table.list").inner_text()

    # A count of shop 1, in two goes, booked.
    page.get_by_role("link", name="Transfers between shops").click()
    page.get_by_role("link", name="Counts").click()
    page.get_by_label("Shop", exact=True).select_option("1")
    page.get_by_role("button", name="Open the count").click()
    assert "enter what you find" in flash(page)
    page.get_by_label("SKU or barcode, line 1").fill("6901")
    page.get_by_label("Counted, line 1").fill("30")
    page.get_by_role("button", name="Enter", exact=True).click()
    page.get_by_label("SKU or barcode, line 1").fill("6901")
    page.get_by_label("Counted, line 1").fill("5")
    page.get_by_label("SKU or barcode, line 2").fill("6902")
    page.get_by_label("Counted, line 2").fill("20")
    page.get_by_role("button", name="Enter", exact=True).click()
    assert "35 瓶" in page.locator("table.count-lines").inner_text()
    page.get_by_role("button", name="Book the count").click()
    assert "2 product(s) differed from the books" in flash(page)  # 36 -> 35, 24 -> 20
    assert (
        "The booking declared: Only what was counted" in page.locator(".count-scope").inner_text()
    )
    shoot(page, shots, "portal-stock-count-en")

    # Water is low at 20 or less: the low list says so in words.
    page.get_by_role("link", name="Stock counts").click()
    page.get_by_role("link", name="Levels").click()
    page.get_by_role("link", name="农夫山泉 550ml Spring water").first.click()
    page.get_by_label("Low at or below (瓶; empty: never)").fill("20")
    page.get_by_role("button", name="Set the reorder level").click()
    assert "is low at 20 瓶 or less" in flash(page)
    history = page.locator("table.movements").inner_text()
    assert "Stock count" in history and "Goods received" in history
    page.goto(base + "/portal/stock?shop=all&low=1&lang=en")
    low = page.locator("table.levels").inner_text()
    assert "Spring water" in low and "Low stock" in low and "Coca-Cola" not in low
    fits(page)
    page.goto(base + "/portal/stock?shop=all&lang=en")
    shoot(page, shots, "portal-stock-en")

    # In Chinese, on a phone.
    page.set_viewport_size(PHONE)
    page.goto(base + "/portal/stock?shop=1&lang=zh-CN")
    assert page.locator("h1").inner_text() == "库存"
    assert "库存不足" in page.locator("table.levels").inner_text()
    fits(page)
    shoot(page, shots, "portal-stock-zh")
    page.goto(base + "/portal/stock/counts/1")
    assert "盘点单 1" in page.locator("h1").inner_text()
    fits(page)
    shoot(page, shots, "portal-stock-count-zh")
    assert watch.errors == []
    assert watch.elsewhere() == []
    page.context.close()
