"""The console's second factor (TOTP): set up on /console/security with a QR code and a
code; then every sign-in asks for a code after the password; a wrong or used code is
refused and counts towards the lock; an admin resets a lost one."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_console_admin import as_, person, post
from tests.api.test_console_auth import CSRF, sign_in
from tillpoint.access import totp
from tillpoint.access.accounts import LOCK_AFTER
from tillpoint.access.models import Account, AccountRole, AccountStatus, AuditRecord
from tillpoint.core.clock import FixedClock
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD

SECRET = re.compile(r'class="totp-secret">([A-Z2-7 ]+)<')
LOGIN = "rita@acquirer.cn"
PASSWORD = "a good long password"


def clock(api: ApiEnv) -> FixedClock:
    fixed = api.tp.ctx.clock
    assert isinstance(fixed, FixedClock)
    return fixed


def enrol(api: ApiEnv) -> str:
    """Rita sets up her second factor; its secret."""
    token = as_(api, person(api, LOGIN, AccountRole.REVIEWER))
    assert post(api, "/console/security/totp", {}).status_code == 403  # no CSRF token
    assert post(api, "/console/security/totp", {"csrf_token": token}).status_code == 303
    page = api.client.get("/console/security?lang=en")
    assert page.headers["cache-control"] == "no-store"
    assert 'src="data:image/svg+xml' in page.text  # the QR code, inline
    found = SECRET.search(page.text)
    assert found is not None
    secret = found.group(1).replace(" ", "")
    wrong = post(api, "/console/security/totp/confirm", {"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 303 and not api.tp.accounts.get(LOGIN).totp
    assert "not right" in api.client.get("/console/security?lang=en").text
    code = totp.code_at(secret, api.tp.ctx.now())
    post(api, "/console/security/totp/confirm", {"csrf_token": token, "code": code})
    on = api.client.get("/console/security?lang=en")
    assert api.tp.accounts.get(LOGIN).totp and "second factor is on" in on.text
    assert secret not in on.text.replace(" ", "")  # shown while setting up only
    return secret


def code_step(api: ApiEnv, code: str, next_: str = "/console") -> httpx.Response:
    form = api.client.get("/console/sign-in?lang=en")  # a fresh form token
    token = CSRF.search(form.text)
    assert token is not None
    return api.client.post("/console/sign-in/code", data={"csrf_token": token.group(1),
                           "code": code, "next": next_}, follow_redirects=False)  # fmt: skip


def password_step(api: ApiEnv) -> str:
    """Rita's password, right: the code's page, and its form's token."""
    api.client.cookies.clear()
    asked = sign_in(api, LOGIN, PASSWORD, "/console/security")
    assert asked.status_code == 200 and "6-digit code" in asked.text
    assert "tp_session" not in api.client.cookies and "tp_half" in api.client.cookies
    token = CSRF.search(asked.text)
    assert token is not None
    return token.group(1)


def token_of(page: httpx.Response) -> str:
    """The code form's new token (each showing of the form has its own)."""
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def send_code(api: ApiEnv, token: str, code: str) -> httpx.Response:
    return api.client.post("/console/sign-in/code?lang=en", data={"csrf_token": token,
                           "code": code, "next": "/console/security"},
                           follow_redirects=False)  # fmt: skip


def test_enrol_then_every_sign_in_asks_for_a_code_used_once(api: ApiEnv) -> None:
    secret = enrol(api)
    with api.tp.ctx.db.read() as s:
        stored = s.scalar(select(Account.totp_secret).where(Account.email == LOGIN))
    assert stored is not None and secret.encode() not in stored  # sealed, not clear

    token = password_step(api)
    assert api.client.get("/console", follow_redirects=False).status_code == 303  # not yet in
    # The enrolment used this step's code: the same code now is a replay.
    now = api.tp.ctx.now()
    replay = send_code(api, token, totp.code_at(secret, now))
    assert replay.status_code == 401 and "used already" in replay.text
    token = token_of(replay)
    clock(api).advance(timedelta(seconds=30))
    later = api.tp.ctx.now()
    no_token = api.client.post("/console/sign-in/code",
                               data={"code": totp.code_at(secret, later)})  # fmt: skip
    assert no_token.status_code == 403
    done = send_code(api, token, totp.code_at(secret, later))
    assert (done.status_code, done.headers["location"]) == (303, "/console/security")
    assert api.client.get("/console").status_code == 200
    # The same code again, by someone who saw it: refused.
    token = password_step(api)
    again = send_code(api, token, totp.code_at(secret, later))
    assert again.status_code == 401
    token = token_of(again)
    # The next step's code is taken (a phone's clock a little ahead).
    ahead = send_code(api, token, totp.code_at(secret, later + timedelta(seconds=30)))
    assert ahead.status_code == 303
    with api.tp.ctx.db.read() as s:
        details = list(s.scalars(select(AuditRecord.detail).where(
            AuditRecord.action == "console sign_in")))  # fmt: skip
    assert {"factor": "totp"} in details


def test_wrong_codes_count_towards_the_lock(api: ApiEnv) -> None:
    secret = enrol(api)
    token = password_step(api)
    for n in range(LOCK_AFTER - 1):
        wrong = send_code(api, token, "123456" if n % 2 else "12345")
        assert wrong.status_code == 401, n
        token = token_of(wrong)
    # A right password does not wipe the count of wrong codes.
    token = password_step(api)
    last = send_code(api, token, "000000")
    assert last.status_code == 401  # as the wrong password that locks
    assert api.tp.accounts.get(LOGIN).status is AccountStatus.LOCKED
    clock(api).advance(timedelta(minutes=1))
    api.client.cookies.clear()
    assert sign_in(api, LOGIN, PASSWORD).status_code == 423
    with api.tp.ctx.db.read() as s:
        failed = list(s.scalars(select(AuditRecord.detail).where(
            AuditRecord.action == "console sign_in failed")))  # fmt: skip
    assert failed.count({"factor": "totp"}) == LOCK_AFTER
    del secret


def test_a_half_session_expires_and_is_not_a_session(api: ApiEnv) -> None:
    secret = enrol(api)
    token = password_step(api)
    clock(api).advance(timedelta(minutes=6))
    late = send_code(api, token, totp.code_at(secret, api.tp.ctx.now()))
    assert late.status_code == 401 and "Sign in again" in late.text
    forged = api.client.cookies.get("tp_half")
    assert forged is None  # cleared with the refusal
    api.client.cookies.set("tp_half", "1.9999999999.x.y", path="/console/sign-in")
    assert code_step(api, "123456").status_code == 401


def test_an_admin_resets_a_lost_second_factor(api: ApiEnv) -> None:
    enrol(api)
    rita = api.tp.accounts.get(LOGIN)
    token = as_(api, DEMO_ADMIN, DEMO_PASSWORD)
    detail = api.client.get(f"/console/users/{rita.id}?lang=en").text
    assert "Reset second factor" in detail
    assert post(api, f"/console/users/{rita.id}/totp-reset", {}).status_code == 403
    assert api.tp.accounts.get(LOGIN).totp
    post(api, f"/console/users/{rita.id}/totp-reset", {"csrf_token": token})
    assert not api.tp.accounts.get(LOGIN).totp
    with api.tp.ctx.db.read() as s:
        record = s.scalars(select(AuditRecord).where(
            AuditRecord.action == "console totp reset")).one()  # fmt: skip
    assert record.actor == f"console:{DEMO_ADMIN}" and record.target == f"account {rita.id}"
    api.client.cookies.clear()
    assert sign_in(api, LOGIN, PASSWORD).status_code == 303  # the password alone again
