"""The portal's shops area in a real browser against `tillpoint serve --demo`, on a
360-pixel phone: the owner sees its shops and terminals, adds a cashier for shop 1 (the
password shown once), and the cashier signs in at /portal/sign-in, must choose a password
first, then sees only the portal areas a cashier may open.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_console_pages import DESKTOP, PHONE, open_page
from tests.e2e.test_serve import served

from tillpoint.demo import DEMO_PASSWORD, demo_owner, demo_tid

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
CASHIER = "xiaoli@demo-mart.test"
HER_PASSWORD = "xiao li's own password"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as server:
        yield server.base


def sign_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(base + "/portal/sign-in?lang=en")
    page.get_by_label("Email or mobile number").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def fits(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def test_an_owner_adds_a_cashier_who_signs_in_on_a_phone(
    browser: Browser, base: str, shots: Path
) -> None:
    owner, watch = open_page(browser, base, PHONE, "en")
    sign_in(owner, base, demo_owner(1), DEMO_PASSWORD)
    owner.wait_for_url(base + "/portal")
    owner.get_by_role("link", name="Shops and terminals").first.click()
    owner.wait_for_url(base + "/portal/shops")
    assert owner.get_by_role("link", name=demo_tid(1)).count() == 1
    fits(owner)
    owner.goto(base + "/portal/shops?lang=zh-CN")
    assert owner.locator("h1").inner_text() == "门店与终端"
    fits(owner)
    shoot(owner, shots, "portal-shops-zh")
    # The terminal's page, on a desktop, in English.
    owner.set_viewport_size(DESKTOP)
    owner.goto(f"{base}/portal/terminals/{demo_tid(1)}?lang=en")
    assert owner.locator("h1").inner_text() == f"Terminal {demo_tid(1)}"
    fits(owner)
    shoot(owner, shots, "portal-terminal-en")
    owner.set_viewport_size(PHONE)

    # The owner adds a cashier for shop 1: the password is shown once.
    owner.get_by_role("link", name="Shops and terminals").first.click()
    owner.get_by_role("link", name="People").click()
    owner.get_by_label("Name").fill("小李 Xiao Li")
    owner.get_by_label("Email or mobile number").fill(CASHIER)
    owner.get_by_role("radio", name="Cashier").check()
    owner.get_by_label("Shop (a cashier's)").select_option("1")
    fits(owner)
    owner.get_by_role("button", name="Add", exact=True).click()
    password = owner.locator("#made-password").inner_text()
    assert len(password) >= 10 and "shown once" in owner.locator("main").inner_text()
    fits(owner)
    shoot(owner, shots, "portal-people-made-en")
    owner.get_by_role("link", name="All people").click()
    assert CASHIER in owner.locator("table.list").inner_text()
    assert password not in owner.content()
    owner.get_by_role("button", name="Sign out").click()
    owner.wait_for_url(base + "/portal/sign-in")

    # The cashier signs in, must choose a password, then sees only its areas.
    sign_in(owner, base, CASHIER, password)
    owner.wait_for_url(base + "/portal/password")
    owner.get_by_label("Current password").fill(password)
    owner.get_by_label("New password (at least 10 characters)").fill(HER_PASSWORD)
    owner.get_by_role("button", name="Change password").click()
    owner.wait_for_url(base + "/portal")
    menu = owner.get_by_role("navigation", name="Main menu").get_by_role("link")
    assert menu.all_inner_texts() == ["Home", "Payments", "Reports", "Cashier", "Password"]
    fits(owner)
    # Her payments are her shop's of today, whatever the address asks for.
    owner.goto(base + "/portal/payments?from=2020-01-01&to=2020-01-31&shop=2")
    assert "Your shop's payments of today" in owner.locator("main").inner_text()
    assert "2020-01-01" not in owner.locator("main").inner_text()
    fits(owner)
    owner.goto(base + "/portal/shops")
    assert "Not allowed" in owner.locator("main").inner_text()
    assert [e for e in watch.errors if "status of 403" not in e] == []
    assert watch.elsewhere() == []
    owner.context.close()
