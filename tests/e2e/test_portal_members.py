"""The portal's members in a real browser against `tillpoint serve --demo`: the owner
sets the loyalty programme, adds a kind of coupon, signs a member up with their consent,
finds them by mobile number, gives them points and a coupon, withdraws a consent, then
looks at the segments; in English and in Chinese.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_console_pages import DESKTOP, open_page
from tests.e2e.test_portal_shops import sign_in
from tests.e2e.test_serve import served

from tillpoint.demo import DEMO_PASSWORD, demo_owner

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as server:
        yield server.base


def test_the_owner_runs_the_programme_and_looks_after_a_member(
    browser: Browser, base: str, shots: Path
) -> None:
    page, watch = open_page(browser, base, DESKTOP, "en")
    sign_in(page, base, demo_owner(1), DEMO_PASSWORD)
    page.wait_for_url(base + "/portal")
    page.get_by_role("link", name="Members").first.click()
    page.wait_for_url(base + "/portal/members")

    page.get_by_role("link", name="Coupons").click()
    page.get_by_label("Name", exact=True).fill("满50减10 10 off 50")
    page.get_by_label("Amount (yuan) or percentage off").fill("10")
    page.get_by_label("Minimum spend (yuan)").fill("50")
    page.get_by_role("button", name="Add the kind of coupon").click()
    page.wait_for_load_state()
    assert "Coupon kind 满50减10 10 off 50 added." in page.locator("body").inner_text()

    page.get_by_role("link", name="Loyalty programme").click()
    page.get_by_label("Points per yuan paid").fill("1")
    page.get_by_label("Name 1").fill("金卡 Gold")
    page.get_by_label("From a spend of (yuan) 1").fill("1000")
    page.get_by_label("Percentage off 1").fill("5")
    page.get_by_label("On signing up").select_option(label="满50减10 10 off 50")
    page.get_by_role("button", name="Save the programme").click()
    page.wait_for_load_state()
    assert "The loyalty programme is saved." in page.locator("body").inner_text()
    shoot(page, shots, "portal-loyalty-en")

    page.get_by_role("link", name="Members", exact=True).last.click()
    page.get_by_label("Mobile number", exact=True).fill("138 1234 5678")
    page.get_by_label("Name (optional)").fill("张三 Zhang San")
    page.get_by_label("Tags (separated by commas)").fill("vip, 常客")
    page.get_by_label("The member has read the privacy notice and agrees to it (required)").check()
    page.get_by_label("The member agrees to receive offers (optional)").check()
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_load_state()
    body = page.locator("body").inner_text()
    assert "Member 138****5678 signed up." in body and "13812345678" not in body
    assert "满50减10 10 off 50" in body  # the sign-up coupon
    member_url = page.url

    page.get_by_label("Points to give (or take, with a minus)").fill("500")
    page.get_by_label("Why").fill("开业礼 Opening gift")
    page.get_by_role("button", name="Adjust").click()
    page.wait_for_load_state()
    assert "the balance is 500" in page.locator("body").inner_text()
    shoot(page, shots, "portal-member-en")

    page.goto(base + "/portal/members")
    page.get_by_label("Mobile number (all 11 digits) or the start of a name").fill("13812345678")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert "/portal/members?" not in page.url  # the number is never in an address
    rows = page.locator("table.members-list tbody tr").all_inner_texts()
    assert len(rows) == 1 and "138****5678" in rows[0] and "500" in rows[0]
    shoot(page, shots, "portal-members-en")

    page.goto(base + "/portal/members/segments")
    assert page.locator("figure.chart svg").count() == 2
    assert "Prospects" in page.locator("table.segments-list").inner_text()
    shoot(page, shots, "portal-segments-en")

    page.goto(member_url + "?lang=zh-CN")
    assert "积分明细" in page.locator("body").inner_text()
    page.locator("#consents").get_by_role("button", name="撤回").last.click()
    page.wait_for_load_state()
    assert "已撤回同意。" in page.locator("body").inner_text()
    shoot(page, shots, "portal-member-zh")
    page.goto(base + "/portal/members/segments?lang=zh-CN")
    assert page.locator("h1").inner_text() == "会员分群"
    shoot(page, shots, "portal-segments-zh")
    page.goto(base + "/portal/loyalty?lang=zh-CN")
    shoot(page, shots, "portal-loyalty-zh")
    page.goto(base + "/portal/members?lang=en")
    assert watch.errors == [], watch.errors
    assert watch.elsewhere() == []
