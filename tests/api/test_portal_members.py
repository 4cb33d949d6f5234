"""The portal's members pages: owners and managers sign members up (consent required),
search them by mobile number, name and tag, open a member's page (history with its
chart, consents, points, coupons), adjust points, give coupons, withdraw consents,
erase; the segments with their charts and lists; coupons and the programme. Another
merchant's member is not found; cashiers are kept out."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.api.conftest import ApiEnv
from tests.api.test_portal_shops import as_manager, as_owner, post
from tillpoint.store.member_models import Channel
from tillpoint.store.members import MemberIn

NUMBER = "13712345678"


def sign_up(api: ApiEnv, **fields: str) -> str:
    form = {"mobile": "137 1234 5678", "name": "钱九 Qian", "birthday": "1988-08-08",
            "tags": "vip，常客", "consent": "yes", "marketing": "", "shop": ""}  # fmt: skip
    added = post(api, "/portal/members/add", **{**form, **fields})
    assert added.status_code == 303, added.text
    return str(added.headers["location"])


def search(api: ApiEnv, **fields: str) -> str:
    answer = post(api, "/portal/members", **fields)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_owner_signs_up_finds_and_looks_after_a_member(api: ApiEnv) -> None:
    as_owner(api)
    refused = post(api, "/portal/members/add", mobile=NUMBER, consent="")
    shown = api.client.get(refused.headers["location"] + "?lang=en").text
    assert "only with their consent" in shown
    where = sign_up(api)
    member = where.rsplit("/", 1)[1]
    page = api.client.get(where + "?lang=en").text
    assert "Member 137****5678 signed up." in page and NUMBER not in page
    assert "membership" in page and "portal" in page and "<svg" in page
    for q in (NUMBER, "钱", ""):
        listed = search(api, q=q)
        assert f'href="/portal/members/{member}"' in listed, q
    tagged = api.client.get("/portal/members", params={"tag": "常客"}).text
    assert f'href="/portal/members/{member}"' in tagged
    assert f'/portal/members/{member}"' not in search(api, q="13700000000")
    assert (
        post(api, f"/portal/members/{member}/points", points="120", note="生日").status_code == 303
    )
    ledger = api.client.get(where + "?lang=en").text
    assert "+120" in ledger and "生日" in ledger
    made = post(api, "/portal/coupons/templates", name="满50减10", kind="amount", value="10",
                min_spend="50", days="30", uses="1")  # fmt: skip
    assert made.status_code == 303
    template = api.tp.coupons.templates(api.merchant_id(api.mid_a))[0].id
    assert post(api, f"/portal/members/{member}/coupons", template=str(template)).status_code == 303
    assert "满50减10" in api.client.get(where).text
    post(api, f"/portal/members/{member}/consents", purpose="marketing", action="grant")
    post(api, f"/portal/members/{member}/consents", purpose="marketing", action="withdraw")
    view = api.tp.members.get(int(member), merchant_id=api.merchant_id(api.mid_a))
    assert [c.withdrawn_channel for c in view.consents] == [None, Channel.PORTAL]
    own = api.client.get(f"/portal/members/{member}/export")
    assert own.status_code == 200 and own.json()["member"]["mobile"] == NUMBER
    not_confirmed = post(api, f"/portal/members/{member}/erase", confirm="")
    assert "error" in not_confirmed.headers.get("set-cookie", "")
    post(api, f"/portal/members/{member}/erase", confirm="yes")
    gone = api.client.get(where + "?lang=en").text
    assert "was erased" in gone and "钱九" not in gone


def test_segments_lists_coupons_and_the_programme(api: ApiEnv) -> None:
    as_manager(api)
    sign_up(api)
    page = api.client.get("/portal/members/segments?lang=en").text
    assert page.count("<svg") == 2 and "Prospects" in page
    xlsx = api.client.get("/portal/members/export?format=xlsx&segment=prospects")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet["B2"].value == "137****5678"
    assert NUMBER not in api.client.get("/portal/members/export?format=csv").text
    saved = post(api, "/portal/loyalty", scope="merchant", points_per_yuan="2",
                 redeem_points="100", redeem_yuan="1", signup="", birthday="",
                 notice_version="2026-12", notice_text="我们保存… We keep…",
                 level_0_name="金卡 Gold", level_0_spend="1000", level_0_percent="5")  # fmt: skip
    assert saved.status_code == 303
    programme = api.tp.loyalty.get(api.merchant_id(api.mid_a))
    assert (str(programme.points_per_yuan), programme.levels[0].name) == ("2", "金卡 Gold")
    bad = post(api, "/portal/loyalty", scope="merchant", points_per_yuan="x",
               redeem_points="100", redeem_yuan="1", notice_version="1", notice_text="n")  # fmt: skip
    assert "Points per yuan" in api.client.get(bad.headers["location"] + "?lang=en").text
    assert api.tp.loyalty.get(api.merchant_id(api.mid_a)).notice_version == "2026-12"
    coupons = post(api, "/portal/coupons/templates", name="八折", kind="percent", value="20",
                   min_spend="0", days="7", uses="2")  # fmt: skip
    assert coupons.status_code == 303
    template = api.tp.coupons.templates(api.merchant_id(api.mid_a))[0].id
    issued = post(api, "/portal/coupons/issue", template=str(template), count="3")
    listed = api.client.get(issued.headers["location"] + "?lang=en").text
    assert "3 coupons issued." in listed, listed
    assert listed.count(">Anyone<") == 3


def test_another_merchants_member_is_not_found_and_cashiers_stay_out(api: ApiEnv) -> None:
    theirs = api.tp.members.sign_up(api.merchant_id(api.mid_b), MemberIn(
        NUMBER, consent_membership=True, name="别家"), channel=Channel.TILL, by="t")  # fmt: skip
    as_owner(api)
    answer = api.client.get(f"/portal/members/{theirs.id}")
    assert answer.status_code == 404 and "别家" not in answer.text
    found = search(api, q=NUMBER)
    assert "别家" not in found and f"/portal/members/{theirs.id}" not in found
