"""Every door of the console, found from the application's own routes (so a page added
tomorrow is checked too): a browser not signed in is sent to sign in, a merchant's user
is refused everywhere, each staff role opens exactly the menu areas that name it, and
no change is made without the session's CSRF token."""

from __future__ import annotations

import re

import fastapi.routing
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import sign_in
from tillpoint.access.models import AccountRole
from tillpoint.demo import DEMO_PASSWORD, demo_mid, demo_owner, demo_tid
from tillpoint.web.page import AREAS, HOME, PASSWORD

STAFF_ROLES = (AccountRole.REVIEWER, AccountRole.FLEET, AccountRole.RISK, AccountRole.FINANCE)
OPEN_DOORS = ("/console/sign-in", "/console/sign-in/code", "/console/sign-out")  # in, out
SAMPLE = {"mid": demo_mid(1), "ref": demo_mid(1), "tid": demo_tid(1), "day": "2026-12-01",
          "date": "2026-12-01", "move": "suspend", "action": "freeze"}  # fmt: skip
STREAMS = ("/console/feed",)  # answers for an hour: not a page
MENU = re.compile(r'<nav class="nav".*?</nav>', re.S)
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def console_routes(api: ApiEnv) -> list[tuple[str, str]]:
    """(method, path with sample values) of every console route but the ways in and out."""
    found = []
    for route in fastapi.routing.iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        path, methods = route.path, route.methods
        if not methods or not path.startswith("/console") or path in OPEN_DOORS:
            continue  # a mount (the static files), the REST API, the ways in and out
        path = PARAM.sub(lambda m: SAMPLE.get(m.group(1), "1"), path)
        found += [(method, path) for method in sorted(methods) if method != "HEAD"]
    return found


def test_there_are_doors_to_check(api: ApiEnv) -> None:
    routes = console_routes(api)
    assert ("GET", "/console") in routes and ("POST", "/console/password") in routes


def test_not_signed_in_every_door_leads_to_sign_in(api: ApiEnv) -> None:
    for method, path in console_routes(api):
        answer = api.client.request(method, path, follow_redirects=False)
        assert answer.status_code == 303, (method, path, answer.status_code)
        assert answer.headers["location"].startswith("/console/sign-in?next="), (method, path)


def test_a_merchant_user_is_refused_at_every_door(api: ApiEnv) -> None:
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    for method, path in console_routes(api):
        answer = api.client.request(method, path, follow_redirects=False)
        assert answer.status_code == 403, (method, path, answer.status_code)


@pytest.mark.parametrize("role", STAFF_ROLES, ids=lambda r: r.value)
def test_each_role_opens_its_areas_and_no_other(api: ApiEnv, role: AccountRole) -> None:
    login = f"{role.value}@acquirer.cn"
    api.tp.accounts.create(name=role.value, roles={role}, actor="test", email=login,
                           password="a long password 1")  # fmt: skip
    assert sign_in(api, login, "a long password 1").status_code == 303
    menu = MENU.search(api.client.get("/console?lang=en").text)
    assert menu is not None
    for area in AREAS:
        answer = api.client.get(area.href, follow_redirects=False)
        expected = 200 if (not area.roles or role in area.roles) else 403
        assert answer.status_code == expected, (role, area.href, answer.status_code)
        in_menu = f'href="{area.href}"' in menu.group(0)
        assert in_menu == (expected == 200) or area in (HOME, PASSWORD), (role, area.href)


def test_a_change_without_its_csrf_token_is_refused(api: ApiEnv) -> None:
    """Signed in as an admin, who may do everything: every POST without the session's
    token is 403."""
    assert sign_in(api, "admin@demo.test", DEMO_PASSWORD).status_code == 303
    posts = [p for m, p in console_routes(api) if m == "POST"]
    assert posts
    for path in posts:
        answer = api.client.post(path, data={"reason": "x"}, follow_redirects=False)
        assert answer.status_code == 403, (path, answer.status_code)


@pytest.mark.parametrize("position", ["99999999999999999999", "¹", "-1", "1" * 5000])
def test_lists_take_any_position_in_their_address(api: ApiEnv, position: str) -> None:
    """A list's keyset position from the address is only ever a number of the ids'
    range: a huge one, a superscript digit or a negative one shows a page, never a 500
    (PostgreSQL refuses to compare a 32-bit id with a larger number)."""
    assert sign_in(api, "admin@demo.test", DEMO_PASSWORD).status_code == 303
    lists = [p for m, p in console_routes(api)
             if m == "GET" and p.count("/") <= 2 and p not in STREAMS]  # fmt: skip
    for path in lists:
        answer = api.client.get(f"{path}?after={position}&before={position}&q={position[:50]}")
        assert answer.status_code in (200, 303), (path, answer.status_code)
