"""The portal's home: the merchant's own takings (a cashier's: its shop's), the charts,
and the live "payment received" feed, never another merchant's."""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import CSRF
from tests.api.test_events import messages
from tests.api.test_webhooks import pay
from tillpoint.access.models import AccountRole
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.http import sse as routes
from tillpoint.payments.takings import DayTakings

PASSWORD = "a-long-portal-password-1"
FIGURES = re.compile(r'<dl class="stats">.*?</dl>', re.S)


def portal_sign_in(api: ApiEnv, login: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    form = api.client.get("/portal/sign-in?lang=en")
    token = CSRF.search(form.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "login": login, "password": password, "next": ""}
    return api.client.post("/portal/sign-in", data=data, follow_redirects=False)


def figures(api: ApiEnv) -> str:
    home = api.client.get("/portal?lang=en")
    assert home.status_code == 200, home.text
    found = FIGURES.search(home.text)
    assert found is not None
    return found.group(0)


def test_an_owner_sees_its_takings_and_not_another_merchants(api: ApiEnv) -> None:
    for _ in range(3):
        pay(api, api.mid_a)
    pay(api, api.mid_b)
    signed = portal_sign_in(api, demo_owner(1))
    assert signed.status_code == 303 and signed.headers["location"] == "/portal"
    home = api.client.get("/portal?lang=en").text
    assert "CN¥37.02" in FIGURES.search(home).group(0)  # type: ignore[union-attr]
    assert "CN¥12.34" in home  # the average ticket, and each payment received
    assert home.count('data-payment="') == 3
    assert "Takings, the last 30 days" in home and "<svg" in home
    assert "Next payout" in home and 'href="/portal/settlements"' in home
    assert re.search(r'<script src="/console/static/portal-home\.js\?v=\w+" defer>', home)


def test_a_cashier_sees_only_its_shops_day(api: ApiEnv) -> None:
    pay(api, api.mid_a)
    shop = api.tp.merchants.add_shop(api.mid_a, "Second shop", "2 Second Road, Shanghai", "test")
    api.tp.accounts.create(name="Cashier two", roles={AccountRole.CASHIER}, actor="test",
                           email="c2@shop.test", merchant_ref=api.mid_a,
                           shop_number=shop.number, password=PASSWORD)  # fmt: skip
    assert portal_sign_in(api, "c2@shop.test", PASSWORD).status_code == 303
    shown = figures(api)
    assert "CN¥0.00" in shown and "CN¥12.34" not in shown
    page = api.client.get("/portal?lang=en").text
    assert "By shop." not in page  # a cashier has one shop
    assert "Next payout" not in page  # nor any money but its shop's takings
    menu = re.search(r'<nav class="nav".*?</nav>', page, re.S)
    assert menu is not None
    assert re.findall(r'href="(/portal[^"]*)"', menu.group(0)) == [
        "/portal", "/portal/payments", "/portal/reports", "/portal/password"
    ]  # fmt: skip


def test_staff_and_strangers_do_not_enter_and_applicants_go_to_their_application(
    api: ApiEnv,
) -> None:
    assert api.client.get("/portal", follow_redirects=False).headers["location"] == (
        "/portal/sign-in?next=/portal"
    )
    # Staff signing in at the portal go to the console; the portal is not theirs.
    signed = portal_sign_in(api, DEMO_ADMIN)
    assert signed.headers["location"] == "/console"
    assert api.client.get("/portal").status_code == 403
    assert api.client.get("/portal/feed").status_code == 403
    api.client.cookies.clear()
    api.tp.accounts.create(name="Applying person", roles={AccountRole.APPLICANT}, actor="test",
                           email="new@apply.test", password=PASSWORD)  # fmt: skip
    assert portal_sign_in(api, "new@apply.test", PASSWORD).status_code == 303
    home = api.client.get("/portal", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/portal/application"
    assert api.client.get("/portal/feed").status_code == 403


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_the_feed_announces_each_payment_received_and_redraws_the_figures(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch, lang: str
) -> None:
    monkeypatch.setattr(routes, "POLL_S", 0.05)
    assert portal_sign_in(api, demo_owner(1)).status_code == 303
    with api.client.stream("GET", f"/portal/feed?timeout_s=10&lang={lang}") as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert next(lines) == f"retry: {routes.RETRY_MS}"
        pay(api, api.mid_b)  # another merchant's: never in this feed
        paid = pay(api, api.mid_a)
        events = messages(lines)
        received = next(m for m in events if m.get("event") == "received")
        drawn = next(m for m in events if m.get("event") == "figures")
    assert received["data"]["payment"] == paid
    if lang == "en":
        assert received["data"]["notice"] == "Payment received: CN¥12.34"
    else:
        assert received["data"]["notice"] == "收款到账：¥12.34"
    assert f'data-payment="{paid}"' in received["data"]["row"]
    assert "12.34" in drawn["data"]["html"] and '<dl class="stats">' in drawn["data"]["html"]


def test_takings_count_what_stands_and_show_refunds_apart(api: ApiEnv) -> None:
    """A refund does not lower the day's takings (it is shown apart); the average
    ticket is rounded half up to a fen; the 30 days end with today's total."""
    first, _second, _third = (pay(api, api.mid_a) for _ in range(3))
    online = api.services.online
    api.run(online.refund, first, Money(500))
    merchant_id = api.merchant_id(api.mid_a)
    today = api.tp.days.open_date()
    t = api.tp.takings.day(merchant_id, today)
    assert (t.count, t.volume_minor, t.refunds_count, t.refunds_minor) == (3, 3702, 1, 500)
    assert t.average_minor == 1234
    assert [(x.key, x.count, x.volume_minor) for x in t.by_method] == [("alipay", 3, 3702)]
    month = api.tp.takings.daily(merchant_id, today, 30)
    assert len(month) == 30 and month[-1].day == today and month[-1].volume_minor == 3702
    assert sum(d.volume_minor for d in month) == 3702
    assert api.tp.takings.received(merchant_id, today, limit=2)[0].amount_minor == 1234


@pytest.mark.parametrize(
    ("volume", "count", "average"), [(10, 4, 3), (9, 4, 2), (1, 3, 0), (2, 3, 1)]
)
def test_the_average_ticket_rounds_half_up(volume: int, count: int, average: int) -> None:
    t = DayTakings(day=date(2026, 12, 5), currency="CNY", count=count, volume_minor=volume)
    assert t.average_minor == average
