"""The portal's reports in a real browser, against `tillpoint serve --demo` whose shop
(demo merchant 1) holds the hand-made orders of tests/shopdata.py: the owner opens the
reports from the menu, reads sales by day (chart and total), goes through the tabs,
narrows to a counter, opens the mall's statement per counter, downloads its CSV and
checks it; on a phone, in Chinese, the products report fits the screen. Screenshots
(TILLPOINT_TEST_SHOTS=/some/dir keeps copies): the counters' statement in English on a
desktop, sales by product in Chinese on a phone."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_portal_payments import DESKTOP, PHONE, fits_the_phone, screenshot
from tests.e2e.test_serve import Served, served
from tests.shopdata import hand_made

from tillpoint.app import open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import DEMO_PASSWORD, demo_mid, demo_owner

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)
DAYS = "from=2026-12-01&to=2026-12-02"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("serve")
    with served(tmp, terminals=1) as demo:
        settings = Settings(_env_file=None, database_url=demo.env["TILLPOINT_DATABASE_URL"],  # type: ignore[call-arg]
                            demo=True, locale="en", network_dir=str(tmp / "orders"))  # fmt: skip
        app = open_app(settings)
        try:
            hand_made(app, demo_mid(1))
        finally:
            app.close()
        yield demo


def test_the_owner_reads_the_reports(browser: Browser, server: Served, shots: Path) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="en", accept_downloads=True)  # type: ignore[arg-type]
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    page.goto(server.base + "/portal?lang=en")
    page.get_by_label("Email or mobile number").fill(demo_owner(1))
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Reports").first.click()
    expect(page.locator("h1")).to_have_text("Reports")

    # Sales by day over the two days: the chart's bars and the total.
    page.get_by_label("From", exact=True).fill("2026-12-01")
    page.get_by_label("To", exact=True).fill("2026-12-02")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#report-title")).to_have_text("Sales by day")
    expect(page.locator("svg rect.bar")).to_have_count(2)
    total = page.locator("tr.total")
    expect(total).to_contain_text("CN¥39.30")  # net sales
    expect(total).to_contain_text("CN¥9.66")  # gross margin
    expect(page.locator("dl.stats")).to_contain_text("39.8%")

    # The tabs keep the days; products show bread's unknown cost as unknown.
    page.get_by_role("link", name="Sales by product").click()
    rows = page.locator("table.report-table tbody tr")
    expect(rows).to_have_count(3)
    bread = rows.filter(has_text="Bread")
    expect(bread).to_contain_text("—")
    expect(bread).to_contain_text("CN¥15.00")

    # One counter of the mall, then the mall's statement per counter.
    page.get_by_label("Counter", exact=True).select_option(label="Shop 1 · 1 Tea stall 茶铺")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("tr.total")).to_contain_text("CN¥7.30")
    page.get_by_label("Counter", exact=True).select_option(label="All counters")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name="Counters' statement").click()
    statement = page.locator("table.report-table")
    expect(statement.locator("tbody tr")).to_have_count(3)
    expect(statement.locator("tr.total")).to_contain_text("CN¥31.81")  # card and wallet less fees
    page.locator("#report-title").scroll_into_view_if_needed()
    screenshot(page, shots, "portal-reports-counters-en")
    with page.expect_download() as got:
        page.get_by_role("link", name="Download CSV").click()
    lines = list(csv.reader(io.StringIO(Path(got.value.path()).read_text("utf-8-sig"))))
    head = lines[0]
    assert [r[head.index("Counter name")] for r in lines[1:]] == [
        "Tea stall 茶铺", "Noodles 面馆", "No counter", "Total"]  # fmt: skip
    assert [r[head.index("Net (non-cash less fees)")] for r in lines[1:]] == [
        "0.00", "17.89", "13.92", "31.81"]  # fmt: skip

    # On a phone, in Chinese: the tabs wrap, the table scrolls inside itself.
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.goto(f"{server.base}/portal/reports?kind=products&{DAYS}&lang=zh_CN")
    expect(page.locator("h1")).to_have_text("报表")
    expect(page.locator("#report-title")).to_have_text("按商品销售")
    fits_the_phone(page)
    screenshot(page, shots, "portal-reports-products-zh")
    shoot(page, shots, "portal-reports-products-zh-page")
    assert watch.errors == [] and watch.elsewhere() == []
    context.close()
