"""Signing in to the console through the browser's requests: the form's own token, the
session cookie, the CSRF token on every change, roles, lock-out, and the password a
person must change."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tillpoint.access.accounts import LOCK_AFTER
from tillpoint.access.models import AccountRole, AuditRecord
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(api: ApiEnv, login: str, password: str, next_: str = "/console") -> httpx.Response:
    form = api.client.get("/console/sign-in?lang=en")
    token = CSRF.search(form.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "login": login, "password": password, "next": next_}
    return api.client.post("/console/sign-in", data=data, follow_redirects=False)


def csrf_of(api: ApiEnv) -> str:
    found = CSRF.search(api.client.get("/console").text)
    assert found is not None
    return found.group(1)


def test_staff_sign_in_see_home_and_sign_out(api: ApiEnv) -> None:
    away = api.client.get("/console/password", follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (
        303, "/console/sign-in?next=/console/password",
    )  # fmt: skip
    done = sign_in(api, DEMO_ADMIN, DEMO_PASSWORD, "/console/password")
    assert (done.status_code, done.headers["location"]) == (303, "/console/password")
    cookie = done.headers["set-cookie"]
    assert "tp_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = api.client.get("/console?lang=en")
    assert home.status_code == 200 and "Welcome, 演示管理员 Demo Admin" in home.text
    assert "Signed in as admin@demo.test." in home.text
    assert home.headers["x-frame-options"] == "DENY"

    # Signing out is a change: without the session's token, nothing happens.
    refused = api.client.post("/console/sign-out", follow_redirects=False)
    assert refused.status_code == 403 and "nothing was changed" in refused.text
    assert api.client.get("/console").status_code == 200
    out = api.client.post("/console/sign-out", data={"csrf_token": csrf_of(api)},
                          follow_redirects=False)  # fmt: skip
    assert (out.status_code, out.headers["location"]) == (303, "/console/sign-in")
    assert api.client.get("/console", follow_redirects=False).status_code == 303


def test_a_sign_in_form_without_its_token_is_refused(api: ApiEnv) -> None:
    api.client.get("/console/sign-in")
    data = {"login": DEMO_ADMIN, "password": DEMO_PASSWORD}
    refused = api.client.post("/console/sign-in", data=data, follow_redirects=False)
    assert refused.status_code == 403
    assert api.client.get("/console", follow_redirects=False).status_code == 303  # not in


def test_wrong_passwords_lock_the_account_and_say_so_only_then(api: ApiEnv) -> None:
    for _ in range(LOCK_AFTER):
        wrong = sign_in(api, DEMO_ADMIN, "not the password")
        assert wrong.status_code == 401 and "Wrong login or password" in wrong.text
    locked = sign_in(api, DEMO_ADMIN, DEMO_PASSWORD)
    assert locked.status_code == 423 and "locked" in locked.text
    with api.tp.ctx.db.read() as s:
        actions = list(s.scalars(select(AuditRecord.action)))
    assert "console account locked" in actions and "console sign_in refused" in actions


def test_a_merchant_user_opens_no_console_page(api: ApiEnv) -> None:
    done = sign_in(api, demo_owner(1), DEMO_PASSWORD)
    assert done.status_code == 303  # signed in: the portal will take it
    for path in ("/console", "/console/password"):
        page = api.client.get(path, follow_redirects=False)
        assert page.status_code == 403 and "Not allowed" in page.text, path


def test_a_made_password_is_changed_first(api: ApiEnv) -> None:
    made = api.tp.accounts.create(name="Rita", roles={AccountRole.REVIEWER}, actor="t",
                                  email="rita@acquirer.cn")  # fmt: skip
    assert made.password is not None
    done = sign_in(api, "rita@acquirer.cn", made.password)
    assert done.headers["location"] == "/console/password"
    for elsewhere in ("/console", "/console/applications", "/console/merchants"):
        sent = api.client.get(elsewhere, follow_redirects=False)
        assert sent.headers["location"] == "/console/password", elsewhere
    form = api.client.get("/console/password?lang=en")
    token = CSRF.search(form.text)
    assert token is not None and "choose your own" in form.text
    short = api.client.post("/console/password", data={
        "csrf_token": token.group(1), "current": made.password, "new": "short"})  # fmt: skip
    assert short.status_code == 400 and "10 to 200" in short.text
    no_token = api.client.post("/console/password", data={
        "current": made.password, "new": "a new password"}, follow_redirects=False)  # fmt: skip
    assert no_token.status_code == 403
    changed = api.client.post("/console/password", data={
        "csrf_token": token.group(1), "current": made.password, "new": "a new password"},
        follow_redirects=False)  # fmt: skip
    assert (changed.status_code, changed.headers["location"]) == (303, "/console")
    assert "Welcome, Rita" in api.client.get("/console?lang=en").text
