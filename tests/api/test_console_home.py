"""The console's home: today's figures for every member of staff (links by role), the
newest payments, and the live feed (a signed-in staff member's, never card data)."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import sign_in
from tests.api.test_events import messages
from tests.api.test_webhooks import pay
from tillpoint.access.models import AccountRole
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.http import sse as routes

PASSWORD = "a-long-staff-password-1"
UNIONPAY = "6200000000000000003"  # a UnionPay QR code (approved); never a card number here


def staff_member(api: ApiEnv, role: AccountRole) -> str:
    login = f"{role.value}@home.test"
    api.tp.accounts.create(name=f"{role.value} person", roles={role}, actor="test",
                           email=login, password=PASSWORD)  # fmt: skip
    return login


def signed_in_as(api: ApiEnv, role: AccountRole) -> None:
    if role is AccountRole.ADMIN:
        assert sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    else:
        assert sign_in(api, staff_member(api, role), PASSWORD).status_code == 303


@pytest.mark.parametrize("role", [AccountRole.ADMIN, AccountRole.REVIEWER, AccountRole.FLEET,
                                  AccountRole.RISK, AccountRole.FINANCE])  # fmt: skip
def test_every_member_of_staff_sees_the_home_with_links_for_their_areas(
    api: ApiEnv, role: AccountRole
) -> None:
    paid = pay(api, api.mid_a)
    signed_in_as(api, role)
    home = api.client.get("/console?lang=en")
    assert home.status_code == 200, home.text
    text = home.text
    for heading in ("Today&#39;s payments", "Newest payments", "Open applications",
                    "Business days", "Payout holds"):  # fmt: skip
        assert heading in text
    assert f'data-payment="{paid}"' in text  # the newest payments, on the page itself
    assert "CN¥12.34" in text and "<svg" in text
    assert ('href="/console/applications"' in text) is (
        role in (AccountRole.ADMIN, AccountRole.REVIEWER, AccountRole.RISK)
    )
    assert ('href="/console/holds"' in text) is (role in (AccountRole.ADMIN, AccountRole.FINANCE))
    assert ("Open risk cases" in text) is (
        role in (AccountRole.ADMIN, AccountRole.REVIEWER, AccountRole.RISK)
    )
    assert re.search(r'<script src="/console/static/home-feed\.js\?v=\w+" defer>', text)


def test_the_figures_are_todays_in_the_tallies_and_the_payments(api: ApiEnv) -> None:
    for _ in range(3):
        pay(api, api.mid_a)
    signed_in_as(api, AccountRole.ADMIN)
    before = api.client.get("/console?lang=en").text
    api.tp.tallies.catch_up()  # the pass folds them: the same figures
    after = api.client.get("/console?lang=en").text
    figures = re.compile(r'<dl class="stats">.*?</dl>', re.S)
    found_before, found_after = figures.search(before), figures.search(after)
    assert found_before is not None and found_after is not None
    assert found_before.group(0) == found_after.group(0)
    assert "CN¥37.02" in found_after.group(0)  # 3 x 12.34
    today = api.tp.days.open_date()
    assert api.tp.tallies.figures([today]).days[today].count == 3


def test_an_owner_gets_403_and_a_stranger_signs_in_first(api: ApiEnv) -> None:
    assert api.client.get("/console", follow_redirects=False).status_code == 303
    assert api.client.get("/console/feed", follow_redirects=False).status_code == 303
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    assert api.client.get("/console").status_code == 403
    assert api.client.get("/console/feed").status_code == 403


def test_the_feed_streams_new_payments_as_rows_without_card_data(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "POLL_S", 0.05)
    signed_in_as(api, AccountRole.FLEET)
    with api.client.stream("GET", "/console/feed?timeout_s=10&lang=en") as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines) == f"retry: {routes.RETRY_MS}"
        paid = pay(api, api.mid_b, UNIONPAY)
        message = next(m for m in messages(lines) if "event" in m)
    assert message["event"] == "payment" and message["data"]["payment"] == paid
    row = message["data"]["row"]
    assert row.startswith(f'<tr data-payment="{paid}">')
    assert api.mid_b in row and "CN¥12.34" in row and "approved" in row
    assert UNIONPAY not in row and "pan_" not in row and "****" not in row
    assert set(message["data"]) == {"payment", "row"}


def test_the_feed_resumes_after_last_event_id_in_the_persons_language(api: ApiEnv) -> None:
    first, second = pay(api, api.mid_a), pay(api, api.mid_a)
    signed_in_as(api, AccountRole.RISK)
    r = api.client.get("/console/feed?timeout_s=0.3&lang=zh_CN", headers={"Last-Event-ID": "0"})
    got = [m for m in messages(iter(r.text.splitlines())) if "event" in m]
    assert [m["data"]["payment"] for m in got] == [first, second]
    assert "已通过" in got[0]["data"]["row"] and "支付宝" in got[0]["data"]["row"]


def test_the_charts_speak_the_pages_language(api: ApiEnv) -> None:
    """The charts are drawn before the page renders: in its language all the same."""
    signed_in_as(api, AccountRole.ADMIN)
    chinese = api.client.get("/console?lang=zh_CN").text
    assert "今日" in chinese and "暂无数据" in chinese
    assert "Today" not in chinese and "No data yet" not in chinese
    english = api.client.get("/console?lang=en").text
    assert "Today" in english and "今日" not in english
