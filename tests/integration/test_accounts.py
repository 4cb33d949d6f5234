"""People's accounts for the browser: made with roles, signed in by email or mobile and
password, kept by a session with its CSRF token, locked after wrong passwords, reset by
an admin; everything that matters in the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.conftest import approved, business_application

from tillpoint.access.accounts import (
    ADDRESS_FAILURES,
    ADDRESS_WINDOW,
    LOCK_AFTER,
    SESSION_IDLE,
    SESSION_MAX,
)
from tillpoint.access.models import AccountRole, AccountStatus, AuditRecord
from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused

ADMIN = {AccountRole.ADMIN}
PASSWORD = "correct horse battery"


def audit_actions(tp: Tillpoint) -> list[tuple[str, int]]:
    with tp.ctx.db.read() as s:
        return [(a, c) for a, c in s.execute(select(AuditRecord.action, AuditRecord.status_code))]


def test_an_account_signs_in_and_out(tp: Tillpoint) -> None:
    made = tp.accounts.create(name="Amy", roles=ADMIN, actor="cli:root", email="Amy@Example.COM")
    assert made.password is not None and len(made.password) >= 10  # shown once
    account = made.account
    assert (account.email, account.roles, account.must_change_password) == (
        "amy@example.com", (AccountRole.ADMIN,), True,
    )  # fmt: skip
    assert account.has(AccountRole.FINANCE)  # an admin holds every staff role
    assert not account.has(AccountRole.OWNER)

    signed_in = tp.accounts.sign_in(" amy@example.com ", made.password, "10.0.0.1")
    assert signed_in.account.id == account.id
    again = tp.accounts.session(signed_in.token)
    assert again is not None and again.csrf_token == signed_in.csrf_token
    assert tp.accounts.csrf_ok(again, signed_in.csrf_token)
    assert not tp.accounts.csrf_ok(again, None)
    assert not tp.accounts.csrf_ok(again, signed_in.csrf_token[:-1] + "x")
    assert tp.accounts.session("not-a-token") is None

    tp.accounts.sign_out(signed_in.token)
    assert tp.accounts.session(signed_in.token) is None
    assert ("console sign_in", 200) in audit_actions(tp)


def test_a_mobile_number_signs_in_too(tp: Tillpoint) -> None:
    tp.accounts.create(name="Bo", roles={AccountRole.FLEET}, actor="t", mobile="+86 139-1234-5678",
                       password=PASSWORD)  # fmt: skip
    assert tp.accounts.sign_in("13912345678", PASSWORD).account.mobile == "13912345678"
    assert not tp.accounts.get("13912345678").must_change_password


def test_roles_and_logins_are_checked(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    cases: list[dict[str, object]] = [
        {"roles": set(), "email": "a@b.cn"},
        {"roles": {AccountRole.ADMIN, AccountRole.OWNER}, "email": "a@b.cn", "merchant_ref": mid},
        {"roles": {AccountRole.OWNER}, "email": "a@b.cn"},  # no merchant
        {"roles": ADMIN, "email": "a@b.cn", "merchant_ref": mid},  # staff with a merchant
        {"roles": {AccountRole.CASHIER}, "email": "a@b.cn", "merchant_ref": mid},  # no shop
        {"roles": ADMIN},  # no login
        {"roles": ADMIN, "email": "not an email"},
        {"roles": ADMIN, "mobile": "12345"},
        {"roles": ADMIN, "email": "a@b.cn", "password": "short"},
        {"roles": ADMIN, "email": "a@b.cn", "password": "tab\tinside it"},
    ]
    for case in cases:
        with pytest.raises(InvalidInput):
            tp.accounts.create(name="X", actor="t", **case)  # type: ignore[arg-type]
    owner = tp.accounts.create(name="Owner", roles={AccountRole.OWNER}, actor="t",
                               email="o@shop.cn", merchant_ref=mid)  # fmt: skip
    assert owner.account.mid == mid
    cashier = tp.accounts.create(name="Cash", roles={AccountRole.CASHIER}, actor="t",
                                 mobile="13800000001", merchant_ref=mid, shop_number=1)  # fmt: skip
    assert cashier.account.shop_id is not None
    with pytest.raises(Refused) as e:
        tp.accounts.create(name="Again", roles=ADMIN, actor="t", email="O@shop.cn")
    assert e.value.code == "account.exists"
    with pytest.raises(NotFound):
        tp.accounts.create(name="Z", roles={AccountRole.CASHIER}, actor="t", email="z@z.cn",
                           merchant_ref=mid, shop_number=9)  # fmt: skip
    assert [a.login for a in tp.accounts.list()] == ["o@shop.cn", "13800000001"]


def test_wrong_passwords_lock_the_account_and_an_admin_resets_it(tp: Tillpoint) -> None:
    tp.accounts.create(name="Amy", roles=ADMIN, actor="t", email="amy@x.cn", password=PASSWORD)
    first = tp.accounts.sign_in("amy@x.cn", PASSWORD)
    for n in range(LOCK_AFTER):
        with pytest.raises(Refused) as e:
            tp.accounts.sign_in("amy@x.cn", f"wrong password {n}", "10.0.0.2")
        assert e.value.code == "account.wrong"  # says nothing of the lock it causes
    assert tp.accounts.get("amy@x.cn").status is AccountStatus.LOCKED
    assert tp.accounts.session(first.token) is None  # a locked account has no sessions
    with pytest.raises(Refused) as e:
        tp.accounts.sign_in("amy@x.cn", PASSWORD)  # the right one: still locked
    assert e.value.code == "account.locked"
    actions = audit_actions(tp)
    assert actions.count(("console sign_in failed", 401)) == LOCK_AFTER - 1
    assert ("console account locked", 423) in actions
    assert ("console sign_in refused", 423) in actions

    reset = tp.accounts.reset_password("amy@x.cn", "cli:root")
    assert reset.password is not None and reset.account.status is AccountStatus.ACTIVE
    assert reset.account.must_change_password
    with pytest.raises(Refused):
        tp.accounts.sign_in("amy@x.cn", PASSWORD)  # the old password is gone
    signed_in = tp.accounts.sign_in("amy@x.cn", reset.password)
    assert ("console password reset", 200) in audit_actions(tp)

    other = tp.accounts.sign_in("amy@x.cn", reset.password)
    with pytest.raises(Refused):
        tp.accounts.change_password(signed_in.account.id, "not it at all", "new password 1")
    assert ("console password change refused", 403) in audit_actions(tp)
    with pytest.raises(InvalidInput):
        tp.accounts.change_password(signed_in.account.id, reset.password, "short")
    changed = tp.accounts.change_password(
        signed_in.account.id, reset.password, "new password 1", keep_session=signed_in.token
    )
    assert not changed.must_change_password
    assert tp.accounts.session(signed_in.token) is not None  # the browser that changed it
    assert tp.accounts.session(other.token) is None  # every other one ends
    assert tp.accounts.sign_in("amy@x.cn", "new password 1")


def test_one_address_failing_often_is_held_back(tp: Tillpoint, clock: FixedClock) -> None:
    tp.accounts.create(name="Amy", roles=ADMIN, actor="t", email="amy@x.cn", password=PASSWORD)
    for n in range(ADDRESS_FAILURES):
        with pytest.raises(Refused):
            tp.accounts.sign_in(f"nobody{n}@x.cn", PASSWORD, "203.0.113.9")
    with pytest.raises(Refused) as e:
        tp.accounts.sign_in("amy@x.cn", PASSWORD, "203.0.113.9")  # the right password
    assert e.value.code == "account.throttled"
    assert tp.accounts.sign_in("amy@x.cn", PASSWORD, "198.51.100.1")  # another address
    assert tp.accounts.get("amy@x.cn").status is AccountStatus.ACTIVE  # not amy's fault
    clock.advance(ADDRESS_WINDOW)
    assert tp.accounts.sign_in("amy@x.cn", PASSWORD, "203.0.113.9")


def test_sessions_end_when_idle_or_old(tp: Tillpoint, clock: FixedClock) -> None:
    tp.accounts.create(name="Amy", roles=ADMIN, actor="t", email="amy@x.cn", password=PASSWORD)
    idle = tp.accounts.sign_in("amy@x.cn", PASSWORD)
    busy = tp.accounts.sign_in("amy@x.cn", PASSWORD)
    clock.advance(SESSION_IDLE - timedelta(seconds=1))
    assert tp.accounts.session(busy.token) is not None  # used: its idle time starts again
    clock.advance(timedelta(seconds=1))
    assert tp.accounts.session(idle.token) is None
    assert tp.accounts.session(busy.token) is not None
    while clock.now() - busy.expires_at < timedelta(0):
        assert tp.accounts.session(busy.token) is not None
        clock.advance(SESSION_IDLE - timedelta(minutes=1))
    assert clock.now() >= busy.expires_at
    assert busy.expires_at - SESSION_MAX < clock.now()
    assert tp.accounts.session(busy.token) is None
