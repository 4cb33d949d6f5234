"""The merchants and fleet pages in a real browser against `tillpoint serve --demo`: a
fleet person adds a terminal, mistypes the supervisor's password and is told, binds the
terminal to a merchant and ships it; a reviewer finds the merchant, suspends and reinstates it.
Both people are made with `tillpoint users create` and change their first password.
Screenshots at a desktop's width and a 360-pixel phone's."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_serve import Served, served

from tillpoint.demo import demo_mid

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
NEW_PASSWORD = "a console password"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=2) as s:
        yield s


def make_person(server: Served, role: str, email: str) -> str:
    """An account made on the command line; its first password (printed once)."""
    done = subprocess.run(
        [sys.executable, "-m", "tillpoint", "users", "create", "--name", role.title(),
         "--email", email, "--role", role, "--locale", "en", "--json"],
        env={**server.env, "TILLPOINT_DEMO": "1"}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    password: str = json.loads(done.stdout)["password"]
    return password


def signed_in(browser: Browser, server: Served, email: str, password: str) -> tuple[Page, Watch]:
    context = browser.new_context(viewport=DESKTOP, locale="en")  # type: ignore[arg-type]
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.goto(server.base + "/console?lang=en")
    page.get_by_label("Email or mobile number").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(server.base + "/console/password")  # a made password changes first
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password (at least 10 characters)").fill(NEW_PASSWORD)
    page.get_by_role("button").last.click()
    page.wait_for_url(server.base + "/console")
    return page, watch


def flash(page: Page) -> str:
    return page.locator(".flash").inner_text()


def fits(page: Page, shots: Path, name: str) -> None:
    """A desktop shot, then the same page at 360 pixels: nothing wider than the phone
    (wide tables scroll inside themselves)."""
    shoot(page, shots, f"{name}-desktop")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    shoot(page, shots, f"{name}-phone")
    wide = page.evaluate(
        """() => [...document.querySelectorAll("main *")]
                 .filter(el => el.getBoundingClientRect().right > innerWidth
                               && !el.closest(".table-wrap"))
                 .map(el => el.tagName + "." + el.className + "#" + el.id)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], wide
    page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]


def test_fleet_binds_and_ships_a_terminal(browser: Browser, server: Served, shots: Path) -> None:
    password = make_person(server, "fleet", "fleet@acquirer.test")
    page, watch = signed_in(browser, server, "fleet@acquirer.test", password)
    page.get_by_role("link", name="Fleet").click()
    assert page.locator("h1").inner_text() == "Terminals"
    page.get_by_label("Serial number", exact=True).fill("SN-E2E-0001")
    page.get_by_label("Model", exact=True).fill("P300")
    page.get_by_role("button", name="Add").click()
    assert "added to stock" in flash(page) and "tillpoint terminals rekey" in flash(page)
    tid = page.url.rsplit("/", 1)[1]
    kcv = page.locator(".facts dt:text('TMK check value') + dd").inner_text()
    assert kcv in flash(page)

    # A wrong supervisor password: said so, nothing bound.
    page.get_by_label("Merchant (MID)").fill(demo_mid(2))
    page.get_by_label("Supervisor (00) password, 6 digits").fill("12345a")
    page.locator("#bind-password").evaluate("el => el.removeAttribute('pattern')")
    page.get_by_role("button", name="Bind").click()
    assert "exactly 6 digits" in flash(page)
    assert page.locator("h1 + p .status").inner_text() == "In stock"

    page.get_by_label("Merchant (MID)").fill(demo_mid(2))
    page.get_by_label("Supervisor (00) password, 6 digits").fill("246810")
    page.get_by_role("button", name="Bind").click()
    assert f"bound to merchant {demo_mid(2)}, shop 1" in flash(page)
    assert "246810" not in page.content()
    page.get_by_label("Carrier, tracking number (optional)").fill("SF 1234567890")
    page.get_by_role("button", name="Ship").click()
    assert "is now shipped" in flash(page)
    assert "SF 1234567890" in page.locator("table.list").last.inner_text()  # the history
    fits(page, shots, "console-fleet-terminal-en")

    page.goto(f"{server.base}/console/terminals?state=shipped")
    assert page.get_by_role("link", name=tid).count() == 1
    fits(page, shots, "console-fleet-list-en")
    assert watch.errors == [] and watch.elsewhere() == []
    page.context.close()


def test_a_reviewer_suspends_and_reinstates(browser: Browser, server: Served, shots: Path) -> None:
    password = make_person(server, "reviewer", "reviewer@acquirer.test")
    page, watch = signed_in(browser, server, "reviewer@acquirer.test", password)
    page.get_by_role("link", name="Merchants").click()
    page.get_by_label("MID, name or phone").fill(demo_mid(1))
    page.get_by_role("button", name="Search").click()
    fits(page, shots, "console-merchants-list-en")
    page.get_by_role("link", name=demo_mid(1)).click()
    page.get_by_label("Reason to suspend").fill("chargebacks above 1%")
    page.get_by_role("button", name="Suspend").click()
    assert flash(page) == f"Merchant {demo_mid(1)} suspended."
    assert page.locator("h1 + p .status").inner_text() == "Suspended"
    page.get_by_label("Reason to reinstate").fill("explained by the merchant")
    page.get_by_role("button", name="Reinstate").click()
    assert flash(page) == f"Merchant {demo_mid(1)} reinstated."
    history = page.locator("#history-title + .table-wrap").inner_text()
    assert "chargebacks above 1%" in history and "explained by the merchant" in history
    fits(page, shots, "console-merchant-en")
    page.goto(f"{server.base}/console/merchants/{demo_mid(1)}?lang=zh-CN")
    assert page.locator("#history-title").inner_text() == "历史记录"
    fits(page, shots, "console-merchant-zh")
    assert watch.errors == [] and watch.elsewhere() == []
    page.context.close()
