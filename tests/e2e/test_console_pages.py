"""The console's pages in a real browser, against a real `tillpoint serve --demo`: the
sign-in page in Chinese and English, its headers, its form, and how it fits a phone and
a desktop.

Chromium is Debian's (/usr/bin/chromium, driven by Playwright), never one Playwright
downloads. Screenshots go to a temporary folder; set TILLPOINT_TEST_SHOTS=/some/dir to
keep copies there and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_serve import served

from tillpoint.core.i18n import catalogue
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD
from tillpoint.web.page import AREAS
from tillpoint.web.security import CONTENT_SECURITY_POLICY

PHONE = {"width": 360, "height": 740}  # the narrowest phone the pages are made for
DESKTOP = {"width": 1280, "height": 800}
LANGUAGES = {
    "zh-CN": {"title": "登录", "login": "邮箱或手机号", "password": "密码", "switch": "English"},
    "en": {"title": "Sign in", "login": "Email or mobile number", "password": "Password",
           "switch": "中文"},
}  # fmt: skip

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`tillpoint serve --demo` on free ports; its HTTP address."""
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as server:
        yield server.base


def open_page(browser: Browser, base: str, viewport: dict[str, int], locale: str) -> tuple[Page, Watch]:  # fmt: skip
    context = browser.new_context(viewport=viewport, locale=locale)  # type: ignore[arg-type]
    watch = Watch(base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    return page, watch


def check_sign_in_page(page: Page, lang: str) -> None:
    """The page is in ``lang``, styled by its own stylesheet, and every field labelled."""
    words = LANGUAGES[lang]
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("h1").inner_text() == words["title"]
    assert page.title() == f"{words['title']} · Tillpoint"
    login = page.get_by_label(words["login"])
    password = page.get_by_label(words["password"])
    assert login.get_attribute("name") == "login" and login.get_attribute("required") == ""
    assert password.get_attribute("type") == "password"
    assert page.get_by_role("button", name=words["title"]).count() == 1
    form = page.locator("form")
    assert (form.get_attribute("method"), form.get_attribute("action")) == ("post", "/console/sign-in")  # fmt: skip
    assert page.locator('input[type="hidden"][name="csrf_token"]').count() == 1
    # Every visible field has a label that names it.
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
                 .filter(el => !el.labels || el.labels.length === 0 || !el.labels[0].innerText.trim())
                 .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    # The stylesheet was allowed to load and applies: the header is the brand colour.
    header = page.locator("header.top").evaluate("el => getComputedStyle(el).backgroundColor")
    assert header == "rgb(18, 38, 63)"


def test_the_sign_in_page_in_chinese_then_english_by_the_link(
    browser: Browser, base: str, shots: Path
) -> None:
    page, watch = open_page(browser, base, DESKTOP, "zh-CN")
    response = page.goto(base + "/console")  # redirects to the sign-in page
    assert response is not None and response.status == 200
    assert urlsplit(page.url).path == "/console/sign-in"
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    page.wait_for_load_state("networkidle")
    check_sign_in_page(page, "zh-CN")
    shoot(page, shots, "sign-in-zh-desktop")

    with page.expect_navigation():
        page.get_by_role("link", name="English").click()
    assert urlsplit(page.url).path == "/console/sign-in"  # the same page
    check_sign_in_page(page, "en")
    shoot(page, shots, "sign-in-en-desktop")

    page.goto(base + "/console/sign-in")  # the choice is remembered
    check_sign_in_page(page, "en")
    with page.expect_navigation():
        page.get_by_role("link", name="中文").click()
    check_sign_in_page(page, "zh-CN")

    assert watch.errors == [] and watch.elsewhere() == []
    paths = {urlsplit(u).path for u in watch.requests}
    own = {"/console", "/console/sign-in", "/console/static/console.css", "/console/static/nav.js"}
    assert own <= paths <= own | {"/console/static/favicon.svg"}  # not /favicon.ico: a 404
    page.context.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_sign_in_page_fits_a_360_pixel_phone(
    browser: Browser, base: str, shots: Path, lang: str
) -> None:
    page, watch = open_page(browser, base, PHONE, lang)
    page.goto(base + "/console/sign-in")
    page.wait_for_load_state("networkidle")
    check_sign_in_page(page, lang)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert widths == [360, 360, 360], widths
    # Fields and the button span the card, comfortably large for a finger.
    for role, name in (("textbox", LANGUAGES[lang]["login"]), ("button", LANGUAGES[lang]["title"])):
        box = page.get_by_role(role, name=name).bounding_box()  # type: ignore[arg-type]
        assert box is not None and box["height"] >= 44 and box["x"] >= 0
        assert box["x"] + box["width"] <= 360
    shoot(page, shots, f"sign-in-{lang}-phone")
    assert watch.errors == [] and watch.elsewhere() == []
    page.context.close()


def test_keyboard_focus_is_visible(browser: Browser, base: str) -> None:
    page, _watch = open_page(browser, base, DESKTOP, "en")
    page.goto(base + "/console/sign-in")
    page.keyboard.press("Tab")  # the skip link comes first, and shows when focused
    skip = page.locator(".skip")
    assert skip.evaluate("el => el === document.activeElement")
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0
    page.get_by_label("Email or mobile number").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.id, s.outlineStyle, s.outlineWidth]; }"
    )
    assert focused == ["password", "solid", "3px"]
    page.context.close()


def test_static_files_are_cached_long_and_pages_not(base: str) -> None:
    page = httpx.get(base + "/console/sign-in", timeout=10)
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    href = page.text.split('rel="stylesheet" href="')[1].split('"')[0]
    css = httpx.get(base + href, timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "/console" not in httpx.get(base + "/openapi.json", timeout=10).text


def menu(locale: str) -> list[str]:
    """Every area's label in ``locale``, in the menu's order."""
    zh = catalogue("zh_CN")
    return [zh.get(a.label, a.label) if locale == "zh_CN" else a.label for a in AREAS]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_demo_admin_signs_in_switches_language_and_signs_out(
    browser: Browser, base: str, shots: Path, viewport: dict[str, int]
) -> None:
    page, watch = open_page(browser, base, viewport, "zh-CN")
    page.goto(base + "/console")
    page.get_by_label("邮箱或手机号").fill(DEMO_ADMIN)
    page.get_by_label("密码").fill("not the password")
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "账号或密码错误"
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/console")
    assert page.locator("h1").inner_text() == "欢迎，演示管理员 Demo Admin"
    assert page.locator(".roles li").all_inner_texts() == ["管理员"]
    assert page.locator("nav a").all_inner_texts() == menu("zh_CN")  # an admin: every area
    shoot(page, shots, f"console-home-zh-{viewport['width']}")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Welcome, 演示管理员 Demo Admin"
    assert page.locator("nav a").all_inner_texts() == menu("en")
    page.wait_for_load_state("load")  # its style sheet applied: widths are the page's own
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shoot(page, shots, f"console-home-en-{viewport['width']}")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(base + "/console/sign-in")
    page.goto(base + "/console")
    assert urlsplit(page.url).path == "/console/sign-in"  # signed out for good
    # The browser notes the wrong password's 401 (the page says it); nothing else.
    assert [e for e in watch.errors if "status of 401" not in e] == []
    assert watch.elsewhere() == []
