"""The browser pages' rendering: filters, the reader's language, the layout, headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.core.i18n import set_locale
from tillpoint.payments.acquirer import simulated
from tillpoint.web.render import (
    NavItem,
    environment,
    from_accept_language,
    money,
    number,
    render,
    shanghai_time,
)
from tillpoint.web.security import CONTENT_SECURITY_POLICY


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_locale("en")
    yield
    set_locale("en")


@pytest.fixture
def client(tp: Tillpoint) -> Iterator[TestClient]:
    """The HTTP side as `serve` builds it (security headers included), and one page more
    with a menu."""
    acquirer = simulated(tp)
    api = create_api(tp, acquirer)

    @api.get("/console/demo", response_class=HTMLResponse)
    def demo(request: Request) -> HTMLResponse:
        nav = [NavItem("Home", "/console"), NavItem("<Fleet>", "/console/fleet", active=True)]
        return render(request, "console/sign_in.html", nav=nav, login="<b>", error="Wrong",
                      next="/console")  # fmt: skip

    with TestClient(api) as client:
        yield client
    acquirer.close()


def test_money_in_both_languages_from_minor_units() -> None:
    assert money(123456) == "CN¥1,234.56"
    assert money(-5) == "-CN¥0.05"
    assert money(100, "JPY") == "¥100"
    set_locale("zh_CN")
    assert money(123456789) == "¥1,234,567.89"
    with pytest.raises(TypeError):
        money(12.34)  # type: ignore[arg-type]


def test_numbers_and_times() -> None:
    assert number(1234567) == "1,234,567" and number(Decimal("1234.5")) == "1,234.5"
    with pytest.raises(TypeError):
        number(1.5)  # type: ignore[arg-type]
    at = datetime(2026, 12, 4, 13, 30, tzinfo=UTC)
    assert shanghai_time(at) == "2026-12-04 21:30"
    assert shanghai_time(at.astimezone(timezone(timedelta(hours=-5)))) == "2026-12-04 21:30"
    with pytest.raises(ValueError, match="aware"):
        shanghai_time(datetime(2026, 12, 4, 13, 30))  # noqa: DTZ001


def test_templates_escape_what_they_are_given() -> None:
    html = environment().from_string("{{ x }} {{ 150|money }}").render(x="<i>")
    assert html == "&lt;i&gt; CN¥1.50"


def test_accept_language_by_weight() -> None:
    assert from_accept_language("zh-CN,zh;q=0.9,en;q=0.8") == "zh_CN"
    assert from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert from_accept_language("fr;q=1, en;q=0.3, zh;q=0.5") == "zh_CN"
    assert from_accept_language("fr, de") is None
    assert from_accept_language("en;q=bad, zh;q=0") is None
    assert from_accept_language("") is None


def test_language_from_query_then_cookie_then_header_then_chinese(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    assert page.headers["content-language"] == "zh-CN"
    assert "tp_lang" not in page.headers["set-cookie"]  # only the sign-in form's token

    page = client.get("/console/sign-in", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in page.text and "Sign in" in page.text

    chosen = client.get("/console/sign-in?lang=en")  # remembered in the cookie
    assert "tp_lang=en" in chosen.headers["set-cookie"]
    assert "HttpOnly" in chosen.headers["set-cookie"]
    page = client.get("/console/sign-in", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in page.text  # the cookie beats the browser

    page = client.get("/console/sign-in?lang=zh", headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN">' in page.text and "tp_lang=zh_CN" in page.headers["set-cookie"]
    client.cookies.set("tp_lang", "en")
    page = client.get("/console/sign-in?lang=klingon")
    assert '<html lang="en">' in page.text


def test_the_switch_link_keeps_the_path_and_the_query(client: TestClient) -> None:
    page = client.get("/console/demo?q=a%26b&lang=en")
    assert 'href="/console/demo?q=a%26b&amp;lang=zh_CN" lang="zh-CN"' in page.text
    assert ">中文</a>" in page.text


def test_the_menu_marks_the_current_page_and_escapes(client: TestClient) -> None:
    page = client.get("/console/demo?lang=en").text
    assert '<a href="/console">Home</a>' in page
    assert '<a href="/console/fleet" aria-current="page">&lt;Fleet&gt;</a>' in page
    assert 'value="&lt;b&gt;"' in page and 'role="alert"' in page
    assert '<nav class="nav" aria-label="Main menu">' in page
    assert "<nav" not in client.get("/console/sign-in").text  # nobody signed in: no menu


def test_every_form_has_the_csrf_hook(client: TestClient) -> None:
    response = client.get("/console/sign-in")
    token = response.cookies["tp_signin"]  # before a session, the form's own token
    assert len(token) >= 40
    assert f'<input type="hidden" name="csrf_token" value="{token}">' in response.text
    assert 'action="/console/sign-in"' in response.text and 'method="post"' in response.text


def test_security_headers_under_console_only(client: TestClient) -> None:
    page = client.get("/console/sign-in")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    moved = client.get("/console", follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (303, "/console/sign-in?next=/console")
    assert moved.headers["x-frame-options"] == "DENY"
    assert "x-frame-options" not in client.get("/consoles").headers  # not a prefix match


def test_static_files_are_cached_for_a_year_and_stay_inside(client: TestClient) -> None:
    page = client.get("/console/sign-in").text
    href = page.split('rel="stylesheet" href="')[1].split('"')[0]
    assert href.startswith("/console/static/console.css?v=")
    css = client.get(href)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert css.headers["x-content-type-options"] == "nosniff"
    assert client.get("/console/static/../render.py").status_code == 404
    assert client.get("/console/static/%2e%2e/render.py").status_code == 404
