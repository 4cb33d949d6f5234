"""The portal's payments in a real browser at a 360-pixel phone's width, against
`tillpoint serve --demo` with sales made at the virtual terminal (ISO 8583): the owner
filters the list, opens a payment, refunds part of it and sees the refund in its
timeline; downloads the CSV and XLSX exports and checks each row against the payments
in the database. Screenshots (TILLPOINT_TEST_SHOTS=/some/dir keeps copies): the list in
Chinese on the phone, a payment in English on a desktop."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import os
import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browsing import CHROMIUM, Watch
from tests.e2e.test_serve import Served, served

from tillpoint.core.money import Money
from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.terminal.device import Device, DeviceState

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 1000}
CARD = "6212340000000000012"  # a UnionPay debit card the simulated network approves

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as demo:
        yield demo


def card_sales(server: Served, amounts_minor: list[int]) -> None:
    """Sales at demo terminal 1 over ISO 8583 (in a thread of their own: Playwright's
    sync API owns this thread's event loop)."""

    async def sales() -> None:
        device = Device(dataclasses.replace(DeviceState.demo(1), port=server.iso_port))
        try:
            for amount in amounts_minor:
                result = await device.sale(Money(amount), CARD)
                assert result.approved, result
        finally:
            await device.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, sales()).result(timeout=60)


def payments(server: Served) -> dict[int, tuple[int, str, str, int]]:
    """Every payment in the served database: id -> (amount, RRN, state, refunded)."""
    path = server.env["TILLPOINT_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id, amount_minor, rrn, status, refunded_minor FROM payments")
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def screenshot(page: Page, shots: Path, name: str) -> None:
    """The viewport (not the whole page), kept when TILLPOINT_TEST_SHOTS names a folder."""
    path = shots / f"{name}.png"
    page.screenshot(path=path)
    if keep := os.environ.get("TILLPOINT_TEST_SHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def fits_the_phone(page: Page) -> None:
    wide = page.evaluate(
        """() => [...document.querySelectorAll("main *")]
                 .filter(el => el.getBoundingClientRect().right > innerWidth
                               && !el.closest(".table-wrap"))
                 .map(el => el.tagName + "." + el.className).slice(0, 8)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide


def test_the_owner_filters_refunds_and_exports_on_a_phone(
    browser: Browser, server: Served, shots: Path
) -> None:
    card_sales(server, [1_250, 8_888, 30_000])
    context = browser.new_context(viewport=PHONE, locale="en", accept_downloads=True)  # type: ignore[arg-type]
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    page.goto(server.base + "/portal/payments?lang=en")  # to the sign-in, and back after
    page.get_by_label("Email or mobile number").fill(demo_owner(1))
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    rows = page.locator("tr[data-payment]")
    expect(rows).to_have_count(3)
    fits_the_phone(page)

    # On the phone the filters are folded away until asked for.
    expect(page.get_by_label("Amount from (yuan)")).to_be_hidden()
    page.locator("details.pay-filters summary").click()
    page.get_by_label("Amount from (yuan)").fill("50")
    page.get_by_label("Amount to (yuan)").fill("100.00")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("CN¥88.88")
    assert CARD not in page.content() and "621234*********0012" in page.content()

    rows.first.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("CN¥88.88")
    expect(page.get_by_label("Amount to refund, up to CN¥88.88")).to_have_value("88.88")
    fits_the_phone(page)
    page.get_by_label("Amount to refund, up to CN¥88.88").fill("8.88")
    page.get_by_role("button", name="Refund").click()
    expect(page.locator(".flash.ok")).to_contain_text("CN¥8.88 refunded")
    timeline = page.locator("ol.timeline")
    expect(timeline.locator("a")).to_contain_text("−CN¥8.88")
    expect(timeline).to_contain_text("Partly refunded")
    expect(page.get_by_label("Amount to refund, up to CN¥80.00")).to_have_value("80.00")

    # The exports of everything, read back and checked row by row.
    page.goto(server.base + "/portal/payments?lang=en")
    with page.expect_download() as got:
        page.get_by_role("link", name="Download CSV").click()
    data = Path(got.value.path()).read_bytes()
    with page.expect_download() as got:
        page.get_by_role("link", name="Download XLSX").click()
    book = openpyxl.load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))
    known = payments(server)
    assert len(known) == 4  # three sales and the refund
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = list(book.worksheets[0].iter_rows(values_only=True))
    assert lines[0][0] == "Payment ID" and sheet[0][0] == "Payment ID"
    assert (
        [int(r[0]) for r in lines[1:]] == [r[0] for r in sheet[1:]] == sorted(known, reverse=True)
    )
    for line, cells in zip(lines[1:], sheet[1:], strict=True):
        amount, rrn, _state, refunded = known[int(line[0])]
        assert Decimal(line[5]) == Money(amount).to_decimal() == Decimal(str(cells[5]))
        assert Decimal(line[7]) == Money(refunded).to_decimal()
        assert line[14] == rrn == cells[14] and line[10] == "621234*********0012" == cells[10]
    assert data.decode("utf-8-sig").count("\r\n") == 5

    # The pictures for docs/portal.md.
    page.goto(server.base + "/portal/payments?lang=zh_CN")
    expect(page.locator("h1")).to_have_text("交易")
    fits_the_phone(page)
    screenshot(page, shots, "portal-payments-zh")
    refunded = next(p for p, v in known.items() if v[3])
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    page.goto(f"{server.base}/portal/payments/{refunded}?lang=en")
    screenshot(page, shots, "portal-payments-en")
    assert watch.errors == [] and watch.elsewhere() == []
    context.close()
