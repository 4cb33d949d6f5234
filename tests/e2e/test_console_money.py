"""Days and money in a real browser against a real `tillpoint serve --demo`: a terminal
sells, then finance cuts the day off, reconciles it, settles it, downloads the payout
file (the service's very bytes), holds a merchant's payouts and releases them; on a
desktop and on a 360-pixel phone.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_serve import Served, served

from tillpoint.access.models import AccountRole
from tillpoint.app import open_app
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid
from tillpoint.terminal.device import Device, DeviceState

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)
FINANCE, PASSWORD = "finance@demo.test", "finance-e2e-password"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        yield s


def service(server: Served) -> Settings:
    """The served database's settings, for reading it as the service does."""
    return Settings(_env_file=None, database_url=server.env["TILLPOINT_DATABASE_URL"],  # type: ignore[call-arg]
                    demo=True)  # fmt: skip


def sell(server: Served, tmp: Path) -> None:
    async def sales() -> None:
        state = DeviceState.demo(1)
        state.port = server.iso_port
        d = Device(state, tmp / "t.json")
        await d.sale(Money.parse("100.00"), "6212340000000000012", pin="123456")
        await d.sale(Money.parse("25.00"), "280000000000000001", entry="scan")  # Alipay
        await d.close()

    with ThreadPoolExecutor(1) as other:  # Playwright's loop runs on this thread
        other.submit(asyncio.run, sales()).result()


def flash(page: Page) -> str:
    return page.locator(".flash").inner_text()


def test_finance_ends_a_day_and_holds_a_merchant(
    browser: Browser, server: Served, shots: Path, tmp_path: Path
) -> None:
    tp = open_app(service(server))
    try:
        tp.accounts.create(name="财务 Finance", roles={AccountRole.FINANCE}, actor="test",
                           email=FINANCE, password=PASSWORD, locale="en")  # fmt: skip
    finally:
        tp.close()
    sell(server, tmp_path)
    base = server.base

    context = browser.new_context(viewport=DESKTOP, locale="en", accept_downloads=True)  # type: ignore[arg-type]
    watch = Watch(base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.goto(base + "/console/days?lang=en")
    page.get_by_label("Email or mobile number").fill(FINANCE)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/days"))
    assert page.locator("h1").inner_text() == "Business days"
    assert "Days and money" in page.locator("nav a").all_inner_texts()

    # Cut-off: the open day closes; the page goes to it.
    button = page.get_by_role(
        "button", name=re.compile(r"^Close business day \d{4}-\d\d-\d\d now$")
    )
    day = date.fromisoformat(button.inner_text().split()[3])
    button.click()
    page.wait_for_url(base + f"/console/days/{day.isoformat()}")
    assert "is closed; payments now belong to the next one." in flash(page)
    assert page.locator(".status-closed_day").inner_text() == "Closed, not reconciled"

    page.get_by_role("button", name=f"Reconcile {day} with the networks' clearing files").click()
    assert flash(page) == f"{day}: references matched: 2; not matched: 0."
    page.get_by_role("button", name=f"Settle {day}: pay every merchant its net").click()
    assert flash(page).startswith(f"Business day {day} is settled: 1 merchants, payouts CN¥")
    assert page.locator("h1 + p .status").inner_text() == "Settled"
    shoot(page, shots, "console-money-day-en-desktop")

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the payout file")).click()
    got = download.value
    assert got.suggested_filename == f"payouts-{day}.csv"
    saved = tmp_path / "payouts.csv"
    got.save_as(saved)
    tp = open_app(service(server))
    try:
        expected = tp.settlement.payout_file(day).encode("utf-8")
    finally:
        tp.close()
    assert saved.read_bytes() == expected and demo_mid(1).encode() in expected

    with page.expect_download() as statement:
        page.get_by_role("link", name=f"Statement of {demo_mid(1)} (PDF)").click()
    assert statement.value.suggested_filename == f"statement-{demo_mid(1)}-{day}.pdf"

    page.goto(base + "/console/days")
    assert page.locator("tbody tr").count() >= 2  # the new open day, then the settled one
    shoot(page, shots, "console-money-days-en-desktop")

    # Hold, then release.
    page.goto(base + "/console/holds")
    page.get_by_label("MID of the merchant to hold").fill(demo_mid(1))
    page.get_by_label("Reason (kept with the hold)").fill("chargeback under review")
    page.get_by_role("button", name="Hold this merchant's payouts from its next settlement").click()
    assert flash(page) == f"Payouts of {demo_mid(1)} are held."
    assert "chargeback under review" in page.locator("table.list").inner_text()
    shoot(page, shots, "console-money-holds-en-desktop")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shoot(page, shots, "console-money-holds-en-phone")
    page.get_by_role("button", name=f"Release {demo_mid(1)}: pay what was held").click()
    assert flash(page) == f"Payouts of {demo_mid(1)} are released: CN¥0.00 is paid out."
    assert "No merchant's payouts are held." in page.locator("table.list").inner_text()

    for path, name in ((f"/console/days/{day}", "day"), ("/console/days", "days")):
        page.goto(base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        shoot(page, shots, f"console-money-{name}-en-phone")
    page.goto(base + f"/console/days/{day}?lang=zh_CN")
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    shoot(page, shots, "console-money-day-zh-desktop")
    assert watch.errors == [] and watch.elsewhere() == []
    context.close()
