"""The console's home in a real browser against a real `tillpoint serve --demo`: a sale
made at the virtual terminal (ISO 8583, through the terminal host) appears in the live
feed within two seconds, without reloading; the page fits a desktop and a 360-pixel
phone. Screenshots: TILLPOINT_TEST_SHOTS=/some/dir keeps copies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_serve import Served, served

from tillpoint.core.money import Money
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD
from tillpoint.terminal.device import Device, DeviceState

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
CARD = "6212340000000000012"  # a UnionPay debit card the simulated network approves

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as demo:
        yield demo


@pytest.fixture(scope="module")
def terminal(server: Served) -> DeviceState:
    """Demo terminal 1's state: its STAN and batch go on from sale to sale."""
    return dataclasses.replace(DeviceState.demo(1), port=server.iso_port)


def card_sale(terminal: DeviceState, amount_minor: int) -> str:
    """A card sale at demo terminal 1 over ISO 8583; its RRN. (In a thread of its own:
    Playwright's sync API owns this thread's event loop.)"""

    async def sale() -> str:
        device = Device(terminal)
        try:
            result = await device.sale(Money(amount_minor), CARD)
        finally:
            await device.close()
        assert result.approved and result.rrn, result
        return result.rrn

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, sale()).result(timeout=30)


def signed_in(browser: Browser, server: Served, viewport: dict[str, int]) -> tuple[Page, Watch]:
    context = browser.new_context(viewport=viewport, locale="en")  # type: ignore[arg-type]
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    page.goto(server.base + "/console?lang=en")
    page.get_by_label("Email or mobile number").fill(DEMO_ADMIN)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    return page, watch


def test_a_terminal_sale_appears_in_the_live_feed_within_two_seconds(
    browser: Browser, server: Served, terminal: DeviceState, shots: Path
) -> None:
    card_sale(terminal, 4_200)  # yesterday's and today's charts have something to show
    page, watch = signed_in(browser, server, DESKTOP)
    rows = page.locator("#feed-rows tr")
    expect(page.locator("#feed-state")).to_have_text("Live: new payments appear as they happen.")
    before = rows.count()
    assert before >= 1
    started = time.monotonic()
    card_sale(terminal, 12_345)
    expect(rows.first).to_contain_text("CN¥123.45", timeout=2_000)
    took = time.monotonic() - started
    assert took < 2.0, took
    assert rows.count() == before + 1
    assert "6212" not in page.locator("#feed-rows").inner_text()  # no card number at all
    shoot(page, shots, "console-home-en-desktop")
    assert watch.errors == [] and watch.elsewhere() == []
    page.context.close()


def test_the_home_fits_a_360_pixel_phone(browser: Browser, server: Served, shots: Path) -> None:
    page, watch = signed_in(browser, server, PHONE)
    expect(page.locator("#feed-state")).to_have_text("Live: new payments appear as they happen.")
    shoot(page, shots, "console-home-en-phone")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll("main *")]
                 .filter(el => el.getBoundingClientRect().right > innerWidth)
                 .map(el => el.tagName + "." + el.className).slice(0, 8)"""
    )
    assert widths == [360, 360, 360], (widths, wide)
    for chart in page.locator("figure.chart svg").all():
        box = chart.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert watch.errors == [] and watch.elsewhere() == []
    page.context.close()
