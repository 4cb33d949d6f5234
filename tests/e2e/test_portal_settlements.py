"""The portal's settlements in a real browser on a 360-pixel phone, against a real
`tillpoint serve --demo`: a terminal sells, the day is closed and settled, then the
merchant's owner opens its settlements, the day's statement, and saves the PDF, whose
font is embedded.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_console_money import sell, service
from tests.e2e.test_serve import Served, served
from tests.pdfcheck import check_embedded

from tillpoint.app import open_app
from tillpoint.demo import DEMO_PASSWORD, demo_mid, demo_owner
from tillpoint.web.render import money

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        yield s


def test_an_owner_saves_a_settled_days_statement_on_a_phone(
    browser: Browser, server: Served, shots: Path, tmp_path: Path
) -> None:
    sell(server, tmp_path)  # 100.00 by card and 25.00 by Alipay at demo terminal 1
    tp = open_app(service(server))
    try:
        day = tp.days.cut_off("test")
        tp.settlement.run(day)
        (row,) = tp.settlement.show(day, demo_mid(1))
        merchant = tp.statements.statement(demo_mid(1), day).merchant
    finally:
        tp.close()
    iso = day.isoformat()

    context = browser.new_context(viewport=PHONE, locale="zh-CN", accept_downloads=True)  # type: ignore[arg-type]
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.goto(server.base + "/portal/settlements")
    page.get_by_label("邮箱或手机号").fill(demo_owner(1))
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/portal/settlements$"))
    assert page.locator("h1").inner_text() == "结算"
    assert money(row.payout_minor).replace("CN¥", "¥") in page.locator(".settle-next").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shoot(page, shots, "portal-settlements-zh-phone")

    page.get_by_role("link", name=iso).click()
    page.wait_for_url(server.base + f"/portal/settlements/{iso}")
    assert merchant in page.locator(".facts").first.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    with page.expect_download() as download:
        page.get_by_role("link", name="另存为 PDF").click()
    got = download.value
    assert got.suggested_filename == f"statement-{demo_mid(1)}-{iso}.pdf"
    saved = tmp_path / "statement.pdf"
    got.save_as(saved)
    check_embedded(saved.read_bytes(), merchant, "结算单 / Settlement statement", "100.00")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(server.base + f"/portal/settlements/{iso}?lang=en")
    assert page.locator("h1").inner_text() == f"Statement of {iso}"
    shoot(page, shots, "portal-settlements-statement-en-desktop")
    assert watch.errors == [] and watch.elsewhere() == []
    context.close()
