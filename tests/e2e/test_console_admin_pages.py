"""The console's administration in a real browser against `tillpoint serve --demo`: the
admin makes a reviewer's account, the reviewer signs in with the password shown once,
must choose their own, then picks their language on /console/security; the pages fit
a desktop and a 360-pixel phone.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_console_pages import DESKTOP, PHONE, open_page
from tests.e2e.test_serve import served

from tillpoint.access import totp
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
REVIEWER = "rita@acquirer.cn"
HER_PASSWORD = "rita's own long password"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as server:
        yield server.base


def sign_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(base + "/console/sign-in?lang=en")
    page.get_by_label("Email or mobile number").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def fits(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def clean(watch: Watch) -> None:
    assert watch.errors == [] and watch.elsewhere() == []


def test_an_admin_makes_a_reviewer_who_signs_in_and_picks_a_language(
    browser: Browser, base: str, shots: Path
) -> None:
    admin, watch = open_page(browser, base, DESKTOP, "en")
    sign_in(admin, base, DEMO_ADMIN, DEMO_PASSWORD)
    admin.wait_for_url(base + "/console")
    admin.get_by_role("link", name="Users").first.click()
    admin.get_by_role("link", name="New account").click()
    admin.get_by_label("Name").fill("Rita Reviewer")
    admin.get_by_label("Email").fill(REVIEWER)
    admin.get_by_label("reviewer").check()
    shoot(admin, shots, "console-users-new-en")
    admin.get_by_role("button", name="Make the account").click()
    password = admin.locator("#made-password").inner_text()
    assert len(password) >= 10 and "shown once" in admin.locator("main").inner_text()
    shoot(admin, shots, "console-users-made-en")
    admin.goto(base + "/console/users")
    assert REVIEWER in admin.locator("table.list").inner_text()
    shoot(admin, shots, "console-users-en")
    for path, name in (("/console/api-keys", "keys"), ("/console/audit", "audit"),
                       ("/console/fee-plans", "fees")):  # fmt: skip
        admin.goto(base + path)
        fits(admin, DESKTOP["width"])
        shoot(admin, shots, f"console-{name}-en")
    admin.get_by_role("link", name="DEMO-PERSONAL").or_(
        admin.locator("table.list a").first).first.click()  # fmt: skip
    assert "%" in admin.locator("table.list").inner_text()
    shoot(admin, shots, "console-fee-plan-en")
    clean(watch)
    admin.context.close()

    # The reviewer, on a phone: the password shown once, then her own.
    her, watch = open_page(browser, base, PHONE, "en")
    sign_in(her, base, REVIEWER, password)
    her.wait_for_url(base + "/console/password")
    her.get_by_label("Current password").fill(password)
    her.get_by_label("New password (at least 10 characters)").fill(HER_PASSWORD)
    her.get_by_role("button", name="Change password").click()
    her.wait_for_url(base + "/console")
    her.goto(base + "/console/security")
    assert her.locator("html").get_attribute("lang") == "en"
    fits(her, PHONE["width"])
    shoot(her, shots, "console-security-en-phone")
    her.get_by_label("The console speaks to you in").select_option("zh_CN")
    her.get_by_role("button", name="Save").click()
    her.wait_for_load_state("networkidle")
    assert her.locator("html").get_attribute("lang") == "zh-CN"
    assert her.get_by_role("status").inner_text() == "您的语言已保存。"
    assert her.locator("h1").inner_text() == "安全与语言"
    fits(her, PHONE["width"])
    shoot(her, shots, "console-security-zh-phone")
    # She sets up a second factor: the QR code shows (an inline image the CSP allows).
    her.get_by_role("button", name="设置双重验证").click()
    qr = her.get_by_role("img", name="供身份验证器应用扫描的密钥二维码")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0")
    secret = her.locator(".totp-secret").inner_text().replace(" ", "")
    fits(her, PHONE["width"])
    shoot(her, shots, "console-security-totp-zh-phone")
    her.get_by_label("6 位验证码").fill(totp.code_at(secret, datetime.now(UTC)))
    her.get_by_role("button", name="确认").click()
    assert "双重验证已开启" in her.get_by_role("status").inner_text()
    clean(watch)
    # Her choice follows her to a new browser whose own language is English; signing
    # in now asks for a code (the next step's: the one just used is never taken again).
    her.context.close()
    again, watch2 = open_page(browser, base, DESKTOP, "en")
    sign_in(again, base, REVIEWER, HER_PASSWORD)
    again.get_by_label("6-digit code").fill(
        totp.code_at(secret, datetime.now(UTC) + timedelta(seconds=30))
    )
    shoot(again, shots, "console-sign-in-code-en")
    again.get_by_role("button", name="Sign in").click()
    again.wait_for_url(base + "/console")
    assert again.locator("html").get_attribute("lang") == "zh-CN"
    # The switch link still works (and becomes her choice).
    again.get_by_role("link", name="English").click()
    assert again.locator("html").get_attribute("lang") == "en"
    again.goto(base + "/console/fee-plans")
    assert again.locator("html").get_attribute("lang") == "en"
    assert urlsplit(again.url).path == "/console/fee-plans"
    shoot(again, shots, "console-fees-reviewer-en")
    again.goto(base + "/console/users")
    assert "Not allowed" in again.locator("main").inner_text()
    assert [e for e in watch2.errors if "status of 403" not in e] == []
    again.context.close()
