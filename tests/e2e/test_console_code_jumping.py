"""Code jumping found at reconciliation, in a real browser against a real `tillpoint
serve --demo`: a terminal sells; the card network's file clears the card sale in another
category; finance reconciles the day and sees the difference with both values; a risk
analyst sees the alert in the merchant's case, which holds its payouts, and resolves it
as a false positive, which releases them. On a desktop and on a 360-pixel phone.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_console_money import DESKTOP, PHONE, flash, sell, service
from tests.e2e.test_serve import Served, served

from tillpoint.access.models import AccountRole
from tillpoint.app import open_app
from tillpoint.demo import demo_mid

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)
FINANCE, ANALYST, PASSWORD = "finance@demo.test", "risk@demo.test", "jumping-e2e-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        yield s


def signed_in(browser: Browser, base: str, login: str, watch: Watch) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=DESKTOP, locale="en")  # type: ignore[arg-type]
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.goto(base + "/console?lang=en")
    page.get_by_label("Email or mobile number").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console"))
    return context, page


def test_a_sale_cleared_in_another_category_is_shown_to_finance_and_risk(
    browser: Browser, server: Served, shots: Path, tmp_path: Path
) -> None:
    tp = open_app(service(server))
    try:
        for login, role in ((FINANCE, AccountRole.FINANCE), (ANALYST, AccountRole.RISK)):
            tp.accounts.create(name=login, roles={role}, actor="test", email=login,
                               password=PASSWORD, locale="en")  # fmt: skip
        sell(server, tmp_path)
        day = tp.days.cut_off("test")
        clearing = tp.ctx.settings.network_directory() / f"clearing-{day}.csv"
        header, *lines = clearing.read_text().splitlines()
        card = next(x for x in lines if x.startswith("CUP,"))
        jumped = card.split(",")[1]
        assert card.endswith(f",{demo_mid(1)},5411,debit")
        lines = [x.replace(",5411,debit", ",5812,debit") for x in lines]  # a restaurant's
        clearing.write_text("\n".join([header, *lines]) + "\n")
    finally:
        tp.close()
    base, watch = server.base, Watch(server.base)

    context, page = signed_in(browser, base, FINANCE, watch)
    page.goto(base + f"/console/days/{day}?lang=en")
    page.get_by_role("button", name=f"Reconcile {day} with the networks' clearing files").click()
    assert flash(page) == (f"{day}: references matched: 1; not matched: 1. "
                           "Payouts held for the differences: 1 merchants.")  # fmt: skip
    row = page.locator("tr", has_text=jumped)
    assert row.locator(".status").inner_text() == "MCC mismatch"
    assert row.locator("code").all_inner_texts() == ["5411", "5812"]
    shoot(page, shots, "console-money-jumping-en-desktop")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shoot(page, shots, "console-money-jumping-en-phone")
    page.goto(base + f"/console/days/{day}?lang=zh_CN")
    assert page.locator("tr", has_text=jumped).locator(".status").inner_text() == "MCC 不符"
    context.close()

    context, page = signed_in(browser, base, ANALYST, watch)
    page.goto(base + "/console/risk?lang=en")
    page.get_by_role("link", name=re.compile(r"^#\d+$")).first.click()
    assert "code_jumping_clearing" in page.locator("dl.facts").inner_text()
    alert = page.locator("tr", has_text="code_jumping_clearing")
    assert f"{jumped} CN¥100.00: MCC registered 5411, network's 5812" in alert.inner_text()
    assert page.locator("a[href='/console/risk/rules/code_jumping_clearing']").count() == 0
    shoot(page, shots, "console-risk-case-jumping-en-desktop")
    page.locator("input[name=resolution][value=false_positive]").check()
    page.get_by_role("button", name="Resolve the case").click()
    assert "What it did is undone" in flash(page)
    context.close()
    tp = open_app(service(server))
    try:
        assert tp.settlement.current_hold(demo_mid(1)) is None
    finally:
        tp.close()
    assert watch.errors == [] and watch.elsewhere() == []
