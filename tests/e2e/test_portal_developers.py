"""The portal's developers pages in a real browser against `tillpoint serve --demo`, on
a 360-pixel phone: the owner makes an API key, copies the secret shown once with the
page's button, sees it work, revokes it after the confirmation, and adds a webhook
endpoint, whose signing secret is shown once too. No page scrolls sideways, nothing
loads from elsewhere and the browser complains of nothing (CSP included).

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_console_pages import PHONE, open_page
from tests.e2e.test_serve import served

from tillpoint.demo import DEMO_PASSWORD, demo_owner

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as server:
        yield server.base


def payments_answer(base: str, secret: str) -> int:
    """The REST API's status for listing payments with ``secret``."""
    bearer = {"Authorization": f"Bearer {secret}"}
    return httpx.get(base + "/v1/payments", headers=bearer, timeout=5).status_code


def fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def test_an_owner_makes_copies_and_revokes_a_key_then_adds_a_webhook(
    browser: Browser, base: str, shots: Path
) -> None:
    page, watch = open_page(browser, base, PHONE, "en")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page.goto(base + "/portal/sign-in?lang=en")
    page.get_by_label("Email or mobile number").fill(demo_owner(1))
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/portal")
    page.get_by_role("link", name="Developers").click()
    page.wait_for_url(base + "/portal/developers")
    fits(page)

    page.get_by_role("link", name="New key").click()
    page.get_by_label("Name (what it is for)").fill("Web shop")
    page.get_by_label("Merchant staff").check()
    page.get_by_role("button", name="Make the key").click()
    page.wait_for_url(base + "/portal/developers/keys")
    shown = page.locator("#made-secret").inner_text()
    assert shown.startswith("tp_test_") and "shown once" in page.locator("main").inner_text()
    page.get_by_role("button", name="Copy the secret").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == shown
    fits(page)
    shoot(page, shots, "portal-developers-key-made-en")
    assert payments_answer(base, shown) == 200

    page.get_by_role("link", name="All API keys").click()
    page.wait_for_url(base + "/portal/developers")
    assert shown not in page.content()
    page.get_by_role("link", name=f"Revoke key {shown[:12]}").click()
    page.wait_for_url(re.compile(r".*/keys/\d+/revoke$"))
    assert "stops working at once" in page.locator("main").inner_text()
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url(base + "/portal/developers")
    assert "revoked: it works no more" in page.locator(".flash").inner_text()
    assert payments_answer(base, shown) == 401

    page.get_by_role("link", name="Add an endpoint").click()
    page.get_by_label("URL").fill("http://127.0.0.1:9/tillpoint/webhooks")  # demo: loopback
    page.get_by_label("Description (optional)").fill("Till sync")
    page.get_by_role("button", name="Add the endpoint").click()
    page.wait_for_url(base + "/portal/developers/webhooks")
    secret = page.locator("#made-secret").inner_text()
    assert secret.startswith("whsec_")
    fits(page)
    page.get_by_role("link", name="The endpoint and its deliveries").click()
    page.wait_for_url(re.compile(r".*/portal/developers/webhooks/\d+$"))
    page.wait_for_load_state("load")
    main = page.locator("main").inner_text()
    assert "http://127.0.0.1:9/tillpoint/webhooks" in main and secret not in main
    fits(page)
    shoot(page, shots, "portal-developers-endpoint-en")
    assert watch.errors == [] and watch.elsewhere() == []
    page.context.close()
