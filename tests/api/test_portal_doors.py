"""Every door of the merchant portal, found from the application's own routes (a page
added tomorrow is checked too): a browser not signed in is sent to the portal's sign-in,
staff are refused, each merchant role opens exactly the menu areas that name it, no
change is made without the session's CSRF token, and a merchant's user reaches nothing
of another merchant by any address: every door, given another merchant's objects, is
403 or 404 and shows none of its data."""

from __future__ import annotations

import re
from collections.abc import Callable

import fastapi.routing
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import sign_in
from tests.api.test_portal_home import portal_sign_in
from tests.api.test_webhooks import pay
from tillpoint.access.models import AccountRole, Role
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_mid, demo_owner, demo_tid
from tillpoint.notify.webhooks import WebhookService
from tillpoint.store.catalogue import ProductIn
from tillpoint.web.page import P_HOME, P_PASSWORD, PORTAL_AREAS

# The ways in and out, open to anyone (each checks what it needs itself).
OPEN_DOORS = ("/portal/sign-in", "/portal/sign-in/code", "/portal/sign-out", "/portal/sign-up")
STREAMS = ("/portal/feed",)  # answers for an hour: not a page
MENU = re.compile(r'<nav class="nav".*?</nav>', re.S)
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
PASSWORD = "a long password 1"
MERCHANT_ROLES = (AccountRole.OWNER, AccountRole.MANAGER, AccountRole.CASHIER)


def portal_routes(api: ApiEnv, sample: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(method, path with sample values) of every portal route but the ways in and out."""
    found = []
    for route in fastapi.routing.iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        path, methods = route.path, route.methods
        if not methods or not path.startswith("/portal") or path in OPEN_DOORS:
            continue
        path = PARAM.sub(lambda m: (sample or {}).get(m.group(1), "1"), path)
        found += [(method, path) for method in sorted(methods) if method != "HEAD"]
    return found


def person(api: ApiEnv, role: AccountRole, mid: str | None = None) -> str:
    """A signed-in person of demo merchant 1 (or ``mid``) holding ``role``."""
    login = f"{role.value}@merchant.test"
    api.tp.accounts.create(name=role.value, roles={role}, actor="test", email=login,
                           password=PASSWORD, merchant_ref=mid or demo_mid(1),
                           shop_number=1 if role is AccountRole.CASHIER else None)  # fmt: skip
    assert portal_sign_in(api, login, PASSWORD).status_code == 303
    return login


def test_there_are_doors_to_check(api: ApiEnv) -> None:
    routes = portal_routes(api)
    assert ("GET", "/portal") in routes and ("POST", "/portal/password") in routes


def test_not_signed_in_every_door_leads_to_the_portals_sign_in(api: ApiEnv) -> None:
    for method, path in portal_routes(api):
        answer = api.client.request(method, path, follow_redirects=False)
        assert answer.status_code == 303, (method, path, answer.status_code)
        assert answer.headers["location"].startswith("/portal/sign-in?next="), (method, path)


def test_staff_are_refused_at_every_door(api: ApiEnv) -> None:
    assert sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    for method, path in portal_routes(api):
        answer = api.client.request(method, path, follow_redirects=False)
        assert answer.status_code == 403, (method, path, answer.status_code)


@pytest.mark.parametrize("role", MERCHANT_ROLES, ids=lambda r: r.value)
def test_each_role_opens_its_areas_and_no_other(api: ApiEnv, role: AccountRole) -> None:
    person(api, role)
    menu = MENU.search(api.client.get("/portal?lang=en").text)
    assert menu is not None
    for area in PORTAL_AREAS:
        answer = api.client.get(area.href, follow_redirects=False)
        expected = 200 if (not area.roles or role in area.roles) else 403
        assert answer.status_code == expected, (role, area.href, answer.status_code)
        in_menu = f'href="{area.href}"' in menu.group(0)
        assert in_menu == (expected == 200) or area in (P_HOME, P_PASSWORD), (role, area.href)


def test_a_change_without_its_csrf_token_is_refused(api: ApiEnv) -> None:
    """Signed in as the owner, who may do the most: every POST without the session's
    token is 403, and nothing changes."""
    assert portal_sign_in(api, demo_owner(1)).status_code == 303
    posts = [p for m, p in portal_routes(api) if m == "POST"]
    assert posts
    for path in posts:
        answer = api.client.post(path, data={"reason": "x"}, follow_redirects=False)
        assert answer.status_code == 403, (path, answer.status_code)


def merchant_one_objects(api: ApiEnv) -> dict[str, str]:
    """Sample values for every path parameter, each naming an object of demo merchant 1
    (made here when needed)."""
    payment = pay(api, demo_mid(1))
    sample = {"mid": demo_mid(1), "tid": demo_tid(1), "payment_id": str(payment),
              "id": str(payment), "day": api.tp.days.open_date().isoformat()}  # fmt: skip
    for make in OBJECT_MAKERS:
        sample.update(make(api))
    return sample


def merchant_one_people_and_keys(api: ApiEnv) -> dict[str, str]:
    owner = api.tp.accounts.get(demo_owner(1))
    key = api.tp.access.create_key(Role.MERCHANT_OWNER, "door test", "test",
                                   merchant_ref=demo_mid(1))  # fmt: skip
    endpoint = WebhookService(api.tp.ctx).create_endpoint(demo_mid(1), "http://127.0.0.1:9/hook")
    return {"account_id": str(owner.id), "key_id": str(key.key.id),
            "endpoint_id": str(endpoint.id), "code": "00", "fmt": "pdf"}  # fmt: skip


def merchant_one_product(api: ApiEnv) -> dict[str, str]:
    product = api.tp.catalogue.create(api.merchant_id(demo_mid(1)), ProductIn(
        sku="M1-COLA", name="一号的可乐", price_minor=350, category="一号的饮料"))  # fmt: skip
    return {"product_id": str(product.id), "category_id": str(product.category_id)}


def merchant_one_stock(api: ApiEnv) -> dict[str, str]:
    """A transfer of demo merchant 1's between its two shops, and a count."""
    from tests.api.test_stock import products
    from tillpoint.store.models import SoldBy
    from tillpoint.store.stock import Line

    merchant_id = api.merchant_id(demo_mid(1))
    api.tp.merchants.add_shop(demo_mid(1), "二店 Second", "上海市南京西路2号", "test")
    (product,) = products(api, demo_mid(1), ("DOOR-1", SoldBy.PIECE, 100))
    api.tp.stock.book_receipt(merchant_id, 1, "S", [Line(product, "5")], "test")
    transfer = api.tp.stock.send(merchant_id, 1, 2, [Line(product, "2")], "test")
    count = api.tp.stock.open_count(merchant_id, 1, "test")
    return {"transfer_id": str(transfer.id), "count_id": str(count.id)}


def merchant_one_member(api: ApiEnv) -> dict[str, str]:
    from tillpoint.store.coupons import CouponValue
    from tillpoint.store.member_models import Channel, CouponKind
    from tillpoint.store.members import MemberIn

    merchant = api.merchant_id(demo_mid(1))
    member = api.tp.members.sign_up(merchant, MemberIn("13900009999", consent_membership=True,
                                                       name=api.tp.merchants.get(demo_mid(1))
                                                       .display_name),
                                    channel=Channel.TILL, by="test")  # fmt: skip
    value = CouponValue("一号的券", CouponKind.AMOUNT, 100)
    template = api.tp.coupons.create_template(merchant, value)
    (coupon,) = api.tp.coupons.issue(merchant, template_id=template.id, member_id=member.id,
                                     by="test")  # fmt: skip
    return {"member_id": str(member.id), "template_id": str(template.id),
            "coupon_id": str(coupon.id)}  # fmt: skip


# Each area that names its own objects in its addresses adds a maker here: a function
# that makes one of demo merchant 1's and returns {parameter: value}.
OBJECT_MAKERS: list[Callable[[ApiEnv], dict[str, str]]] = [
    merchant_one_people_and_keys,
    merchant_one_product,
    merchant_one_stock,
    merchant_one_member,
]


@pytest.mark.parametrize("role", MERCHANT_ROLES, ids=lambda r: r.value)
def test_another_merchants_objects_are_out_of_reach(api: ApiEnv, role: AccountRole) -> None:
    """Signed in as merchant 2's people, every portal address naming merchant 1's
    objects (a payment, a terminal, a day, a document, a key...) is 403 or 404, or a
    page of merchant 2's own that names nothing of merchant 1."""
    sample = merchant_one_objects(api)
    person(api, role, demo_mid(2))
    # What would give merchant 1 away (an address may echo the number it was given:
    # "No terminal 10000001" says nothing that was not typed).
    payment = api.services.online.get(int(sample["payment_id"]))
    foreign = (
        api.tp.merchants.get(demo_mid(1)).display_name,
        api.tp.terminals.get(demo_tid(1)).serial_no,
        payment.rrn,
    )
    assert all(foreign)
    for method, path in portal_routes(api, sample):
        if path in STREAMS:
            continue
        if method == "GET":
            answer = api.client.get(path, follow_redirects=False)
        else:
            token = re.search(r'name="csrf_token" value="([^"]+)"', api.client.get("/portal").text)
            assert token is not None
            answer = api.client.post(path, data={"csrf_token": token.group(1)},
                                     follow_redirects=False)  # fmt: skip
        assert answer.status_code in (200, 303, 400, 403, 404, 422), (
            method,
            path,
            answer.status_code,
        )
        if answer.status_code == 303:
            assert answer.headers["location"].startswith("/portal"), (method, path)
        assert not any(x in answer.text for x in foreign), (method, path)


def test_every_portal_page_carries_the_security_headers(api: ApiEnv) -> None:
    """The portal's pages, its sign-in among them, are framed by nobody, sniffed by no
    browser, kept by no cache and load nothing from another site."""
    assert portal_sign_in(api, demo_owner(1)).status_code == 303
    for path in ("/portal/sign-in", "/portal", "/portal/password", "/portal/settlements"):
        headers = api.client.get(path).headers
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert "no-store" in headers["cache-control"], path
