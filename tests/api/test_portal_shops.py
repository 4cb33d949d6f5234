"""The portal's shops and terminals, their operators, the merchant's people and its
requests for another terminal: owners and managers only, each merchant's own only (a
terminal or account of another merchant is not found), no operator's password on any
page or in the audit log, and a request the fleet team fulfils from the console."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import CSRF
from tests.api.test_console_merchants import PASSWORD, as_role
from tillpoint.access.models import AccountRole, AccountStatus, AuditRecord
from tillpoint.demo import DEMO_PASSWORD, DEMO_SUPERVISOR_PASSWORD, demo_owner
from tillpoint.terminals.models import TerminalOrderState, TerminalStatus

OPERATOR_PASSWORD = "4826"
NEW_OPERATOR_PASSWORD = "7391"


def portal_sign_in(api: ApiEnv, login: str, password: str) -> httpx.Response:
    api.client.cookies.clear()
    form = api.client.get("/portal/sign-in?lang=en")
    token = CSRF.search(form.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "login": login, "password": password}
    return api.client.post("/portal/sign-in", data=data, follow_redirects=False)


def csrf(api: ApiEnv) -> str:
    found = CSRF.search(api.client.get("/portal/password").text)
    assert found is not None
    return found.group(1)


def post(api: ApiEnv, path: str, **fields: str) -> httpx.Response:
    data = {"csrf_token": csrf(api), **fields}
    return api.client.post(path, data=data, follow_redirects=False)


def after(api: ApiEnv, response: httpx.Response) -> str:
    """The page a post redirected to, with its one-time message."""
    assert response.status_code == 303, response.text
    return api.client.get(response.headers["location"] + "?lang=en").text


def person(api: ApiEnv, role: AccountRole, mid: str, shop: int | None = None) -> str:
    """A person of merchant ``mid`` holding ``role``; their login (password PASSWORD)."""
    login = f"{role.value}-{mid[-4:]}@merchant.test"
    api.tp.accounts.create(name=f"{role.value} {mid[-4:]}", roles={role}, actor="test",
                           email=login, merchant_ref=mid, shop_number=shop,
                           password=PASSWORD)  # fmt: skip
    return login


def as_owner(api: ApiEnv) -> None:
    assert portal_sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303


def as_manager(api: ApiEnv) -> None:
    assert portal_sign_in(api, person(api, AccountRole.MANAGER, api.mid_a), PASSWORD).status_code == 303  # fmt: skip


def audited(api: ApiEnv) -> list[AuditRecord]:
    with api.tp.ctx.db.read() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))


@pytest.mark.parametrize("signed_in", [as_owner, as_manager])
def test_owners_and_managers_see_their_shops_and_terminals(api: ApiEnv, signed_in: object) -> None:
    signed_in(api)  # type: ignore[operator]
    shops = api.client.get("/portal/shops?lang=en")
    assert shops.status_code == 200
    a = api.tp.merchants.get(api.mid_a)
    assert f"Shop 1 · {a.shops[0].name}" in shops.text and a.shops[0].address in shops.text
    assert f'href="/portal/terminals/{api.tid_a}"' in shops.text
    assert api.tid_b not in shops.text
    assert api.tp.terminals.get(api.tid_a).serial_no in shops.text
    assert ">Never<" in shops.text  # no sign-on yet
    assert 'aria-current="page">Shops and terminals</a>' in shops.text
    # A manager opens no shop; an owner may.
    opens = 'action="/portal/shops/add"' in shops.text
    assert opens is (signed_in is as_owner)


def test_a_terminal_page_shows_no_key_and_no_password(api: ApiEnv) -> None:
    as_owner(api)
    one = api.client.get(f"/portal/terminals/{api.tid_a}?lang=en")
    assert one.status_code == 200
    t = api.tp.terminals.get(api.tid_a)
    assert f"Terminal {api.tid_a}" in one.text and t.serial_no in one.text
    assert (
        "<strong>00</strong> Supervisor" in one.text and "<strong>001</strong> Operator" in one.text
    )
    assert t.tmk_kcv not in one.text and DEMO_SUPERVISOR_PASSWORD not in one.text
    assert "argon2" not in one.text
    assert f'action="/portal/terminals/{api.tid_a}/operators/00/remove"' not in one.text


@pytest.mark.parametrize("signed_in", [as_owner, as_manager])
def test_operators_are_added_changed_and_removed(api: ApiEnv, signed_in: object) -> None:
    signed_in(api)  # type: ignore[operator]
    base = f"/portal/terminals/{api.tid_a}/operators"
    shown: list[str] = []

    def act(path: str, **fields: str) -> str:
        text = after(api, post(api, path, **fields))
        shown.append(text)
        return text

    # Bad input says why and changes nothing.
    assert "001-999" in act(base, code="1", password=OPERATOR_PASSWORD)
    assert "exactly 4 digits" in act(base, code="002", password="12")
    assert "already has operator 001" in act(base, code="001", password=OPERATOR_PASSWORD)
    assert [o.code for o in api.tp.terminals.list_operators(api.tid_a)] == ["00", "001"]

    added = act(base, code="002", name="王五 Wang Wu", password=OPERATOR_PASSWORD)
    assert "Operator 002 added" in added and "王五 Wang Wu" in added
    assert api.tp.terminals.verify_operator(api.tid_a, "002", OPERATOR_PASSWORD)

    # Five wrong passwords lock it; a new password unlocks it.
    for _ in range(5):
        api.tp.terminals.verify_operator(api.tid_a, "002", "0000")
    assert "locked" in api.client.get(f"/portal/terminals/{api.tid_a}?lang=en").text
    changed = act(f"{base}/002/password", password=NEW_OPERATOR_PASSWORD)
    assert "Operator 002 has a new password" in changed
    assert api.tp.terminals.verify_operator(api.tid_a, "002", NEW_OPERATOR_PASSWORD)
    assert "exactly 6 digits" in act(f"{base}/00/password", password="1234")
    assert "has no operator 777" in act(f"{base}/777/password", password="1234")

    assert "cannot be removed" in act(f"{base}/00/remove")
    assert "Operator 002 removed." in act(f"{base}/002/remove")
    assert [o.code for o in api.tp.terminals.list_operators(api.tid_a)] == ["00", "001"]
    assert post(api, f"{base}/001/rename").status_code == 404

    # No password on any page, nor in the audit log; each change and refusal is there.
    for text in shown:
        assert OPERATOR_PASSWORD not in text and NEW_OPERATOR_PASSWORD not in text
    records = [r for r in audited(api) if r.action.startswith("console operator")]
    assert {r.action for r in records} == {
        "console operator added", "console operator password changed", "console operator removed",
    }  # fmt: skip
    assert all(r.merchant_id == api.merchant_id(api.mid_a) for r in records)
    assert any(r.status_code == 409 for r in records)  # the refusals are kept too
    for r in records:
        assert OPERATOR_PASSWORD not in str(r.detail) and NEW_OPERATOR_PASSWORD not in str(r.detail)


def test_another_merchants_terminal_is_not_found(api: ApiEnv) -> None:
    as_owner(api)
    theirs = api.client.get(f"/portal/terminals/{api.tid_b}?lang=en")
    nobodys = api.client.get("/portal/terminals/29999999?lang=en")
    assert theirs.status_code == nobodys.status_code == 404
    assert theirs.text.replace(api.tid_b, "X") == nobodys.text.replace("29999999", "X")
    base = f"/portal/terminals/{api.tid_b}/operators"
    before = api.tp.terminals.list_operators(api.tid_b)
    for path, fields in ((base, {"code": "005", "password": "1234"}),
                         (f"{base}/001/password", {"password": "1234"}),
                         (f"{base}/001/remove", {})):  # fmt: skip
        refused = post(api, path, **fields)
        assert refused.status_code == 404, path
        assert api.tp.terminals.get(api.tid_b).mid not in refused.text
    assert api.tp.terminals.list_operators(api.tid_b) == before
    assert api.client.get("/portal/terminals/x?lang=en").status_code == 400  # no TID at all


def test_a_cashier_is_refused_all_of_it(api: ApiEnv) -> None:
    cashier = person(api, AccountRole.CASHIER, api.mid_a, shop=1)
    manager = api.tp.accounts.get(person(api, AccountRole.MANAGER, api.mid_a))
    assert portal_sign_in(api, cashier, PASSWORD).status_code == 303
    for path in ("/portal/shops", f"/portal/terminals/{api.tid_a}", "/portal/people",
                 f"/portal/people/{manager.id}"):  # fmt: skip
        assert api.client.get(path, follow_redirects=False).status_code == 403, path
    for path, fields in (
        (f"/portal/terminals/{api.tid_a}/operators", {"code": "005", "password": "1234"}),
        (f"/portal/terminals/{api.tid_a}/operators/001/remove", {}),
        ("/portal/shops/terminal-requests", {"shop": "1"}),
        ("/portal/shops/add", {"name": "Mine", "address": "Somewhere 1"}),
        ("/portal/people", {"name": "X", "login": "x@merchant.test", "role": "cashier",
                            "shop": "1"}),
        (f"/portal/people/{manager.id}/lock", {}),
    ):  # fmt: skip
        assert post(api, path, **fields).status_code == 403, path
    assert [o.code for o in api.tp.terminals.list_operators(api.tid_a)] == ["00", "001"]
    assert api.tp.terminal_orders.for_merchant(api.merchant_id(api.mid_a)) == []
    assert api.tp.accounts.get(str(manager.id)).status is AccountStatus.ACTIVE
    # Its menu: no shops.
    home = api.client.get("/portal?lang=en").text
    assert 'href="/portal/shops"' not in home


def test_an_owner_adds_a_cashier_who_changes_the_password_first(api: ApiEnv) -> None:
    as_owner(api)
    listed = api.client.get("/portal/people?lang=en")
    assert listed.status_code == 200 and demo_owner(1) in listed.text
    assert demo_owner(2) not in listed.text  # another merchant's people are not listed

    # Bad input: the form again with why, nothing made.
    count = len(api.tp.accounts.people(api.merchant_id(api.mid_a)))
    for fields, why in (
        ({"role": "owner", "shop": "1"}, "Choose a cashier or a manager"),
        ({"role": "cashier", "shop": ""}, "Choose the cashier&#39;s shop"),
        ({"role": "cashier", "shop": "9"}, "No shop 9"),
        ({"role": "cashier", "shop": "1", "login": "not-an-address"}, "not a mobile number"),
    ):  # fmt: skip
        data = {"name": "小李 Xiao Li", "login": "xiaoli@merchant.test", **fields}
        refused = post(api, "/portal/people", **data)
        assert refused.status_code == 400 and why in refused.text, why
        assert 'value="小李 Xiao Li"' in refused.text  # what was typed stays
    assert len(api.tp.accounts.people(api.merchant_id(api.mid_a))) == count

    made = post(api, "/portal/people", name="小李 Xiao Li", login="xiaoli@merchant.test",
                role="cashier", shop="1")  # fmt: skip
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    found = re.search(r'id="made-password">([^<]+)<', made.text)
    assert found is not None and "shown once" in made.text
    password = found.group(1)
    cashier = api.tp.accounts.get("xiaoli@merchant.test")
    assert cashier.roles == (AccountRole.CASHIER,) and cashier.must_change_password
    assert cashier.merchant_id == api.merchant_id(api.mid_a)
    assert cashier.shop_id == api.tp.merchants.get(api.mid_a).shops[0].id
    shown = api.client.get(f"/portal/people/{cashier.id}?lang=en").text
    assert password not in shown and "to be changed at the next sign-in" in shown

    # The cashier signs in and must choose a password before anything else.
    signed = portal_sign_in(api, "xiaoli@merchant.test", password)
    assert signed.headers["location"] == "/portal/password"
    assert (
        api.client.get("/portal", follow_redirects=False).headers["location"] == "/portal/password"
    )
    changed = post(api, "/portal/password", current=password, new="xiao li's own password")
    assert changed.headers["location"] == "/portal"
    home = api.client.get("/portal?lang=en")
    assert home.status_code == 200
    menu = re.findall(r'<li><a href="(/portal[^"]*)"', home.text)
    assert menu == ["/portal", "/portal/payments", "/portal/reports", "/portal/password"]


def test_an_owner_resets_locks_and_unlocks_its_own_people_only(api: ApiEnv) -> None:
    manager = api.tp.accounts.get(person(api, AccountRole.MANAGER, api.mid_a))
    theirs = api.tp.accounts.get(person(api, AccountRole.CASHIER, api.mid_b, shop=1))
    owner_b = api.tp.accounts.get(demo_owner(2))
    admin = api.tp.accounts.list(role=AccountRole.ADMIN)[0]
    as_owner(api)
    me = api.tp.accounts.get(demo_owner(1))

    # Another merchant's people and staff: no such account, and nothing changes.
    for other in (theirs, owner_b, admin):
        assert api.client.get(f"/portal/people/{other.id}").status_code == 404
        for action in ("lock", "password"):
            refused = post(api, f"/portal/people/{other.id}/{action}")
            assert refused.status_code == 404, (other.login, action)
            assert other.login not in refused.text
        again = api.tp.accounts.get(str(other.id))
        assert again.status is AccountStatus.ACTIVE and not again.must_change_password
    # An owner's account (its own too) is the acquirer's to manage.
    page = api.client.get(f"/portal/people/{me.id}?lang=en").text
    assert f'action="/portal/people/{me.id}/lock"' not in page
    assert "managed by the acquirer" in after(api, post(api, f"/portal/people/{me.id}/lock"))
    assert api.tp.accounts.get(str(me.id)).status is AccountStatus.ACTIVE

    # Its manager: locked, unlocked, a new password shown once.
    base = f"/portal/people/{manager.id}"
    assert "Account locked" in after(api, post(api, f"{base}/lock"))
    assert api.tp.accounts.get(str(manager.id)).status is AccountStatus.LOCKED
    assert "Account unlocked." in after(api, post(api, f"{base}/unlock"))
    assert api.tp.accounts.get(str(manager.id)).status is AccountStatus.ACTIVE
    reset = post(api, f"{base}/password")
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    found = re.search(r'id="made-password">([^<]+)<', reset.text)
    assert found is not None
    assert portal_sign_in(api, manager.login, found.group(1)).headers["location"] == "/portal/password"  # fmt: skip


def test_a_manager_sees_people_but_changes_none(api: ApiEnv) -> None:
    cashier = api.tp.accounts.get(person(api, AccountRole.CASHIER, api.mid_a, shop=1))
    as_manager(api)
    listed = api.client.get("/portal/people?lang=en")
    assert listed.status_code == 200 and cashier.login in listed.text
    assert 'action="/portal/people"' not in listed.text
    one = api.client.get(f"/portal/people/{cashier.id}?lang=en")
    assert one.status_code == 200 and "/lock" not in one.text
    made = post(api, "/portal/people", name="X", login="x@merchant.test", role="cashier", shop="1")
    assert made.status_code == 403
    for action in ("lock", "password", "unlock"):
        assert post(api, f"/portal/people/{cashier.id}/{action}").status_code == 403
    assert api.tp.accounts.get(str(cashier.id)).status is AccountStatus.ACTIVE
    assert post(api, "/portal/shops/add", name="Mine", address="Somewhere 1").status_code == 403


def test_an_owner_opens_a_shop(api: ApiEnv) -> None:
    as_owner(api)
    assert "4-300" in after(api, post(api, "/portal/shops/add", name="二号店", address="x"))
    opened = after(api, post(api, "/portal/shops/add", name="二号店 Shop 2",
                             address="上海市徐汇区漕溪路2号"))  # fmt: skip
    assert "Shop 2 (二号店 Shop 2) opened." in opened and "No terminal at this shop." in opened
    assert [s.number for s in api.tp.merchants.get(api.mid_a).shops] == [1, 2]
    assert any(r.action == "console shop opened" for r in audited(api))


def test_a_terminal_request_is_fulfilled_in_the_console(api: ApiEnv) -> None:
    as_owner(api)
    merchant_id = api.merchant_id(api.mid_a)
    assert "Choose" not in after(api, post(api, "/portal/shops/terminal-requests", shop="1",
                                           note="for the second till"))  # fmt: skip
    (order,) = api.tp.terminal_orders.for_merchant(merchant_id)
    assert (order.state, order.note) == (TerminalOrderState.REQUESTED, "for the second till")
    shops = api.client.get("/portal/shops?lang=en").text
    assert ">Requested<" in shops and "it has 1, and 1 more requested" in shops
    assert "whole number" in after(api, post(api, "/portal/shops/terminal-requests", shop="x"))

    # The fleet team sees it, refuses a wrong TID, then fulfils it from stock.
    as_role(api, AccountRole.FLEET)
    fleet = api.client.get("/console/terminals?lang=en").text
    assert f'action="/console/terminals/requests/{order.id}/fulfil"' in fleet
    assert "for the second till" in fleet
    wrong = after(api, post_console(api, f"/console/terminals/requests/{order.id}/fulfil",
                                    tid=api.tid_b, supervisor_password="246810"))  # fmt: skip
    assert "bound to merchant" in wrong
    tid = api.tp.terminals.add("SN-PORTAL-01", "P300", "test").terminal.tid
    done = after(api, post_console(api, f"/console/terminals/requests/{order.id}/fulfil",
                                   tid=tid, supervisor_password="246810", note="SF 123"))  # fmt: skip
    assert f"Request {order.id} fulfilled: terminal {tid} bound to merchant {api.mid_a}" in done
    assert "246810" not in done
    assert f'action="/console/terminals/requests/{order.id}/fulfil"' not in done
    assert api.tp.terminal_orders.get(order.id).state is TerminalOrderState.FULFILLED
    t = api.tp.terminals.get(tid)
    assert (t.status, t.mid, t.shop_number) == (TerminalStatus.BOUND, api.mid_a, 1)
    records = [r for r in audited(api) if r.action.startswith("console terminal request")]
    assert [(r.action, r.status_code) for r in records][-2:] == [
        ("console terminal request fulfil", 409), ("console terminal request fulfil", 200),
    ]  # fmt: skip

    # The owner sees it fulfilled, and the new terminal; another request is declined.
    as_owner(api)
    shops = api.client.get("/portal/shops?lang=en").text
    assert ">Fulfilled<" in shops and f'href="/portal/terminals/{tid}"' in shops
    after(api, post(api, "/portal/shops/terminal-requests", shop="1"))
    second = api.tp.terminal_orders.for_merchant(merchant_id)[0]
    as_role(api, AccountRole.FLEET)
    assert "reason is required" in after(api, post_console(
        api, f"/console/terminals/requests/{second.id}/decline", reason=""))  # fmt: skip
    after(api, post_console(api, f"/console/terminals/requests/{second.id}/decline",
                            reason="one more next month"))  # fmt: skip
    as_owner(api)
    shops = api.client.get("/portal/shops?lang=en").text
    assert ">Declined<" in shops and "one more next month" in shops


def test_a_personal_merchants_limit_is_said_on_the_page(api: ApiEnv) -> None:
    api.tp.merchants.set_max_terminals(api.mid_a, 1, "test")  # it has its one terminal
    as_owner(api)
    shops = api.client.get("/portal/shops?lang=en").text
    assert "You are at your limit" in shops
    assert 'action="/portal/shops/terminal-requests"' not in shops
    refused = after(api, post(api, "/portal/shops/terminal-requests", shop="1"))
    assert "may have at most 1 terminal(s): this one has 1 and 0 more requested" in refused
    assert api.tp.terminal_orders.for_merchant(api.merchant_id(api.mid_a)) == []


def post_console(api: ApiEnv, path: str, **fields: str) -> httpx.Response:
    found = CSRF.search(api.client.get("/console").text)
    assert found is not None
    return api.client.post(path, data={"csrf_token": found.group(1), **fields},
                           follow_redirects=False)  # fmt: skip
