"""The portal's home in Debian's Chromium against a real `tillpoint serve --demo`: the
demo owner signs in on a 360-pixel phone, a card sale at the virtual terminal lands on
the home within 2 seconds with its 收款到账 notice and the day's figures redrawn, the
sound can be turned on, and the page reads in Chinese and in English without ever
being wider than the phone."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_console_home import card_sale
from tests.e2e.test_serve import Served, served

from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.terminal.device import DeviceState

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

PHONE = {"width": 360, "height": 780}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        yield s


def test_a_sale_lands_on_the_owners_phone(browser: Browser, server: Served, shots: Path) -> None:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[arg-type]
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    page.goto(server.base + "/portal")
    assert "/portal/sign-in" in page.url
    page.get_by_label("邮箱或手机号").fill(demo_owner(1))
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="登录").click()
    expect(page.locator("#feed-state")).to_have_text("实时：每笔收款到账即显示在这里。")
    page.get_by_role("button", name="提示音：关").click()
    expect(page.get_by_role("button", name="提示音：开")).to_have_attribute("aria-pressed", "true")

    sent = time.monotonic()
    card_sale(dataclasses.replace(DeviceState.demo(1), port=server.iso_port), 8_888)
    expect(page.locator("#received-notice")).to_have_text("收款到账：¥88.88", timeout=2_000)
    landed = time.monotonic() - sent
    assert landed < 2.0, landed
    expect(page.locator("#received-rows li").first).to_contain_text("¥88.88")
    expect(page.locator("#figures .stats")).to_contain_text("¥88.88")
    shoot(page, shots, "portal-home-zh-phone")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert widths == [360, 360, 360], widths

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Payments received")).to_be_visible()
    expect(page.locator("#figures .stats")).to_contain_text("CN¥88.88")
    expect(page.get_by_role("button", name="Sound on")).to_be_visible()  # kept in the browser
    page.set_viewport_size({"width": 1280, "height": 900})
    shoot(page, shots, "portal-home-en")
    assert watch.errors == [] and watch.elsewhere() == []
    context.close()
