"""The console's administration pages: users, API keys, the audit log and fee plans.
Each opens to its roles only (403 for the others and for a merchant's people), every
change needs the session's CSRF token, and passwords and secrets are shown once."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import CSRF, sign_in
from tillpoint.access.models import AccountRole, AccountStatus, AuditRecord
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner

PASSWORD = "a good long password"
MADE_PASSWORD = re.compile(r'id="made-password">([^<]+)<')
MADE_SECRET = re.compile(r'id="made-secret">([^<]+)<')
ADMIN_PAGES = ("/console/users", "/console/users/new", "/console/api-keys",
               "/console/api-keys/new", "/console/audit")  # fmt: skip
FEE_PAGES = ("/console/fee-plans", "/console/fee-plans/BIZ-STD")


def person(api: ApiEnv, login: str, role: AccountRole) -> str:
    api.tp.accounts.create(name=f"{role} person", roles={role}, actor="test", email=login,
                           password=PASSWORD)  # fmt: skip
    return login


def as_(api: ApiEnv, login: str, password: str = PASSWORD) -> str:
    """Sign in afresh as ``login``; the session's CSRF token."""
    api.client.cookies.clear()
    done = sign_in(api, login, password)
    assert done.status_code == 303, done.text
    found = CSRF.search(api.client.get("/console/security").text)
    assert found is not None
    return found.group(1)


def rows_of(html: str) -> str:
    """A list page's table body only (not its filters' placeholders)."""
    return html.split("<tbody>")[1]


def actions(api: ApiEnv) -> list[str]:
    with api.tp.ctx.db.read() as s:
        return list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def post(api: ApiEnv, path: str, data: dict[str, object]) -> httpx.Response:
    return api.client.post(path, data=data, follow_redirects=False)  # type: ignore[arg-type]


def test_each_page_opens_to_its_roles_only(api: ApiEnv) -> None:
    plan = api.tp.fees.list_plans()[0].code
    fee_pages = ("/console/fee-plans", f"/console/fee-plans/{plan}")
    as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    for path in (*ADMIN_PAGES, *fee_pages, "/console/fee-plans/new", "/console/security"):
        assert api.client.get(path + "?lang=en").status_code == 200, path
    users = api.client.get("/console/users?lang=en").text
    assert "Users" in users and DEMO_ADMIN in users and demo_owner(1) in users
    for role, fees_read, fees_make in (
        (AccountRole.REVIEWER, 200, 403),
        (AccountRole.FINANCE, 200, 200),
        (AccountRole.FLEET, 403, 403),
    ):
        as_(api, person(api, f"{role}@acquirer.cn", role))
        for path in ADMIN_PAGES:
            assert api.client.get(path).status_code == 403, (role, path)
        for path in fee_pages:
            assert api.client.get(path).status_code == fees_read, (role, path)
        assert api.client.get("/console/fee-plans/new").status_code == fees_make, role
        assert api.client.get("/console/security").status_code == 200
    api.client.cookies.clear()
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    for path in (*ADMIN_PAGES, *fee_pages, "/console/security"):
        assert api.client.get(path, follow_redirects=False).status_code == 403, path
    # A reviewer's POST is refused as well, not only the page.
    token = as_(api, "reviewer@acquirer.cn")
    refused = post(api, "/console/users", {"csrf_token": token, "name": "X", "email": "x@y.cn",
                                           "role": "admin"})  # fmt: skip
    assert refused.status_code == 403


def test_an_admin_makes_an_account_whose_password_is_shown_once(api: ApiEnv) -> None:
    token = as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    form = {"name": "Rita Reviewer", "email": "rita@acquirer.cn", "role": "reviewer"}
    made_before = actions(api).count("console account created")
    assert post(api, "/console/users", form).status_code == 403  # no CSRF token
    assert actions(api).count("console account created") == made_before
    made = post(api, "/console/users?lang=en", {**form, "csrf_token": token})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    assert "shown once" in made.text
    found = MADE_PASSWORD.search(made.text)
    assert found is not None
    password = found.group(1)
    account = api.tp.accounts.get("rita@acquirer.cn")
    assert account.roles == (AccountRole.REVIEWER,) and account.must_change_password
    assert account.locale is None  # follows the browser
    detail = api.client.get(f"/console/users/{account.id}?lang=en")
    assert detail.status_code == 200 and password not in detail.text
    assert password not in api.client.get("/console/users").text
    assert password not in api.client.get("/console/audit").text
    assert actions(api).count("console account created") == made_before + 1
    # The same login again: a clear message, the form kept, nothing made.
    again = post(api, "/console/users?lang=en", {**form, "csrf_token": token})
    assert again.status_code == 400 and "exists already" in again.text
    assert 'value="Rita Reviewer"' in again.text
    mixed = post(api, "/console/users?lang=en", {"csrf_token": token, "name": "M",
                 "email": "m@acquirer.cn", "role": ["reviewer", "owner"]})  # fmt: skip
    assert mixed.status_code == 400 and "not both" in mixed.text
    # A merchant's owner, by MID.
    owner = post(api, "/console/users", {"csrf_token": token, "name": "Olga", "role": "owner",
                 "mobile": "13800000001", "mid": api.mid_a})  # fmt: skip
    assert owner.status_code == 200
    assert api.tp.accounts.get("13800000001").mid == api.mid_a
    # Rita signs in with the password shown, and must choose her own first.
    api.client.cookies.clear()
    done = sign_in(api, "rita@acquirer.cn", password)
    assert (done.status_code, done.headers["location"]) == (303, "/console/password")


def test_reset_lock_unlock_and_roles_are_audited(api: ApiEnv) -> None:
    rita = api.tp.accounts.get(person(api, "rita@acquirer.cn", AccountRole.REVIEWER))
    admin = api.tp.accounts.get(DEMO_ADMIN)
    token = as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    base = f"/console/users/{rita.id}"
    for action in ("password", "lock", "unlock", "roles", "totp-reset"):
        assert post(api, f"{base}/{action}", {}).status_code == 403, action
    assert api.tp.accounts.get(str(rita.id)).status is AccountStatus.ACTIVE

    reset = post(api, f"{base}/password?lang=en", {"csrf_token": token})
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    found = MADE_PASSWORD.search(reset.text)
    assert found is not None and found.group(1) not in api.client.get(base).text

    locked = post(api, f"{base}/lock", {"csrf_token": token})
    assert (locked.status_code, locked.headers["location"]) == (303, base)
    assert "Account locked" in api.client.get(base + "?lang=en").text  # the one-time message
    assert "Account locked" not in api.client.get(base + "?lang=en").text
    assert api.tp.accounts.get(str(rita.id)).status is AccountStatus.LOCKED
    post(api, f"{base}/unlock", {"csrf_token": token})
    assert api.tp.accounts.get(str(rita.id)).status is AccountStatus.ACTIVE

    post(api, f"{base}/roles", {"csrf_token": token, "role": ["reviewer", "finance"]})
    assert api.tp.accounts.get(str(rita.id)).roles == (AccountRole.FINANCE, AccountRole.REVIEWER)
    wrong_side = post(api, f"{base}/roles", {"csrf_token": token, "role": "owner"})
    assert wrong_side.status_code == 303
    assert "staff roles only" in api.client.get(base + "?lang=en").text
    with api.tp.ctx.db.read() as s:
        records = {r.action: r for r in s.scalars(select(AuditRecord))}
    for action in ("console password reset", "console account locked",
                   "console account unlocked", "console roles changed"):  # fmt: skip
        assert records[action].actor == f"console:{DEMO_ADMIN}", action
        assert records[action].target == f"account {rita.id}"
    assert records["console roles changed"].detail == {
        "from": ["reviewer"], "to": ["finance", "reviewer"]}  # fmt: skip

    # An admin neither locks themselves nor drops their own admin role.
    me = f"/console/users/{admin.id}"
    post(api, f"{me}/lock", {"csrf_token": token})
    assert "cannot lock your own" in api.client.get(me + "?lang=en").text
    post(api, f"{me}/roles", {"csrf_token": token, "role": "finance"})
    assert "your own admin role" in api.client.get(me + "?lang=en").text
    assert api.tp.accounts.get(DEMO_ADMIN).roles == (AccountRole.ADMIN,)
    assert api.tp.accounts.get(DEMO_ADMIN).status is AccountStatus.ACTIVE


def test_the_users_list_filters_and_pages(api: ApiEnv) -> None:
    for n in range(3):
        person(api, f"fin{n}@acquirer.cn", AccountRole.FINANCE)
    as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    finance = api.client.get("/console/users?role=finance").text
    assert "fin0@acquirer.cn" in finance and DEMO_ADMIN not in finance
    searched = api.client.get("/console/users?q=FIN1").text
    assert "fin1@acquirer.cn" in searched and "fin0@acquirer.cn" not in searched
    assert "fin" not in api.client.get("/console/users?q=%25").text.split("<tbody>")[1]
    locked = api.client.get("/console/users?status=locked").text
    assert "fin0@acquirer.cn" not in locked
    ids = [a.id for a in api.tp.accounts.list()]
    after = api.client.get(f"/console/users?after={ids[-2]}").text
    assert "fin2@acquirer.cn" in after and "fin1@acquirer.cn" not in after


def test_an_api_key_made_in_the_console_works_until_revoked(api: ApiEnv) -> None:
    token = as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    assert post(api, "/console/api-keys", {"name": "x", "role": "reviewer"}).status_code == 403
    made = post(api, "/console/api-keys?lang=en",
                {"csrf_token": token, "name": "Reports", "role": "merchant_owner",
                 "mid": api.mid_a})  # fmt: skip
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    found = MADE_SECRET.search(made.text)
    assert found is not None
    secret = found.group(1)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.client.get(f"/v1/merchants/{api.mid_a}", headers=bearer).status_code == 200
    listed = api.client.get("/console/api-keys").text
    assert secret not in listed and secret[:12] in listed
    key = next(k for k in api.tp.access.list_keys() if k.name == "Reports")
    refused = post(api, f"/console/api-keys/{key.id}/revoke", {})
    assert refused.status_code == 403
    assert api.client.get(f"/v1/merchants/{api.mid_a}", headers=bearer).status_code == 200
    done = post(api, f"/console/api-keys/{key.id}/revoke", {"csrf_token": token})
    assert (done.status_code, done.headers["location"]) == (303, "/console/api-keys")
    assert api.client.get(f"/v1/merchants/{api.mid_a}", headers=bearer).status_code == 401
    revoked = api.client.get("/console/api-keys?state=revoked").text
    assert secret[:12] in revoked
    assert secret[:12] not in api.client.get("/console/api-keys?state=active").text
    assert {"api key created", "api key revoked"} <= set(actions(api))
    # A merchant key without its merchant: a clear message, no key.
    bad = post(api, "/console/api-keys?lang=en",
               {"csrf_token": token, "name": "No MID", "role": "merchant_staff"})  # fmt: skip
    assert bad.status_code == 400 and "merchant keys name exactly one" in bad.text


def test_the_audit_log_filters(api: ApiEnv) -> None:
    person(api, "rita@acquirer.cn", AccountRole.REVIEWER)
    api.client.cookies.clear()
    assert sign_in(api, "rita@acquirer.cn", "not the password").status_code == 401
    as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    page = rows_of(api.client.get("/console/audit?lang=en").text)
    assert "console sign_in failed" in page and "console account created" in page
    mine = rows_of(api.client.get(f"/console/audit?actor=console:{DEMO_ADMIN}").text)
    assert "console sign_in" in mine and "console sign_in failed" not in mine
    refused = rows_of(api.client.get("/console/audit?status=4").text)
    assert "console sign_in failed" in refused and "console account created" not in refused
    failed = rows_of(api.client.get("/console/audit?action=console+sign_in+failed").text)
    assert "console sign_in failed" in failed and "console account created" not in failed
    today = api.tp.ctx.today().isoformat()
    assert "console sign_in failed" in api.client.get(f"/console/audit?from={today}").text
    before = api.client.get("/console/audit?lang=en&to=2020-01-01").text
    assert "No record matches" in before
    bad = api.client.get("/console/audit?lang=en&from=yesterday")
    assert bad.status_code == 200 and "that filter is left out" in bad.text
    # Pages: newest first, a link on.
    for n in range(55):
        api.tp.access.audit(principal=None, action=f"test {n}", target=None, status_code=200,
                            client_ip=None)  # fmt: skip
    first = api.client.get("/console/audit").text
    assert "test 54" in first and "test 3<" not in first
    link = re.search(r'href="(/console/audit\?before=\d+)" rel="next"', first)
    assert link is not None
    second = api.client.get(link.group(1).replace("&amp;", "&")).text
    assert "test 3<" in second and "test 54" not in second


def test_fee_plans_read_and_made_with_clear_refusals(api: ApiEnv) -> None:
    token = as_(api, person(api, "fay@acquirer.cn", AccountRole.FINANCE))
    rates = {f"rate_{m}": "0.38" for m in ("debit", "credit", "contactless", "foreign",
                                             "alipay", "wechat", "unionpay_qr")}  # fmt: skip
    form = {"csrf_token": token, "code": "BIZ-2027", "name": "Business 2027",
            "data_fee": "120.00", "free_days": "30", **rates}  # fmt: skip
    before = len(api.tp.fees.list_plans())
    too_high = post(api, "/console/fee-plans?lang=en", {**form, "rate_credit": "12"})
    assert too_high.status_code == 400
    assert "credit: A rate is between 0% and 10%, not 12%" in too_high.text
    assert 'value="BIZ-2027"' in too_high.text  # the form kept
    malformed = post(api, "/console/fee-plans?lang=en", {**form, "rate_wechat": "abc"})
    assert malformed.status_code == 400 and "is not a rate" in malformed.text
    precise = post(api, "/console/fee-plans?lang=en", {**form, "rate_debit": "0.123456"})
    assert precise.status_code == 400 and "at most 4 decimal places" in precise.text
    assert post(api, "/console/fee-plans", {**form, "csrf_token": ""}).status_code == 403
    assert len(api.tp.fees.list_plans()) == before
    made = post(api, "/console/fee-plans", {**form, "rate_debit": "0.5",
                                           "cap_debit": "20.00"})  # fmt: skip
    assert (made.status_code, made.headers["location"]) == (303, "/console/fee-plans/BIZ-2027")
    assert [r.target for r in api.tp.access.audit_log(limit=20)
            if r.action == "console fee plan created"] == ["fee plan BIZ-2027"]  # fmt: skip
    shown = api.client.get("/console/fee-plans/BIZ-2027?lang=en").text
    assert "0.50%" in shown and "0.38%" in shown and "CN¥20.00" in shown
    assert "CN¥120.00" in shown
    assert "BIZ-2027" in api.client.get("/console/fee-plans").text
    assert api.client.get("/console/fee-plans/NOPE").status_code == 404
    # A reviewer reads them but makes none.
    token = as_(api, person(api, "rev@acquirer.cn", AccountRole.REVIEWER))
    assert api.client.get("/console/fee-plans/BIZ-2027").status_code == 200
    refused = post(api, "/console/fee-plans", {**form, "csrf_token": token, "code": "X-1"})
    assert refused.status_code == 403


def test_a_persons_own_language_comes_after_lang_and_before_the_cookie(api: ApiEnv) -> None:
    token = as_(api, person(api, "rita@acquirer.cn", AccountRole.REVIEWER))
    zh = {"Accept-Language": "zh-CN"}
    api.client.cookies.set("tp_lang", "zh_CN")
    assert api.client.get("/console/security").headers["content-language"] == "zh-CN"
    saved = post(api, "/console/security/language", {"csrf_token": token, "locale": "en"})
    assert saved.status_code == 303
    assert api.tp.accounts.get("rita@acquirer.cn").locale == "en"
    api.client.cookies.set("tp_lang", "zh_CN")
    page = api.client.get("/console/security", headers=zh)
    assert page.headers["content-language"] == "en" and "Your language is saved." in page.text
    # The switch link still works, and changes the person's choice.
    switched = api.client.get("/console/security?lang=zh_CN")
    assert switched.headers["content-language"] == "zh-CN"
    assert api.tp.accounts.get("rita@acquirer.cn").locale == "zh_CN"
    api.client.cookies.set("tp_lang", "en")
    assert api.client.get("/console/security").headers["content-language"] == "zh-CN"
    # None: the cookie and the browser decide again.
    post(api, "/console/security/language", {"csrf_token": token, "locale": ""})
    assert api.tp.accounts.get("rita@acquirer.cn").locale is None
    assert api.client.get("/console/security").headers["content-language"] == "en"
    bad = post(api, "/console/security/language", {"csrf_token": token, "locale": "fr"})
    assert bad.status_code == 303 and api.tp.accounts.get("rita@acquirer.cn").locale is None
    assert post(api, "/console/security/language", {"locale": "en"}).status_code == 403
